// bench/bench_quantize.cpp: quantize_array on 2^24 float32 elements, out of place, one thread, vs memcpy.
//
// The issue 2 targets: RNE <= 1.25x and SR <= 2.5x the memcpy time of the same
// array, for bf16, fp16, e4m3, e5m2 and e2m1. Each benchmark times its kernel and
// also measures memcpy of the same buffers just before, so the ratio it reports
// (ratio_to_memcpy) compares figures from the same run and the same moment.
// The *_cpu counters repeat the figures in this thread's CPU time, which a busy
// machine inflates less than wall time (time spent descheduled is not counted).
#include <benchmark/benchmark.h>
#include <time.h>

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

// Wall and thread-CPU nanoseconds, read together.
struct Clock {
  double wall_ns;
  double cpu_ns;
  static Clock now() {
    timespec cpu{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    const auto wall = std::chrono::steady_clock::now().time_since_epoch();
    return {std::chrono::duration<double, std::nano>(wall).count(),
            static_cast<double>(cpu.tv_sec) * 1e9 + static_cast<double>(cpu.tv_nsec)};
  }
  Clock operator-(const Clock& o) const { return {wall_ns - o.wall_ns, cpu_ns - o.cpu_ns}; }
  Clock& operator+=(const Clock& o) {
    wall_ns += o.wall_ns;
    cpu_ns += o.cpu_ns;
    return *this;
  }
};

// ns per element of memcpy from input() to output(): the medians of five copies.
Clock memcpy_ns_per_element() {
  std::vector<double> wall, cpu;
  for (int rep = 0; rep < 5; ++rep) {
    const Clock start = Clock::now();
    std::memcpy(output().data(), input().data(), kElements * sizeof(float));
    benchmark::ClobberMemory();
    const Clock t = Clock::now() - start;
    wall.push_back(t.wall_ns / kElements);
    cpu.push_back(t.cpu_ns / kElements);
  }
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  return {wall[wall.size() / 2], cpu[cpu.size() / 2]};
}

// Reports ns_per_element of the timed loop and its ratio to memcpy, in wall and CPU time.
void report(benchmark::State& state, Clock total, Clock memcpy_ns) {
  const double elements = static_cast<double>(state.iterations()) * kElements;
  const double ns = total.wall_ns / elements;
  const double ns_cpu = total.cpu_ns / elements;
  state.counters["ns_per_element"] = ns;
  state.counters["memcpy_ns_per_element"] = memcpy_ns.wall_ns;
  state.counters["ratio_to_memcpy"] = ns / memcpy_ns.wall_ns;
  state.counters["ns_per_element_cpu"] = ns_cpu;
  state.counters["ratio_to_memcpy_cpu"] = ns_cpu / memcpy_ns.cpu_ns;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(2 * kElements * sizeof(float)));
}

void BM_memcpy(benchmark::State& state) {
  const Clock memcpy_ns = memcpy_ns_per_element();
  Clock total{0, 0};
  for (auto _ : state) {
    const Clock start = Clock::now();
    std::memcpy(output().data(), input().data(), kElements * sizeof(float));
    benchmark::ClobberMemory();
    total += Clock::now() - start;
  }
  report(state, total, memcpy_ns);
}

void BM_quantize(benchmark::State& state, const char* format, fpscope::Mode mode) {
  const fpscope::Format f = fpscope::parse_format(format);
  fpscope::ArrayOptions options;
  options.rounding.mode = mode;
  options.seed = 42;
  options.threads = 1;
  const Clock memcpy_ns = memcpy_ns_per_element();
  Clock total{0, 0};
  for (auto _ : state) {
    const Clock start = Clock::now();
    fpscope::quantize_array(input(), output(), f, options);
    benchmark::ClobberMemory();
    total += Clock::now() - start;
  }
  report(state, total, memcpy_ns);
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
