// gpu/tensor_core_probe_kernel.cuh: the __global__ kernels of the tensor-core probes: mma.sync one warp per tile, wgmma one warpgroup (block) per tile, grid-stride over tiles.
#pragma once

#include <cstdint>

#include "gpu/mma_warp.cuh"
#include "gpu/wgmma_warpgroup.cuh"

namespace fpscope::gpu::detail {

// Tiles are stored back to back: A kM x K, B 8 x K elements, C and D kM x 8 floats.
template <MmaPath kPath>
struct TileBytes {
  using Shape = MmaShape<kPath>;
  static constexpr std::uint64_t kA = std::uint64_t{Shape::kM} * Shape::kK * Shape::kElementBytes;
  static constexpr std::uint64_t kB = std::uint64_t{8} * Shape::kK * Shape::kElementBytes;
  static constexpr std::uint64_t kCFloats = std::uint64_t{Shape::kM} * 8;
};

template <MmaPath kPath>
__global__ void mma_tiles_kernel(const unsigned char* a, const unsigned char* b, const float* c, float* d,
                                 std::uint64_t tiles, int* unsupported) {
  using Bytes = TileBytes<kPath>;
  const std::uint64_t warps_per_grid = static_cast<std::uint64_t>(gridDim.x) * (blockDim.x / 32);
  for (std::uint64_t tile = static_cast<std::uint64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
       tile < tiles; tile += warps_per_grid) {
    if (!mma_tile<kPath>(a + tile * Bytes::kA, b + tile * Bytes::kB, c + tile * Bytes::kCFloats,
                         d + tile * Bytes::kCFloats)) {
      *unsupported = 1;
      return;
    }
  }
}

// Launched with blockDim.x == WgmmaProbeTile::kThreads: the block is the
// warpgroup, so every thread runs the same number of tiles (wgmma_tile has barriers).
template <MmaPath kPath>
__global__ void __launch_bounds__(WgmmaProbeTile::kThreads)
    wgmma_tiles_kernel(const unsigned char* a, const unsigned char* b, const float* c, float* d,
                       std::uint64_t tiles, int* unsupported) {
  using Bytes = TileBytes<kPath>;
  __shared__ alignas(128) unsigned char b_shared[WgmmaProbeTile::kBBytes];
  for (std::uint64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    if (!wgmma_tile<kPath>(a + tile * Bytes::kA, b + tile * Bytes::kB, c + tile * Bytes::kCFloats,
                           d + tile * Bytes::kCFloats, b_shared)) {
      if (threadIdx.x == 0) *unsupported = 1;
      return;
    }
  }
}

}  // namespace fpscope::gpu::detail
