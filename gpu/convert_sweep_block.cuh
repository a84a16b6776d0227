// gpu/convert_sweep_block.cuh: per-thread work of the conversion sweep: one hardware conversion and its check against encode().
//
// The reference is encode() from core/round.h compiled for the device (the same
// __host__ __device__ constexpr functions the CPU uses, STYLE.md convention 2),
// and a mismatch is sorted by classify_mismatch() from analysis/validate.h.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <bit>
#include <cstdint>

#include "analysis/validate.h"
#include "core/round.h"
#include "gpu/conversion_ids.h"

// The fp6/fp4/ue8m0 cvt instructions exist only for sm_100a-family targets (NUMERICS.md s3).
#if (defined(__CUDA_ARCH_SPECIFIC__) && __CUDA_ARCH_SPECIFIC__ >= 1000) || \
    (defined(__CUDA_ARCH_FAMILY_SPECIFIC__) && __CUDA_ARCH_FAMILY_SPECIFIC__ >= 1000)
#define FPSCOPE_GPU_HAS_SM100A_CVT 1
#else
#define FPSCOPE_GPU_HAS_SM100A_CVT 0
#endif
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
#define FPSCOPE_GPU_HAS_FP8_CVT 1
#else
#define FPSCOPE_GPU_HAS_FP8_CVT 0
#endif

namespace fpscope::gpu::detail {

// Mismatch totals of one sweep, reduced on the device.
struct SweepCounters {
  unsigned long long mismatches[kMismatchClasses];
  unsigned int examples_recorded[kMismatchClasses];
  unsigned int unsupported;  // set when this device code lacks the conversion
};

struct DeviceExample {
  std::uint32_t input;
  std::uint32_t expected;
  std::uint32_t actual;
};

// The x2 cvt instructions convert two floats; the second source lands in the low
// half of the result (PTX ISA, cvt), so x goes second and 0 first.
__device__ inline std::uint32_t hardware_convert(int id, float x, bool& supported) {
  supported = true;
  switch (id) {
#if FPSCOPE_GPU_HAS_FP8_CVT
    case kE4m3SatfiniteRn: {
      unsigned short r;
      asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(0.0f), "f"(x));
      return r & 0xFFu;
    }
    case kE5m2SatfiniteRn: {
      unsigned short r;
      asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(r) : "f"(0.0f), "f"(x));
      return r & 0xFFu;
    }
#endif
    case kBf16Rn: return __bfloat16_as_ushort(__float2bfloat16_rn(x));
    case kBf16Rz: return __bfloat16_as_ushort(__float2bfloat16_rz(x));
    case kBf16Rd: return __bfloat16_as_ushort(__float2bfloat16_rd(x));
    case kBf16Ru: return __bfloat16_as_ushort(__float2bfloat16_ru(x));
    case kF16Rn: return __half_as_ushort(__float2half_rn(x));
    case kF16Rz: return __half_as_ushort(__float2half_rz(x));
    case kF16Rd: return __half_as_ushort(__float2half_rd(x));
    case kF16Ru: return __half_as_ushort(__float2half_ru(x));
#if FPSCOPE_GPU_HAS_SM100A_CVT
    case kE2m3SatfiniteRn: {
      unsigned short r;
      asm("cvt.rn.satfinite.e2m3x2.f32 %0, %1, %2;" : "=h"(r) : "f"(0.0f), "f"(x));
      return r & 0x3Fu;  // 6 bits in the low bits of the byte
    }
    case kE3m2SatfiniteRn: {
      unsigned short r;
      asm("cvt.rn.satfinite.e3m2x2.f32 %0, %1, %2;" : "=h"(r) : "f"(0.0f), "f"(x));
      return r & 0x3Fu;
    }
    case kE2m1SatfiniteRn: {
      unsigned int r;
      asm("{\n\t.reg .b8 pair;\n\tcvt.rn.satfinite.e2m1x2.f32 pair, %1, %2;\n\tcvt.u32.u8 %0, pair;\n\t}"
          : "=r"(r)
          : "f"(0.0f), "f"(x));
      return r & 0xFu;
    }
    case kUe8m0SatfiniteRz: {
      unsigned short r;
      asm("cvt.rz.satfinite.ue8m0x2.f32 %0, %1, %2;" : "=h"(r) : "f"(0.0f), "f"(x));
      return r & 0xFFu;
    }
    case kUe8m0SatfiniteRp: {
      unsigned short r;
      asm("cvt.rp.satfinite.ue8m0x2.f32 %0, %1, %2;" : "=h"(r) : "f"(0.0f), "f"(x));
      return r & 0xFFu;
    }
#endif
    default: break;
  }
  supported = false;
  return 0;
}

// Checks one pattern; a mismatch is counted in the block's shared counters and,
// while there is room, recorded as an example (capacity per class).
__device__ inline void check_pattern(int id, std::uint32_t pattern, const Format& f, Rounding r,
                                     unsigned int* block_counts, SweepCounters* counters,
                                     DeviceExample* examples, unsigned int capacity) {
  bool supported = true;
  const std::uint32_t actual = hardware_convert(id, std::bit_cast<float>(pattern), supported);
  if (!supported) {
    counters->unsupported = 1;
    return;
  }
  const auto expected =
      static_cast<std::uint32_t>(encode(static_cast<double>(std::bit_cast<float>(pattern)), f, r).bits);
  if (expected == actual) return;
  const auto c = static_cast<int>(classify_mismatch(pattern, expected, actual, f, r));
  atomicAdd(&block_counts[c], 1u);
  const unsigned int slot = atomicAdd(&counters->examples_recorded[c], 1u);
  if (slot < capacity) examples[c * capacity + slot] = DeviceExample{pattern, expected, actual};
}

}  // namespace fpscope::gpu::detail
