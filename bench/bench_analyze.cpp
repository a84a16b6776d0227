// bench/bench_analyze.cpp: the analysis engine (analysis/engine.h) per element: one format, the default sweep, 1 vs 2 threads, against memcpy.
//
// The issue 3 targets (bench/RESULTS.md, "analysis engine"): e4m3 with `tensor`
// scaling on 2^26 float32 elements, one thread, <= 2 ns/element; the default
// sweep (bf16, fp16, e4m3, e5m2, e2m1 x none, tensor, mx, nvfp4: 14
// combinations) <= 15 ns/element per thread; near-linear speed-up from 1 to 2
// threads. The tensor is N(0, 1) float32, 4096 columns, served from memory by a
// TensorReader like the safetensors one (float -> double per chunk), so file I/O
// is not timed. Counters: ns_per_element (wall), cpu_ns_per_element (CPU time of
// the whole process, all threads: the "per thread" figure, and the one a busy
// machine inflates least), memcpy_ns_per_element (memcpy of the same float32
// array in the same run). FPSCOPE_BENCH_SWEEP_LOG2 sets the sweep's size (default
// 2^22 elements: 14 combinations on 2^26 take minutes on the 2-core machine).
// FPSCOPE_BENCH_CHUNK sets EngineOptions::chunk_elements (default 2^20).
#include <benchmark/benchmark.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "analysis/engine.h"
#include "core/array.h"
#include "core/format.h"

namespace {

constexpr std::int64_t kCols = 4096;

const std::vector<float>& data(std::size_t n) {
  static std::vector<float> v;
  if (v.size() < n) {
    v.resize(n);
    std::mt19937 rng(12345);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& x : v) x = normal(rng);
  }
  return v;
}

class MemoryReader final : public fpscope::TensorReader {
 public:
  MemoryReader(const float* values, std::uint64_t n) : values_(values) {
    info_.file = "memory";
    info_.name = "bench";
    info_.shape = {static_cast<std::int64_t>(n) / kCols, kCols};
    info_.dtype = fpscope::DType::f32;
  }
  const fpscope::TensorInfo& info() const override { return info_; }
  void read(std::uint64_t first, std::span<double> out) override {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = values_[first + i];
  }
  void read(std::uint64_t first, std::span<float> out) override {
    std::memcpy(out.data(), values_ + first, out.size() * sizeof(float));
  }

 private:
  const float* values_;
  fpscope::TensorInfo info_;
};

double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double memcpy_ns_per_element(const std::vector<float>& in, std::size_t n) {
  std::vector<float> out(n, 1.0f);  // touched: no page faults while timed
  const auto start = std::chrono::steady_clock::now();
  std::memcpy(out.data(), in.data(), n * sizeof(float));
  benchmark::DoNotOptimize(out.data());
  benchmark::ClobberMemory();
  const std::chrono::duration<double, std::nano> ns = std::chrono::steady_clock::now() - start;
  return ns.count() / static_cast<double>(n);
}

void run(benchmark::State& state, const std::vector<std::string>& formats, const std::vector<std::string>& recipes,
         std::size_t n) {
  const int threads = static_cast<int>(state.range(0));
  const std::vector<float>& in = data(n);
  fpscope::EngineOptions options;
  options.combinations = fpscope::make_combinations(formats, recipes, {"rne"});
  options.threads = threads;
  if (const char* chunk = std::getenv("FPSCOPE_BENCH_CHUNK")) options.chunk_elements = std::strtoull(chunk, nullptr, 10);
  double wall = 0.0;
  double cpu = 0.0;
  double memcpy_ns = 0.0;
  for (auto _ : state) {
    memcpy_ns = memcpy_ns_per_element(in, n);
    fpscope::Engine engine(options);
    MemoryReader reader(in.data(), n);
    const double cpu0 = process_cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    fpscope::TensorAnalysis result = engine.analyze(reader);
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    cpu += process_cpu_seconds() - cpu0;
    wall += elapsed.count();
    state.SetIterationTime(elapsed.count());
    benchmark::DoNotOptimize(result.results.data());
  }
  const double elements = static_cast<double>(n) * static_cast<double>(state.iterations());
  state.counters["elements"] = static_cast<double>(n);
  state.counters["combinations"] = static_cast<double>(options.combinations.size());
  state.counters["ns_per_element"] = 1e9 * wall / elements;
  state.counters["cpu_ns_per_element"] = 1e9 * cpu / elements;
  state.counters["memcpy_ns_per_element"] = memcpy_ns;
}

std::size_t sweep_elements() {
  const char* env = std::getenv("FPSCOPE_BENCH_SWEEP_LOG2");
  const int log2 = env != nullptr ? std::atoi(env) : 22;
  return std::size_t{1} << (log2 > 12 && log2 < 31 ? log2 : 22);
}

void BM_AnalyzeE4m3Tensor(benchmark::State& state) {
  run(state, {"e4m3"}, {"tensor"}, std::size_t{1} << 26);
}

void BM_AnalyzeDefaultSweep(benchmark::State& state) {
  run(state, {"bf16", "fp16", "e4m3", "e5m2", "e2m1"}, {"none", "tensor", "mx", "nvfp4"}, sweep_elements());
}

// A floor under BM_AnalyzeE4m3Tensor's figure, from two things every element
// needs for every combination, each timed alone on data that stays in the L1
// cache (as the engine's tiles of 256 elements do), 2^24 elements in all, best
// of 3: the RNE rounding to e4m3 (core/array.h's AVX-512 kernel) and the double
// division of the relative error |q - x| / |x| (AVX-512, as
// analysis/fast_stats.cpp divides). Their sum is what one element costs before
// anything is read from memory or accumulated.
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f,avx512dq,avx512vl"), noinline)) void divide_avx512(const double* num, const double* den,
                                                                                     double* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = num[i] / den[i];
}
#endif
__attribute__((noinline)) void divide_baseline(const double* num, const double* den, double* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = num[i] / den[i];
}

template <class Fn>
double best_ns_per_element(std::size_t n, Fn fn) {
  double best = 1e300;
  for (int rep = 0; rep < 3; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    benchmark::ClobberMemory();
    const std::chrono::duration<double, std::nano> ns = std::chrono::steady_clock::now() - start;
    best = std::min(best, ns.count() / static_cast<double>(n));
  }
  return best;
}

void BM_AnalyzeFloor(benchmark::State& state) {
  constexpr std::size_t kTile = 256;
  constexpr std::size_t kRepeats = std::size_t{1} << 16;
  const std::size_t n = kTile * kRepeats;
  const std::vector<float>& in = data(kTile);
  std::vector<float> rounded(kTile, 1.0f);
  std::vector<double> x(kTile), q(kTile), r(kTile);
  const fpscope::Format e4m3 = fpscope::parse_format("e4m3");
  double round = 0.0, divide = 0.0, copy = 0.0;
  for (auto _ : state) {
    copy = memcpy_ns_per_element(data(std::size_t{1} << 24), std::size_t{1} << 24);
    const std::span<const float> tile(in.data(), kTile);
    round = best_ns_per_element(n, [&] {
      for (std::size_t k = 0; k < kRepeats; ++k) fpscope::quantize_array(tile, rounded, e4m3, fpscope::ArrayOptions{});
    });
    for (std::size_t i = 0; i < kTile; ++i) {
      x[i] = in[i];
      q[i] = std::fabs(static_cast<double>(rounded[i]) - x[i]);
    }
    auto divide_fn = divide_baseline;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f")) divide_fn = divide_avx512;
#endif
    divide = best_ns_per_element(n, [&] {
      for (std::size_t k = 0; k < kRepeats; ++k) {
        divide_fn(q.data(), x.data(), r.data(), kTile);
        benchmark::DoNotOptimize(r.data());
      }
    });
    state.SetIterationTime(1e-9 * (round + divide) * static_cast<double>(n));
  }
  state.counters["memcpy_ns_per_element"] = copy;
  state.counters["round_ns_per_element"] = round;
  state.counters["divide_ns_per_element"] = divide;
  state.counters["floor_ns_per_element"] = round + divide;
}

}  // namespace

BENCHMARK(BM_AnalyzeFloor)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AnalyzeE4m3Tensor)->Arg(1)->Arg(2)->ArgName("threads")->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AnalyzeDefaultSweep)->Arg(1)->Arg(2)->ArgName("threads")->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
