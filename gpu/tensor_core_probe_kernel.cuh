// gpu/tensor_core_probe_kernel.cuh: the __global__ kernel of the tensor-core probes: one warp per tile, grid-stride over tiles.
#pragma once

#include <cstdint>

#include "gpu/mma_warp.cuh"

namespace fpscope::gpu::detail {

template <MmaPath kPath>
__global__ void mma_tiles_kernel(const unsigned char* a, const unsigned char* b, const float* c, float* d,
                                 std::uint64_t tiles, int* unsupported) {
  using Shape = MmaShape<kPath>;
  constexpr std::uint64_t kABytes = 16 * Shape::kK * Shape::kElementBytes;
  constexpr std::uint64_t kBBytes = 8 * Shape::kK * Shape::kElementBytes;
  const std::uint64_t warps_per_grid = static_cast<std::uint64_t>(gridDim.x) * (blockDim.x / 32);
  for (std::uint64_t tile = static_cast<std::uint64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
       tile < tiles; tile += warps_per_grid) {
    if (!mma_tile<kPath>(a + tile * kABytes, b + tile * kBBytes, c + tile * 128, d + tile * 128)) {
      *unsupported = 1;
      return;
    }
  }
}

}  // namespace fpscope::gpu::detail
