// gpu/conversion_ids.h: the GPU conversions the sweep knows, shared by the host list and the device switch.
#pragma once

namespace fpscope::gpu::detail {

// One id per hardware conversion (NUMERICS.md s3). The fp6/fp4/e8m0 ones exist
// in hardware only on sm_100a-family devices.
enum ConversionId : int {
  kE4m3SatfiniteRn = 0,  // cvt.rn.satfinite.e4m3x2.f32 (sm_89+)
  kE5m2SatfiniteRn,      // cvt.rn.satfinite.e5m2x2.f32 (sm_89+)
  kBf16Rn,               // __float2bfloat16_rn (cvt.rn.bf16.f32)
  kBf16Rz,               // __float2bfloat16_rz
  kBf16Rd,               // __float2bfloat16_rd
  kBf16Ru,               // __float2bfloat16_ru
  kF16Rn,                // __float2half_rn (cvt.rn.f16.f32)
  kF16Rz,                // __float2half_rz
  kF16Rd,                // __float2half_rd
  kF16Ru,                // __float2half_ru
  kE2m3SatfiniteRn,      // cvt.rn.satfinite.e2m3x2.f32 (sm_100a)
  kE3m2SatfiniteRn,      // cvt.rn.satfinite.e3m2x2.f32 (sm_100a)
  kE2m1SatfiniteRn,      // cvt.rn.satfinite.e2m1x2.f32 (sm_100a)
  kUe8m0SatfiniteRz,     // cvt.rz.satfinite.ue8m0x2.f32 (sm_100a)
  kUe8m0SatfiniteRp,     // cvt.rp.satfinite.ue8m0x2.f32 (sm_100a)
  kConversionCount,
};

constexpr bool needs_sm100a(int id) { return id >= kE2m3SatfiniteRn; }

}  // namespace fpscope::gpu::detail
