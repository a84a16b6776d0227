// gpu/convert_sweep_dispatch.cu: host side of the conversion sweep: launch parameters, buffers, timing, results.
#include <algorithm>
#include <string>
#include <vector>

#include "core/error.h"
#include "gpu/convert_sweep_kernel.cuh"
#include "gpu/cuda_check.h"
#include "gpu/fpscope_gpu.h"

namespace fpscope::gpu {

namespace {
// Examples kept per class on the device; the host keeps the lowest inputs among
// them, which are the lowest overall whenever a class has at most this many.
constexpr unsigned int kExampleCapacity = 4096;
constexpr int kThreadsPerBlock = 256;
}  // namespace

ValidationResult validate_conversion(const GpuConversion& conversion, SweepRange range, int max_examples) {
  using detail::DeviceExample;
  using detail::SweepCounters;
  if (!conversion.unavailable.empty()) {
    throw Error("validate --target gpu: conversion '" + conversion.name + "' is not available: " +
                conversion.unavailable);
  }
  if (range.stride == 0) throw Error("validate: sweep stride must be at least 1");
  constexpr std::uint64_t kPatterns = std::uint64_t{1} << 32;
  if (range.first >= kPatterns) throw Error("validate: sweep start is not a float32 pattern");
  const std::uint64_t count = (std::min(range.count, kPatterns - range.first) + range.stride - 1) / range.stride;

  int device = 0;
  FPSCOPE_CUDA_CHECK(cudaGetDevice(&device));
  int multiprocessors = 0;
  FPSCOPE_CUDA_CHECK(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, device));
  int blocks_per_sm = 0;
  FPSCOPE_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_per_sm, detail::convert_sweep_kernel,
                                                                   kThreadsPerBlock, 0));
  const auto wanted_blocks = std::max<std::uint64_t>(1, (count + kThreadsPerBlock - 1) / kThreadsPerBlock);
  const auto blocks = static_cast<unsigned int>(
      std::min<std::uint64_t>(wanted_blocks, static_cast<std::uint64_t>(multiprocessors) * std::max(blocks_per_sm, 1)));

  detail::DeviceBuffer<SweepCounters> counters(1);
  detail::DeviceBuffer<DeviceExample> examples(static_cast<std::size_t>(kMismatchClasses) * kExampleCapacity);
  FPSCOPE_CUDA_CHECK(cudaMemset(counters.get(), 0, sizeof(SweepCounters)));
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  FPSCOPE_CUDA_CHECK(cudaEventCreate(&start));
  FPSCOPE_CUDA_CHECK(cudaEventCreate(&stop));
  float milliseconds = 0.0f;
  try {
    FPSCOPE_CUDA_CHECK(cudaEventRecord(start));
    detail::convert_sweep_kernel<<<blocks, kThreadsPerBlock>>>(conversion.kernel_id, conversion.format,
                                                               conversion.rounding, range.first, range.stride, count,
                                                               counters.get(), examples.get(), kExampleCapacity);
    FPSCOPE_CUDA_CHECK(cudaGetLastError());
    FPSCOPE_CUDA_CHECK(cudaEventRecord(stop));
    FPSCOPE_CUDA_CHECK(cudaEventSynchronize(stop));
    FPSCOPE_CUDA_CHECK(cudaEventElapsedTime(&milliseconds, start, stop));
  } catch (...) {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    throw;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);

  SweepCounters host_counters{};
  FPSCOPE_CUDA_CHECK(cudaMemcpy(&host_counters, counters.get(), sizeof(SweepCounters), cudaMemcpyDeviceToHost));
  if (host_counters.unsupported != 0) {
    throw Error("validate --target gpu: conversion '" + conversion.name +
                "' has no device code for this GPU in this build (rebuild for its architecture)");
  }
  std::vector<DeviceExample> host_examples(examples.size());
  FPSCOPE_CUDA_CHECK(cudaMemcpy(host_examples.data(), examples.get(), examples.bytes(), cudaMemcpyDeviceToHost));

  ValidationResult result;
  result.target = conversion.name;
  result.format_spec = conversion.format_spec;
  result.rounding = conversion.rounding;
  result.inputs_checked = count;
  result.seconds = milliseconds / 1000.0;
  for (int c = 0; c < kMismatchClasses; ++c) {
    result.mismatches[static_cast<std::size_t>(c)] = host_counters.mismatches[c];
    const unsigned int recorded = std::min(host_counters.examples_recorded[c], kExampleCapacity);
    ValidationResult one;
    for (unsigned int i = 0; i < recorded; ++i) {
      const DeviceExample& e = host_examples[static_cast<std::size_t>(c) * kExampleCapacity + i];
      record_mismatch(one, MismatchExample{e.input, e.expected, e.actual}, static_cast<MismatchClass>(c), max_examples);
    }
    result.examples[static_cast<std::size_t>(c)] = one.examples[static_cast<std::size_t>(c)];
  }
  return result;
}

}  // namespace fpscope::gpu
