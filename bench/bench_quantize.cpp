// bench/bench_quantize.cpp: quantize_array on 2^24 float32 elements, out of place, one thread, vs memcpy.
//
// The issue 2 targets: RNE <= 1.25x and SR <= 2.5x the memcpy time of the same
// array, for bf16, fp16, e4m3, e5m2 and e2m1. Each benchmark times its kernel and
// also measures memcpy of the same buffers just before, so the ratio it reports
// (ratio_to_memcpy) compares figures from the same run and the same moment.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/array.h"
#include "core/format.h"

namespace {

constexpr std::size_t kElements = std::size_t{1} << 24;

// N(0, 1) samples: the magnitudes of typical activations and weights. The fast
// paths are branch-free, so the distribution does not change their time.
const std::vector<float>& input() {
  static const std::vector<float> data = [] {
    std::vector<float> v(kElements);
    std::mt19937 rng(12345);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& x : v) x = normal(rng);
    return v;
  }();
  return data;
}

std::vector<float>& output() {
  static std::vector<float> data(kElements, 1.0f);  // touched: no page faults while timed
  return data;
}

// ns per element of memcpy from input() to output(): the median of five copies.
double memcpy_ns_per_element() {
  std::vector<double> ns;
  for (int rep = 0; rep < 5; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    std::memcpy(output().data(), input().data(), kElements * sizeof(float));
    benchmark::ClobberMemory();
    const auto stop = std::chrono::steady_clock::now();
    ns.push_back(std::chrono::duration<double, std::nano>(stop - start).count() / kElements);
  }
  std::sort(ns.begin(), ns.end());
  return ns[ns.size() / 2];
}

// Reports ns_per_element of the timed loop and its ratio to memcpy_ns.
void report(benchmark::State& state, double kernel_ns_total, double memcpy_ns) {
  const double ns = kernel_ns_total / (static_cast<double>(state.iterations()) * kElements);
  state.counters["ns_per_element"] = ns;
  state.counters["memcpy_ns_per_element"] = memcpy_ns;
  state.counters["ratio_to_memcpy"] = ns / memcpy_ns;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(2 * kElements * sizeof(float)));
}

void BM_memcpy(benchmark::State& state) {
  const double memcpy_ns = memcpy_ns_per_element();
  double total_ns = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    std::memcpy(output().data(), input().data(), kElements * sizeof(float));
    benchmark::ClobberMemory();
    total_ns += std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
                    .count();
  }
  report(state, total_ns, memcpy_ns);
}

void BM_quantize(benchmark::State& state, const char* format, fpscope::Mode mode) {
  const fpscope::Format f = fpscope::parse_format(format);
  fpscope::ArrayOptions options;
  options.rounding.mode = mode;
  options.seed = 42;
  options.threads = 1;
  const double memcpy_ns = memcpy_ns_per_element();
  double total_ns = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    fpscope::quantize_array(input(), output(), f, options);
    benchmark::ClobberMemory();
    total_ns += std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
                    .count();
  }
  report(state, total_ns, memcpy_ns);
}

// Registered in a fixed order: memcpy first, then each format with RNE and SR.
const bool kRegistered = [] {
  benchmark::RegisterBenchmark("quantize/memcpy", BM_memcpy)->UseRealTime()->Unit(benchmark::kMillisecond);
  for (const char* format : {"bf16", "fp16", "e4m3", "e5m2", "e2m1"}) {
    for (const auto& [name, mode] :
         {std::pair{"rne", fpscope::Mode::rne}, std::pair{"sr", fpscope::Mode::sr}}) {
      benchmark::RegisterBenchmark((std::string("quantize/") + format + "/" + name).c_str(),
                                   BM_quantize, format, mode)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  return true;
}();

}  // namespace
