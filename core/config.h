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
