// gpu/analysis_dispatch.cu: host side of the analysis statistics on the GPU: device buffers kept across chunks, launches, copy back, folding into SourceStats / QuantStats; the analysis benchmark.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "gpu/analysis_host.h"
#include "gpu/analysis_kernel.cuh"
#include "gpu/cuda_check.h"
#include "gpu/fpscope_gpu.h"

namespace fpscope::gpu {
namespace detail {
namespace {

constexpr int kSharedSumThreads = kMaxStatsThreads;  // one block per SM holds the 196 KiB of shared sum bins
constexpr int kGlobalSumThreads = 256;
constexpr int kSmallKernelThreads = 256;
// Elements per chunk: a block then sees < 2^32 (its 32-bit shared histogram bins),
// and each exact-sum bin far fewer than its 2^36 adds.
constexpr std::uint64_t kMaxElementsPerChunk = std::uint64_t{1} << 31;

// Device memory that grows on demand and is kept across chunks.
template <class T>
class GrowingBuffer {
 public:
  GrowingBuffer() = default;
  GrowingBuffer(const GrowingBuffer&) = delete;
  GrowingBuffer& operator=(const GrowingBuffer&) = delete;
  ~GrowingBuffer() { cudaFree(ptr_); }
  T* reserve(std::size_t count) {
    if (count > capacity_) {
      FPSCOPE_CUDA_CHECK(cudaFree(ptr_));
      ptr_ = nullptr;
      capacity_ = 0;
      FPSCOPE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr_), std::max<std::size_t>(count, 1) * sizeof(T)));
      capacity_ = count;
    }
    return ptr_;
  }

 private:
  T* ptr_ = nullptr;
  std::size_t capacity_ = 0;
};

unsigned int blocks_for(std::uint64_t n, int threads, int resident_blocks) {
  const std::uint64_t wanted = std::max<std::uint64_t>(1, (n + static_cast<std::uint64_t>(threads) - 1) / threads);
  return static_cast<unsigned int>(std::min<std::uint64_t>(wanted, static_cast<std::uint64_t>(std::max(resident_blocks, 1))));
}

}  // namespace

// Evaluates chunks on one device (engine.h ChunkEvaluator), one at a time.
class DeviceAnalyzer {
 public:
  explicit DeviceAnalyzer(int device) : device_(device) {
    device_info(device);  // throws "no CUDA device ..." and selects the device
    FPSCOPE_CUDA_CHECK(cudaDeviceGetAttribute(&multiprocessors_, cudaDevAttrMultiProcessorCount, device));
    int optin = 0;
    FPSCOPE_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    const auto optin_bytes = static_cast<std::size_t>(optin);
    cudaFuncAttributes attributes{};
    FPSCOPE_CUDA_CHECK(cudaFuncGetAttributes(&attributes, quant_stats_kernel<true>));
    shared_quant_sums_ = attributes.sharedSizeBytes + kQuantSumBytes <= optin_bytes;
    FPSCOPE_CUDA_CHECK(cudaFuncGetAttributes(&attributes, source_stats_kernel<true>));
    shared_source_sums_ = attributes.sharedSizeBytes + kSourceSumBytes <= optin_bytes;
    if (shared_quant_sums_) {
      FPSCOPE_CUDA_CHECK(cudaFuncSetAttribute(quant_stats_kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              static_cast<int>(kQuantSumBytes)));
    }
    if (shared_source_sums_) {
      FPSCOPE_CUDA_CHECK(cudaFuncSetAttribute(source_stats_kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                              static_cast<int>(kSourceSumBytes)));
    }
    quant_blocks_ = resident_blocks(shared_quant_sums_ ? reinterpret_cast<const void*>(quant_stats_kernel<true>)
                                                       : reinterpret_cast<const void*>(quant_stats_kernel<false>),
                                    quant_threads(), shared_quant_sums_ ? kQuantSumBytes : 0);
    source_blocks_ = resident_blocks(shared_source_sums_ ? reinterpret_cast<const void*>(source_stats_kernel<true>)
                                                         : reinterpret_cast<const void*>(source_stats_kernel<false>),
                                     source_threads(), shared_source_sums_ ? kSourceSumBytes : 0);
    small_blocks_ = resident_blocks(reinterpret_cast<const void*>(group_amax_kernel), kSmallKernelThreads, 0);
    FPSCOPE_CUDA_CHECK(cudaMemcpyToSymbol(kRelEdges, RelErrorHistogram::kEdges.data(), sizeof(kRelEdges)));
    FPSCOPE_CUDA_CHECK(cudaEventCreate(&start_));
    FPSCOPE_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~DeviceAnalyzer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  DeviceAnalyzer(const DeviceAnalyzer&) = delete;
  DeviceAnalyzer& operator=(const DeviceAnalyzer&) = delete;

  // A host chunk: copied to the device, then evaluated.
  void evaluate_host_chunk(const ChunkView& chunk, const std::vector<PreparedCombination>& combinations,
                           std::uint64_t seed, SourceStats& source, std::vector<QuantStats>& results) {
    const ChunkPlan plan = plan_chunk(chunk, combinations);
    FPSCOPE_CUDA_CHECK(cudaSetDevice(device_));
    double* values = values_.reserve(chunk.values.size());
    FPSCOPE_CUDA_CHECK(cudaMemcpy(values, chunk.values.data(), chunk.values.size_bytes(), cudaMemcpyHostToDevice));
    evaluate(values, plan, seed, source, results);
  }

  // Values already on the device. Returns the milliseconds the device spent on the kernels.
  float evaluate(const double* values, const ChunkPlan& plan, std::uint64_t seed, SourceStats& source,
                 std::vector<QuantStats>& results) {
    FPSCOPE_CUDA_CHECK(cudaSetDevice(device_));
    const std::uint64_t n = plan.geometry.elements();
    if (n > kMaxElementsPerChunk) {
      throw Error("gpu analysis: a chunk of " + std::to_string(n) +
                  " elements exceeds the device evaluator's 2^31 (use a smaller --chunk-elements)");
    }
    const std::size_t combos = plan.combinations.size();
    // Mirrors at their initial words (one copy: source, then every combination).
    if (initial_source_.empty()) {
      initial_source_ = initial_source_words();
      initial_quant_ = initial_quant_words();
    }
    const std::size_t source_count = initial_source_.size();
    const std::size_t quant_count = initial_quant_.size();
    host_words_.resize(source_count + combos * quant_count);
    std::copy(initial_source_.begin(), initial_source_.end(), host_words_.begin());
    for (std::size_t k = 0; k < combos; ++k) {
      std::copy(initial_quant_.begin(), initial_quant_.end(),
                host_words_.begin() + static_cast<std::ptrdiff_t>(source_count + k * quant_count));
    }
    ull* words = words_.reserve(host_words_.size());
    FPSCOPE_CUDA_CHECK(cudaMemcpy(words, host_words_.data(), host_words_.size() * sizeof(ull), cudaMemcpyHostToDevice));
    // Scales: the given ones copied, the computed ones written by group_scale_kernel.
    std::vector<std::size_t> scale_offset(combos);
    std::size_t scale_count = 0;
    for (std::size_t k = 0; k < combos; ++k) {
      scale_offset[k] = scale_count;
      scale_count += plan.combinations[k].params.grid.groups;
    }
    Scale* scales = scales_.reserve(scale_count);
    host_scales_.assign(scale_count, Scale{});
    for (std::size_t k = 0; k < combos; ++k) {
      const std::vector<Scale>& given = plan.combinations[k].given_scales;
      std::copy(given.begin(), given.end(), host_scales_.begin() + static_cast<std::ptrdiff_t>(scale_offset[k]));
    }
    if (scale_count > 0) {
      FPSCOPE_CUDA_CHECK(cudaMemcpy(scales, host_scales_.data(), scale_count * sizeof(Scale), cudaMemcpyHostToDevice));
    }
    std::vector<std::size_t> amax_offset(plan.amax_grids.size());
    std::size_t amax_count = 0;
    for (std::size_t g = 0; g < plan.amax_grids.size(); ++g) {
      amax_offset[g] = amax_count;
      amax_count += plan.amax_grids[g].groups;
    }
    ull* amax = amax_.reserve(amax_count);
    if (amax_count > 0) FPSCOPE_CUDA_CHECK(cudaMemset(amax, 0, amax_count * sizeof(ull)));

    FPSCOPE_CUDA_CHECK(cudaEventRecord(start_));
    launch_source(values, n, words);
    for (std::size_t g = 0; g < plan.amax_grids.size(); ++g) {
      group_amax_kernel<<<blocks_for(n, kSmallKernelThreads, small_blocks_), kSmallKernelThreads>>>(
          values, n, plan.geometry.ncols, plan.amax_grids[g], amax + amax_offset[g]);
      FPSCOPE_CUDA_CHECK(cudaGetLastError());
    }
    for (std::size_t k = 0; k < combos; ++k) {
      const CombinationPlan& cp = plan.combinations[k];
      ull* combo_words = words + source_count + k * quant_count;
      if (cp.computed) {
        const std::uint64_t groups = cp.params.grid.groups;
        group_scale_kernel<<<blocks_for(groups, kSmallKernelThreads, small_blocks_), kSmallKernelThreads>>>(
            amax + amax_offset[cp.amax_grid], groups, cp.rule, scales + scale_offset[k], combo_words);
        FPSCOPE_CUDA_CHECK(cudaGetLastError());
      }
      QuantParams params = cp.params;
      params.scales = scales + scale_offset[k];
      launch_quant(values, n, plan.geometry, params, seed, combo_words);
    }
    FPSCOPE_CUDA_CHECK(cudaEventRecord(stop_));
    FPSCOPE_CUDA_CHECK(cudaMemcpy(host_words_.data(), words, host_words_.size() * sizeof(ull), cudaMemcpyDeviceToHost));
    float milliseconds = 0.0f;
    FPSCOPE_CUDA_CHECK(cudaEventElapsedTime(&milliseconds, start_, stop_));
    fold_source_words(host_words_.data(), source);
    for (std::size_t k = 0; k < combos; ++k) fold_quant_words(host_words_.data() + source_count + k * quant_count, results[k]);
    return milliseconds;
  }

  double* values_buffer(std::size_t count) { return values_.reserve(count); }
  int multiprocessors() const { return multiprocessors_; }

 private:
  static constexpr std::size_t kQuantSumBytes = sizeof(ull) * QuantWords::kSums * kSumWords;
  static constexpr std::size_t kSourceSumBytes = sizeof(ull) * SourceWords::kSums * kSumWords;
  int quant_threads() const { return shared_quant_sums_ ? kSharedSumThreads : kGlobalSumThreads; }
  int source_threads() const { return shared_source_sums_ ? kSharedSumThreads : kGlobalSumThreads; }

  int resident_blocks(const void* kernel, int threads, std::size_t dynamic_bytes) const {
    int per_sm = 0;
    FPSCOPE_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, dynamic_bytes));
    if (per_sm == 0) {
      throw Error("gpu analysis: a kernel does not fit on this device with " + std::to_string(threads) +
                  " threads and " + std::to_string(dynamic_bytes) + " bytes of shared memory");
    }
    return per_sm * multiprocessors_;
  }

  void launch_source(const double* values, std::uint64_t n, ull* words) {
    const int threads = source_threads();
    const unsigned int blocks = blocks_for(n, threads, source_blocks_);
    if (shared_source_sums_) {
      source_stats_kernel<true><<<blocks, threads, kSourceSumBytes>>>(values, n, words);
    } else {
      source_stats_kernel<false><<<blocks, threads>>>(values, n, words);
    }
    FPSCOPE_CUDA_CHECK(cudaGetLastError());
  }

  void launch_quant(const double* values, std::uint64_t count, const ChunkGeometry& chunk, const QuantParams& params,
                    std::uint64_t seed, ull* words) {
    const int threads = quant_threads();
    const unsigned int blocks = blocks_for(count, threads, quant_blocks_);
    if (shared_quant_sums_) {
      quant_stats_kernel<true><<<blocks, threads, kQuantSumBytes>>>(values, count, chunk, params, seed, words);
    } else {
      quant_stats_kernel<false><<<blocks, threads>>>(values, count, chunk, params, seed, words);
    }
    FPSCOPE_CUDA_CHECK(cudaGetLastError());
  }

  int device_ = 0;
  int multiprocessors_ = 0;
  bool shared_quant_sums_ = false;
  bool shared_source_sums_ = false;
  int quant_blocks_ = 0;
  int source_blocks_ = 0;
  int small_blocks_ = 0;
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
  GrowingBuffer<double> values_;
  GrowingBuffer<ull> words_;
  GrowingBuffer<Scale> scales_;
  GrowingBuffer<ull> amax_;
  std::vector<std::uint64_t> initial_source_;
  std::vector<std::uint64_t> initial_quant_;
  std::vector<std::uint64_t> host_words_;
  std::vector<Scale> host_scales_;
};

}  // namespace detail

ChunkEvaluator make_chunk_evaluator(int device) {
  auto analyzer = std::make_shared<detail::DeviceAnalyzer>(device);
  return [analyzer](const ChunkView& chunk, const std::vector<PreparedCombination>& combinations, std::uint64_t seed,
                    SourceStats& source, std::vector<QuantStats>& results) {
    analyzer->evaluate_host_chunk(chunk, combinations, seed, source, results);
  };
}

std::vector<AnalysisBenchmark> benchmark_analysis(const AnalysisBenchmarkOptions& options) {
  detail::DeviceAnalyzer analyzer(0);
  const std::uint64_t cols = options.cols;
  const std::uint64_t rows = std::max<std::uint64_t>(1, options.elements / cols);
  const std::uint64_t n = rows * cols;
  double* values = analyzer.values_buffer(n);
  detail::fill_benchmark_kernel<<<static_cast<unsigned int>(analyzer.multiprocessors() * 8), 256>>>(values, n,
                                                                                                   options.seed);
  FPSCOPE_CUDA_CHECK(cudaGetLastError());
  FPSCOPE_CUDA_CHECK(cudaDeviceSynchronize());
  // The tensor amax of the fill: 2^8 * (1 + (2^24 - 1) * 2^-24) at most; use the bound (a benchmark, not a result).
  const double tensor_amax = 0x1p9;
  struct Case {
    std::string name;
    std::vector<std::string> formats, recipes;
  };
  const std::vector<Case> cases = {
      {"e4m3 tensor", {"e4m3"}, {"tensor"}},
      {"default sweep (bf16,fp16,e4m3,e5m2,e2m1 x none,tensor,mx,nvfp4)",
       {"bf16", "fp16", "e4m3", "e5m2", "e2m1"},
       {"none", "tensor", "mx", "nvfp4"}},
  };
  std::vector<AnalysisBenchmark> out;
  for (const Case& c : cases) {
    const std::vector<Combination> combos = make_combinations(c.formats, c.recipes, {"rne"});
    std::vector<PreparedCombination> prepared;
    for (const Combination& combo : combos) {
      PreparedCombination p;
      p.element = combo.format;
      p.format = scaled_element_format(combo.format, combo.recipe);
      p.recipe = combo.recipe;
      p.rounding = combo.rounding;
      if (combo.recipe.kind == RecipeKind::tensor) p.tensor_scale = amax_scale(tensor_amax, combo.format, combo.recipe);
      if (combo.recipe.kind == RecipeKind::nvfp4) p.nvfp4_scale = nvfp4_tensor_scale(tensor_amax);
      prepared.push_back(std::move(p));
    }
    const detail::ChunkPlan plan = detail::plan_chunk(
        ChunkView{std::span<const double>(values, n), 0, rows, 0, cols, cols}, prepared);
    AnalysisBenchmark b;
    b.name = c.name;
    b.combinations = combos.size();
    b.elements = n;
    double best_ms = 0.0;
    double best_wall = 0.0;
    for (int it = 0; it < std::max(options.iterations, 1); ++it) {
      SourceStats source;
      std::vector<QuantStats> results(prepared.size());
      const auto t0 = std::chrono::steady_clock::now();
      const double ms = analyzer.evaluate(values, plan, options.seed, source, results);
      const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (it == 0 || ms < best_ms) best_ms = ms;
      if (it == 0 || wall < best_wall) best_wall = wall;
      if (source.count != n) throw Error("gpu analysis benchmark: the source statistics saw the wrong element count");
    }
    b.kernel_seconds = best_ms / 1e3;
    b.wall_seconds = best_wall;
    b.input_bytes_per_second = static_cast<double>(n * sizeof(double)) / b.kernel_seconds;
    out.push_back(b);
  }
  return out;
}

}  // namespace fpscope::gpu
