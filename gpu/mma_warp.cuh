// gpu/mma_warp.cuh: per-warp work of the tensor-core probes: one mma.sync tile D = A B + C from global memory.
//
// Fragment layouts of the PTX ISA (Warp-level matrix fragments, m16n8k16 for
// .f16/.bf16 and m16n8k32 for .e4m3): lane = 4 * group + t; A is row-major
// 16 x K, B is stored as 8 rows of K (the "col" operand), C and D row-major 16 x 8.
// Each 32-bit A/B register holds E = 4 / bytes-per-element consecutive k.
#pragma once

#include <cstdint>

namespace fpscope::gpu::detail {

// The probed instruction paths: mma.sync (one warp, m16n8kK, this file) and
// wgmma.mma_async (one warpgroup, m64n8kK, gpu/wgmma_warpgroup.cuh).
enum class MmaPath : int { f16, bf16, e4m3, wgmma_f16, wgmma_bf16, wgmma_e4m3 };

constexpr bool is_wgmma(MmaPath p) {
  return p == MmaPath::wgmma_f16 || p == MmaPath::wgmma_bf16 || p == MmaPath::wgmma_e4m3;
}
constexpr bool is_fp8(MmaPath p) { return p == MmaPath::e4m3 || p == MmaPath::wgmma_e4m3; }

template <MmaPath kPath>
struct MmaShape {
  static constexpr int kM = is_wgmma(kPath) ? 64 : 16;  // rows of A, C and D; N is 8
  static constexpr int kK = is_fp8(kPath) ? 32 : 16;
  static constexpr int kElementBytes = is_fp8(kPath) ? 1 : 2;
  static constexpr int kPerRegister = 4 / kElementBytes;
};

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
#define FPSCOPE_GPU_HAS_MMA 1
#else
#define FPSCOPE_GPU_HAS_MMA 0
#endif

// One tile per call: a_bytes is 16 x K elements, b_bytes 8 x K, c and d 16 x 8 floats.
// Returns false when this device code has no such instruction.
template <MmaPath kPath>
__device__ inline bool mma_tile(const unsigned char* a_bytes, const unsigned char* b_bytes, const float* c,
                                float* d) {
  static_assert(!is_wgmma(kPath), "wgmma paths run per warpgroup (gpu/wgmma_warpgroup.cuh)");
  using Shape = MmaShape<kPath>;
  constexpr int K = Shape::kK;
  constexpr int E = Shape::kPerRegister;
  constexpr int H = K / 2;
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int g = lane / 4;
  const int t = lane % 4;
  const auto word = [](const unsigned char* base, int row, int col) {
    return *reinterpret_cast<const std::uint32_t*>(base + (row * K + col) * Shape::kElementBytes);
  };
  const std::uint32_t a0 = word(a_bytes, g, E * t);
  const std::uint32_t a1 = word(a_bytes, g + 8, E * t);
  const std::uint32_t a2 = word(a_bytes, g, E * t + H);
  const std::uint32_t a3 = word(a_bytes, g + 8, E * t + H);
  const std::uint32_t b0 = word(b_bytes, g, E * t);
  const std::uint32_t b1 = word(b_bytes, g, E * t + H);
  float c0 = c[g * 8 + 2 * t];
  float c1 = c[g * 8 + 2 * t + 1];
  float c2 = c[(g + 8) * 8 + 2 * t];
  float c3 = c[(g + 8) * 8 + 2 * t + 1];
#if FPSCOPE_GPU_HAS_MMA
  if constexpr (kPath == MmaPath::f16) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c0), "+f"(c1), "+f"(c2), "+f"(c3)
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else if constexpr (kPath == MmaPath::bf16) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c0), "+f"(c1), "+f"(c2), "+f"(c3)
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c0), "+f"(c1), "+f"(c2), "+f"(c3)
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
  d[g * 8 + 2 * t] = c0;
  d[g * 8 + 2 * t + 1] = c1;
  d[(g + 8) * 8 + 2 * t] = c2;
  d[(g + 8) * 8 + 2 * t + 1] = c3;
  return true;
#else
  (void)a0, (void)a1, (void)a2, (void)a3, (void)b0, (void)b1, (void)c0, (void)c1, (void)c2, (void)c3, (void)d;
  return false;
#endif
}

}  // namespace fpscope::gpu::detail
