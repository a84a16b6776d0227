// gpu/convert_sweep_kernel.cuh: the __global__ kernel of the conversion sweep (grid-stride over the float32 patterns).
#pragma once

#include <cstdint>

#include "gpu/convert_sweep_block.cuh"

namespace fpscope::gpu::detail {

// Patterns first + i * stride for i < count (uint32 arithmetic wraps as on the
// CPU). Per-class counts go to shared memory, then once per block to global.
__global__ void convert_sweep_kernel(int id, Format f, Rounding r, std::uint64_t first, std::uint64_t stride,
                                     std::uint64_t count, SweepCounters* counters, DeviceExample* examples,
                                     unsigned int capacity) {
  __shared__ unsigned int block_counts[kMismatchClasses];
  if (threadIdx.x < kMismatchClasses) block_counts[threadIdx.x] = 0;
  __syncthreads();
  const std::uint64_t step = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t i = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += step) {
    const auto pattern = static_cast<std::uint32_t>(first + i * stride);
    check_pattern(id, pattern, f, r, block_counts, counters, examples, capacity);
  }
  __syncthreads();
  if (threadIdx.x < kMismatchClasses && block_counts[threadIdx.x] != 0) {
    atomicAdd(&counters->mismatches[threadIdx.x], static_cast<unsigned long long>(block_counts[threadIdx.x]));
  }
}

}  // namespace fpscope::gpu::detail
