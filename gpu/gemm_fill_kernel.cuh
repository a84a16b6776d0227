// gpu/gemm_fill_kernel.cuh: the __global__ kernel that fills a GEMM operand with reproducible random encodings of a format.
#pragma once

#include <cstdint>

#include "core/format.h"
#include "core/random.h"

namespace fpscope::gpu::detail {

// Element i: sign and mantissa from sr_random_bits(seed, i) (core/random.h),
// exponent field in [bias - 4, bias + 3] so products stay far from overflow.
// `bytes` is 1 (fp8) or 2 (bf16/fp16) per element.
__global__ void fill_random_kernel(unsigned char* out, std::uint64_t count, int bytes, Format f, std::uint64_t seed) {
  const std::uint64_t step = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  const std::uint64_t man_mask = (std::uint64_t{1} << f.man_bits) - 1;
  for (std::uint64_t i = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += step) {
    const std::uint32_t w = sr_random_bits(seed, i);
    const auto field = static_cast<std::uint64_t>(f.bias - 4 + static_cast<int>((w >> 8) % 8));
    const std::uint64_t bits =
        (std::uint64_t{w >> 31} << (f.exp_bits + f.man_bits)) | (field << f.man_bits) | (w & man_mask);
    if (bytes == 1) {
      out[i] = static_cast<unsigned char>(bits);
    } else {
      reinterpret_cast<std::uint16_t*>(out)[i] = static_cast<std::uint16_t>(bits);
    }
  }
}

}  // namespace fpscope::gpu::detail
