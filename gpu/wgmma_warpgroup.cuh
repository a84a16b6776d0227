// gpu/wgmma_warpgroup.cuh: per-warpgroup work of the tensor-core probes: one wgmma.mma_async m64n8kK tile D = A B + C (A from registers, B from shared memory).
//
// PTX ISA 9.7.15 (wgmma, sm_90a only): the instruction is issued by all 128
// threads of a warpgroup; B is read from shared memory through a matrix
// descriptor (gpu/wgmma_layout.h: K-major, no swizzle, two 8 x 16-byte core
// matrices for the 8 x 32-byte tile of every type probed). Ordering (9.7.15.2,
// 9.7.15.6): the generic-proxy stores that fill B must be made visible to the
// async proxy (fence.proxy.async) before the barrier; wgmma.fence orders the
// register writes of A and the accumulators before the instruction;
// commit_group / wait_group 0 wait until D is complete.
#pragma once

#include <cstdint>

#include "gpu/mma_warp.cuh"
#include "gpu/wgmma_layout.h"

namespace fpscope::gpu::detail {

// wgmma exists only in code compiled for sm_90a (the "a" feature set).
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define FPSCOPE_GPU_HAS_WGMMA 1
#else
#define FPSCOPE_GPU_HAS_WGMMA 0
#endif

// One tile per call by the whole warpgroup (blockDim.x == 128): a_bytes is
// 64 x K elements row-major, b_bytes 8 x K (the K-major "col" operand), c and d
// 64 x 8 floats row-major; b_shared is 256 bytes of shared memory, 16-byte
// aligned. Every thread of the block must call it (it contains barriers).
// Returns false when this device code has no wgmma (not sm_90a).
template <MmaPath kPath>
__device__ inline bool wgmma_tile(const unsigned char* a_bytes, const unsigned char* b_bytes, const float* c,
                                  float* d, unsigned char* b_shared) {
  static_assert(is_wgmma(kPath), "mma.sync paths run per warp (gpu/mma_warp.cuh)");
  using Shape = MmaShape<kPath>;
  using Tile = WgmmaProbeTile;
  static_assert(Shape::kM == Tile::kM && Shape::kK * Shape::kElementBytes == Tile::kRowBytes);
#if FPSCOPE_GPU_HAS_WGMMA
  constexpr int K = Shape::kK;
  constexpr int kWordsPerRow = Tile::kRowBytes / 4;
  const int thread = static_cast<int>(threadIdx.x);

  // The previous tile's wgmma has completed (every thread waited on it) before B is overwritten.
  __syncthreads();
  if (thread < Tile::kBBytes / 4) {
    const int n = thread / kWordsPerRow;
    const int k_byte = 4 * (thread % kWordsPerRow);
    *reinterpret_cast<std::uint32_t*>(
        b_shared + wgmma_k_major_offset(n, k_byte, Tile::kLeadingByteOffset, Tile::kStrideByteOffset)) =
        *reinterpret_cast<const std::uint32_t*>(b_bytes + n * Tile::kRowBytes + k_byte);
  }
  std::uint32_t a[Tile::kARegisters];
  for (int r = 0; r < Tile::kARegisters; ++r) {
    const MatrixCoord at = wgmma_a_fragment(thread, r * Shape::kPerRegister, Shape::kElementBytes);
    a[r] = *reinterpret_cast<const std::uint32_t*>(a_bytes + (at.row * K + at.col) * Shape::kElementBytes);
  }
  float acc[Tile::kAccumulators];
  for (int i = 0; i < Tile::kAccumulators; ++i) {
    const MatrixCoord at = wgmma_accumulator_fragment(thread, i);
    acc[i] = c[at.row * Tile::kN + at.col];
  }
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
  __syncthreads();

  WgmmaDescriptorFields b_fields;
  b_fields.start_address = static_cast<std::uint32_t>(__cvta_generic_to_shared(b_shared));
  b_fields.leading_byte_offset = Tile::kLeadingByteOffset;
  b_fields.stride_byte_offset = Tile::kStrideByteOffset;
  const std::uint64_t b_descriptor = wgmma_descriptor(b_fields);
  const int accumulate = 1;  // scale-d true: D = A B + D, with D holding C

  asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
  // Operands: d, a (registers), b-desc, scale-d, imm-scale-a, imm-scale-b
  // [, imm-trans-b for .f16/.bf16: 0 = K-major].
  if constexpr (kPath == MmaPath::wgmma_e4m3) {
    asm volatile(
        "{\n.reg .pred scale_d;\nsetp.ne.b32 scale_d, %9, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n8k32.f32.e4m3.e4m3 {%0,%1,%2,%3}, {%4,%5,%6,%7}, %8, scale_d, 1, 1;\n}\n"
        : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_descriptor), "r"(accumulate)
        : "memory");
  } else if constexpr (kPath == MmaPath::wgmma_f16) {
    asm volatile(
        "{\n.reg .pred scale_d;\nsetp.ne.b32 scale_d, %9, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16 {%0,%1,%2,%3}, {%4,%5,%6,%7}, %8, scale_d, 1, 1, 0;\n}\n"
        : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_descriptor), "r"(accumulate)
        : "memory");
  } else {
    asm volatile(
        "{\n.reg .pred scale_d;\nsetp.ne.b32 scale_d, %9, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n8k16.f32.bf16.bf16 {%0,%1,%2,%3}, {%4,%5,%6,%7}, %8, scale_d, 1, 1, 0;\n}\n"
        : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_descriptor), "r"(accumulate)
        : "memory");
  }
  asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
  asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
  // Pin the accumulators after the wait so no read of them is moved above it.
  for (int i = 0; i < Tile::kAccumulators; ++i) asm volatile("" : "+f"(acc[i])::"memory");
  for (int i = 0; i < Tile::kAccumulators; ++i) {
    const MatrixCoord at = wgmma_accumulator_fragment(thread, i);
    d[at.row * Tile::kN + at.col] = acc[i];
  }
  return true;
#else
  (void)a_bytes, (void)b_bytes, (void)c, (void)d, (void)b_shared;
  return false;
#endif
}

}  // namespace fpscope::gpu::detail
