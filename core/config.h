// core/config.h: portability macros shared by host and CUDA device code, and the internal assert.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define FPSCOPE_HD __host__ __device__
#define FPSCOPE_FORCEINLINE __forceinline__
#else
#define FPSCOPE_HD
#define FPSCOPE_FORCEINLINE inline __attribute__((always_inline))
#endif

// x86-64 kernels compiled for wider instruction sets than the build's baseline,
// one function per ISA, picked at run time by detail::detected_kernel_isa()
// (core/fast_paths.h): core/array.cpp, analysis/fast_stats.cpp.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define FPSCOPE_X86_KERNELS 1
#define FPSCOPE_TARGET_AVX512 \
  __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma,bmi,bmi2,popcnt")))
#define FPSCOPE_TARGET_AVX2 __attribute__((target("avx2,fma,bmi,bmi2,popcnt")))
#else
#define FPSCOPE_X86_KERNELS 0
#endif

namespace fpscope::detail {

// Number of leading zero bits of a non-zero 64-bit value.
FPSCOPE_HD constexpr int count_leading_zeros(std::uint64_t x) {
#if defined(__CUDA_ARCH__)
  return __clzll(static_cast<long long>(x));
#else
  return __builtin_clzll(x);
#endif
}

}  // namespace fpscope::detail

// Internal invariants only; user errors throw fpscope::Error (core/error.h).
#if defined(__CUDA_ARCH__)
#define FPSCOPE_ASSERT(cond) ((void)0)
#else
#include <cstdio>
#include <cstdlib>
#define FPSCOPE_ASSERT(cond)                                                          \
  ((cond) ? (void)0                                                                   \
          : (std::fprintf(stderr, "fpscope internal error: %s at %s:%d\n", #cond,    \
                          __FILE__, __LINE__),                                        \
             std::abort()))
#endif
