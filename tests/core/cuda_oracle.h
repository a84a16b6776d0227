// tests/core/cuda_oracle.h: the CUDA headers' float32 conversions, compiled by g++ as host code, as plain functions.
//
// Every conversion in cuda_fp8.h, cuda_fp6.h, cuda_fp4.h, cuda_bf16.h and
// cuda_fp16.h is __host__ __device__; outside nvcc it runs the headers'
// software path on the CPU (NUMERICS.md s3), so these functions are a second
// oracle, written by someone else, with the GPU's intended semantics. Each
// returns the encoding right-aligned. Build with the CUDA include directory
// as a SYSTEM directory so the headers' own warnings stay out of -Werror.
#pragma once

#include <cstdint>

#if !__has_include(<cuda_fp8.h>)
#error "cuda_oracle.h needs the CUDA headers (cuda_fp8.h etc.) on the include path"
#endif

#if defined(__CUDACC__)
#error "cuda_oracle.h is host-only: under nvcc the conversions would not run the software path"
#endif

// The headers are system headers; keep their warnings out of a -Werror build
// even if someone includes them through a plain -I.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <cuda_fp6.h>
#include <cuda_fp4.h>
#pragma GCC diagnostic pop

namespace fpscope::cuda_oracle {

// cuda_fp8.hpp __nv_cvt_float_to_fp8: RNE; SATFINITE clamps |x| > max (and inf)
// to +-max finite; NOSAT gives NaN (e4m3) or inf (e5m2). NaN -> 0x7F, sign dropped.
inline std::uint32_t e4m3_satfinite(float x) { return __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3); }
inline std::uint32_t e4m3_nosat(float x) { return __nv_cvt_float_to_fp8(x, __NV_NOSAT, __NV_E4M3); }
inline std::uint32_t e5m2_satfinite(float x) { return __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E5M2); }
inline std::uint32_t e5m2_nosat(float x) { return __nv_cvt_float_to_fp8(x, __NV_NOSAT, __NV_E5M2); }

// cuda_fp6.hpp / cuda_fp4.hpp: always saturating (OCP MX v1.0 s5.3); NaN -> +max.
inline std::uint32_t e2m3_rn(float x) { return __nv_cvt_float_to_fp6(x, __NV_E2M3, cudaRoundNearest); }
inline std::uint32_t e2m3_rz(float x) { return __nv_cvt_float_to_fp6(x, __NV_E2M3, cudaRoundZero); }
inline std::uint32_t e3m2_rn(float x) { return __nv_cvt_float_to_fp6(x, __NV_E3M2, cudaRoundNearest); }
inline std::uint32_t e3m2_rz(float x) { return __nv_cvt_float_to_fp6(x, __NV_E3M2, cudaRoundZero); }
inline std::uint32_t e2m1_rn(float x) { return __nv_cvt_float_to_fp4(x, __NV_E2M1, cudaRoundNearest); }
inline std::uint32_t e2m1_rz(float x) { return __nv_cvt_float_to_fp4(x, __NV_E2M1, cudaRoundZero); }

// cuda_fp8.h __nv_cvt_float_to_e8m0: "Input number's absolute value is rounded
// to the closest power of two in the direction specified"; results below
// 2^-127 clip to it; above 2^127: SATFINITE clips, NOSAT gives NaN (0xFF).
inline std::uint32_t e8m0_rz_satfinite(float x) { return __nv_cvt_float_to_e8m0(x, __NV_SATFINITE, cudaRoundZero); }
inline std::uint32_t e8m0_rz_nosat(float x) { return __nv_cvt_float_to_e8m0(x, __NV_NOSAT, cudaRoundZero); }
inline std::uint32_t e8m0_ru_satfinite(float x) { return __nv_cvt_float_to_e8m0(x, __NV_SATFINITE, cudaRoundPosInf); }
inline std::uint32_t e8m0_ru_nosat(float x) { return __nv_cvt_float_to_e8m0(x, __NV_NOSAT, cudaRoundPosInf); }

// cuda_bf16.hpp: IEEE rounding with overflow to inf; NaN -> 0x7FFF, sign dropped.
inline std::uint32_t bf16_rn(float x) { return __nv_bfloat16_raw(__float2bfloat16_rn(x)).x; }
inline std::uint32_t bf16_rz(float x) { return __nv_bfloat16_raw(__float2bfloat16_rz(x)).x; }
inline std::uint32_t bf16_ru(float x) { return __nv_bfloat16_raw(__float2bfloat16_ru(x)).x; }
inline std::uint32_t bf16_rd(float x) { return __nv_bfloat16_raw(__float2bfloat16_rd(x)).x; }

// cuda_fp16.hpp: IEEE rounding with overflow to inf; NaN -> 0x7FFF, sign dropped.
inline std::uint32_t fp16_rn(float x) { return __half_raw(__float2half_rn(x)).x; }
inline std::uint32_t fp16_rz(float x) { return __half_raw(__float2half_rz(x)).x; }
inline std::uint32_t fp16_ru(float x) { return __half_raw(__float2half_ru(x)).x; }
inline std::uint32_t fp16_rd(float x) { return __half_raw(__float2half_rd(x)).x; }

}  // namespace fpscope::cuda_oracle
