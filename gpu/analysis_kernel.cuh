// gpu/analysis_kernel.cuh: the __global__ kernels of the analysis statistics: source statistics, group amaxes, group scales, and one combination's element statistics.
#pragma once

#include <cstdint>

#include "gpu/analysis_block.cuh"

namespace fpscope::gpu::detail {

// Threads per block of the statistics kernels at most (the dispatch launches 512
// with shared sum bins, one block per SM, or 256 without).
inline constexpr int kMaxStatsThreads = 512;

// RelErrorHistogram::kEdges on the device (copied by the dispatch).
__constant__ double kRelEdges[kRelBins + 1];

// SourceStats of elements [0, n) into the mirror `words`. kSharedSums: the
// exact-sum bins in dynamic shared memory (SourceWords::kSums x kSumWords).
template <bool kSharedSums>
__global__ void __launch_bounds__(kMaxStatsThreads) source_stats_kernel(const double* values, std::uint64_t n, ull* words) {
  __shared__ unsigned int hist[kSourceHistBins];
  extern __shared__ ull dynamic_sums[];
  zero_shared(hist, kSourceHistBins);
  if constexpr (kSharedSums) zero_shared(dynamic_sums, SourceWords::kSums * kSumWords);
  __syncthreads();
  SourceBlockSink sink;
  sink.sums = kSharedSums ? dynamic_sums : words + SourceWords::sums;
  sink.specials = words + SourceWords::specials;
  sink.words = words;
  sink.hist = hist;
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t i = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    add_source_element(values[i], sink);
  }
  sink.flush();
  __syncthreads();
  flush_bins(hist, kSourceHistBins, words + SourceWords::magnitudes);
  if constexpr (kSharedSums) flush_sums(dynamic_sums, SourceWords::kSums * kSumWords, words + SourceWords::sums);
}

// The amax of every group of `grid` (as order-preserving bits of non-negative
// doubles). Warps whose 32 elements share a group reduce first (rows, blocks).
__global__ void group_amax_kernel(const double* values, std::uint64_t n, std::uint64_t ncols, GroupGrid grid,
                                  ull* amax_bits) {
  const unsigned lane = threadIdx.x & 31;
  const std::uint64_t warps = static_cast<std::uint64_t>(gridDim.x) * (blockDim.x / 32);
  const std::uint64_t warp = static_cast<std::uint64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  // The loop is warp-uniform so that the shuffles see every lane.
  for (std::uint64_t base = warp * 32; base < n; base += warps * 32) {
    const std::uint64_t i = base + lane;
    const bool valid = i < n;
    const ull bits = valid ? static_cast<ull>(__double_as_longlong(finite_abs(values[i]))) : 0;
    const std::uint64_t g = valid ? grid.group_of(i, ncols) : grid.group_of(base, ncols);
    const std::uint64_t g0 = __shfl_sync(kFullWarp, g, 0);
    if (__all_sync(kFullWarp, g == g0)) {
      const ull m = warp_max(bits);
      if (lane == 0 && m != 0) atomicMax(amax_bits + g0, m);
    } else if (valid && bits != 0) {
      atomicMax(amax_bits + g, bits);
    }
  }
}

// Each group's scale from its amax (the CPU's functions), and the scale summary.
__global__ void group_scale_kernel(const ull* amax_bits, std::uint64_t groups, GroupScaleRule rule, Scale* scales,
                                   ull* words) {
  ScaleSink sink;
  sink.words = words;
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  const std::uint64_t first = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  // Warp-uniform trip count, so that every lane reaches flush() together.
  const std::uint64_t rounds = (groups + stride - 1) / stride;
  for (std::uint64_t r = 0; r < rounds; ++r) {
    const std::uint64_t g = first + r * stride;
    if (g >= groups) continue;
    const double amax = __longlong_as_double(static_cast<long long>(amax_bits[g]));
    const Scale s = rule(amax);
    scales[g] = s;
    add_group_scale(s, amax > 0.0, sink);
  }
  sink.flush();
}

// One combination's QuantStats of elements [0, n) into the mirror `words`.
template <bool kSharedSums>
__global__ void __launch_bounds__(kMaxStatsThreads) quant_stats_kernel(const double* values, std::uint64_t n, ChunkGeometry chunk, QuantParams params,
                                   std::uint64_t seed, ull* words) {
  __shared__ unsigned int hist[kQuantHistBins];
  extern __shared__ ull dynamic_sums[];
  zero_shared(hist, kQuantHistBins);
  if constexpr (kSharedSums) zero_shared(dynamic_sums, QuantWords::kSums * kSumWords);
  __syncthreads();
  QuantBlockSink sink;
  sink.sums = kSharedSums ? dynamic_sums : words + QuantWords::sums;
  sink.specials = words + QuantWords::specials;
  sink.words = words;
  sink.hist = hist;
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t i = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    quantize_element(values[i], i, chunk, params, seed, kRelEdges, sink);
  }
  sink.flush();
  __syncthreads();
  flush_bins(hist, kRelBins, words + QuantWords::rel_bins);
  flush_bins(hist + kRelBins, kOutcomes * kBinades, words + QuantWords::window);
  if constexpr (kSharedSums) flush_sums(dynamic_sums, QuantWords::kSums * kSumWords, words + QuantWords::sums);
}

// The benchmark's input: float32 values of log-uniform magnitude (2^-24 .. 2^8) and random sign.
__global__ void fill_benchmark_kernel(double* values, std::uint64_t n, std::uint64_t seed) {
  const std::uint64_t stride = static_cast<std::uint64_t>(gridDim.x) * blockDim.x;
  for (std::uint64_t i = static_cast<std::uint64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const PhiloxBlock r = philox4x32(seed, i);
    const float mantissa = 1.0f + static_cast<float>(r.word[0] >> 8) * 0x1p-24f;
    const int exponent = static_cast<int>(r.word[1] % 33u) - 24;
    const float x = ldexpf(mantissa, exponent);
    values[i] = (r.word[2] & 1u) != 0 ? -static_cast<double>(x) : static_cast<double>(x);
  }
}

}  // namespace fpscope::gpu::detail
