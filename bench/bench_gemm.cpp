// bench/bench_gemm.cpp: the accumulation models' GEMM (core/accumulate.h) on 4096-long reductions, one thread, vs native fp32 GEMM and memcpy.
//
// Issue 6's target: nv-h100-fp8 at >= 1 G multiply-adds per second per core on
// 4096-long reductions, with a single-threaded native fp32 GEMM of the same
// shape (Eigen, bench_gemm_native.cpp) and memcpy bandwidth measured in the
// same benchmark, so every ratio compares figures from the same run.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <ctime>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/accumulate.h"
#include "core/format.h"
#include "core/round.h"

namespace fpscope::bench {
#if defined(FPSCOPE_BENCH_NATIVE_GEMM)
double native_sgemm_seconds(const float* a, const float* b, float* out, std::size_t rows, std::size_t cols,
                            std::size_t depth, int repeats);
#endif
}  // namespace fpscope::bench

namespace {

using fpscope::GemmShape;

constexpr GemmShape kShape{128, 128, 4096};

// N(0, 1) operands scaled per tensor to amax = min(max finite, 448) and
// quantized RNE: what a per-tensor-scaled FP8 GEMM consumes (wider formats are
// not pushed to their top, where 4096 products would overflow fp32).
std::vector<double> operand(std::size_t count, const fpscope::Format& f, unsigned seed) {
  std::vector<double> v(count);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  double amax = 0.0;
  for (double& x : v) {
    x = normal(rng);
    amax = std::max(amax, std::abs(x));
  }
  const double scale = std::min(fpscope::limits(f).max_finite, 448.0) / amax;
  for (double& x : v) x = fpscope::quantize(x * scale, f, fpscope::Rounding{});
  return v;
}

// CPU seconds of this thread: the 2-core development machine is shared, so wall
// time would measure the other jobs too (bench/RESULTS.md gives both).
double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// memcpy bandwidth (GB/s, read + write) of a 64 MiB buffer: median of five.
double memcpy_gb_per_s() {
  static std::vector<char> from(std::size_t{64} << 20, 1);
  static std::vector<char> to(std::size_t{64} << 20, 2);
  std::vector<double> rates;
  for (int rep = 0; rep < 5; ++rep) {
    const double start = thread_seconds();
    std::memcpy(to.data(), from.data(), from.size());
    benchmark::ClobberMemory();
    const double s = thread_seconds() - start;
    rates.push_back(2.0 * static_cast<double>(from.size()) / s / 1e9);
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

// ns per multiply-add of a native fp32 GEMM of kShape (best of 5); 0 when not built.
double native_ns_per_mac(const std::vector<double>& a, const std::vector<double>& b) {
#if defined(FPSCOPE_BENCH_NATIVE_GEMM)
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0.0;
  const std::vector<float> fa(a.begin(), a.end());
  const std::vector<float> fb(b.begin(), b.end());
  std::vector<float> out(kShape.rows * kShape.cols);
  const double s = fpscope::bench::native_sgemm_seconds(fa.data(), fb.data(), out.data(), kShape.rows,
                                                         kShape.cols, kShape.depth, 5);
  return s * 1e9 / static_cast<double>(kShape.rows * kShape.cols * kShape.depth);
#else
  (void)a;
  (void)b;
  return 0.0;
#endif
}

void BM_model_gemm(benchmark::State& state, const char* model_spec, const char* format) {
  const fpscope::Format f = fpscope::parse_format(format);
  const std::vector<double> a = operand(kShape.rows * kShape.depth, f, 1);
  const std::vector<double> b = operand(kShape.cols * kShape.depth, f, 2);
  std::vector<double> out(kShape.rows * kShape.cols);
  const bool exact = std::string(model_spec) == "exact";
  const fpscope::AccumulationModel model =
      exact ? fpscope::AccumulationModel{} : fpscope::parse_accumulation_model(model_spec);
  const double memcpy_rate = memcpy_gb_per_s();
  const double native_ns = native_ns_per_mac(a, b);
  double seconds = 0.0;
  for (auto _ : state) {
    const double start = thread_seconds();
    if (exact) {
      fpscope::exact_gemm(a, b, kShape, out, 1);
    } else {
      fpscope::model_gemm(model, a, f, b, f, kShape, out, 1);
    }
    benchmark::DoNotOptimize(out.data());
    seconds += thread_seconds() - start;
  }
  const double macs = static_cast<double>(kShape.rows * kShape.cols * kShape.depth) *
                      static_cast<double>(state.iterations());
  const double ns_per_mac = seconds * 1e9 / macs;  // thread CPU time
  state.counters["ns_per_mac"] = ns_per_mac;
  state.counters["gmac_per_s"] = 1.0 / ns_per_mac;
  state.counters["native_fp32_ns_per_mac"] = native_ns;
  state.counters["ratio_to_native_fp32"] = native_ns > 0 ? ns_per_mac / native_ns : 0.0;
  state.counters["memcpy_gb_per_s"] = memcpy_rate;
}

// Operands decoded and checked once per call (2 x 128 x 4096 values) are part of the time.
BENCHMARK_CAPTURE(BM_model_gemm, nv_h100_fp8_e4m3, "nv-h100-fp8", "e4m3")->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK_CAPTURE(BM_model_gemm, nv_h100_fp8_promote128_e4m3, "nv-h100-fp8-promote128", "e4m3")
    ->Unit(benchmark::kMillisecond)
    ->MinTime(1.0);
BENCHMARK_CAPTURE(BM_model_gemm, nv_b200_fp8_e4m3, "nv-b200-fp8", "e4m3")->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK_CAPTURE(BM_model_gemm, nv_h100_hmma_bf16, "nv-h100-hmma", "bf16")->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK_CAPTURE(BM_model_gemm, fp32_seq_e4m3, "fp32-seq", "e4m3")->Unit(benchmark::kMillisecond)->Iterations(2);
BENCHMARK_CAPTURE(BM_model_gemm, exact_e4m3, "exact", "e4m3")->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
