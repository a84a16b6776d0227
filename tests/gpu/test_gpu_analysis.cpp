// tests/gpu/test_gpu_analysis.cpp: gpu/fpscope_gpu.h make_chunk_evaluator and gpu/analysis_stats.h: the device algorithm equals the CPU engine (host emulation here; the device itself under label gpu).
//
// Without FPSCOPE_GPU_DEVICE_TESTS (label unit) the device algorithm runs on
// the CPU (gpu/analysis_host.h evaluate_chunk_emulated: the same FPSCOPE_HD
// per-element and per-group code, the same mirror words and the same fold)
// and is compared with the engine's own CPU evaluation; with it (label gpu)
// gpu::make_chunk_evaluator() is compared the same way, and the test reports
// "skipped: no CUDA device" without one. Every count, histogram and exact sum
// must be equal (==), on random and adversarial tensors, for every format,
// recipe and rounding listed below.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "analysis/engine.h"
#include "analysis/verdict.h"
#include "core/error.h"
#include "gpu/analysis_host.h"
#include "gpu/fpscope_gpu.h"
#include "tests/analysis/memory_reader.h"
#include "tests/analysis/stats_equal.h"
#include "tests/gpu/require_device.h"

namespace fpscope::gpu {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using testing_support::expect_same;
using testing_support::MemoryReader;

struct TestTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<double> values;
};

std::size_t count_of(const std::vector<std::int64_t>& shape) {
  std::size_t n = 1;
  for (const std::int64_t d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

// Random and adversarial tensors (issue 3's list), odd shapes included.
std::vector<TestTensor> test_tensors() {
  std::vector<TestTensor> out;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto make = [&](std::string name, std::vector<std::int64_t> shape, auto value) {
    TestTensor t{std::move(name), std::move(shape), {}};
    t.values.resize(count_of(t.shape));
    for (std::size_t i = 0; i < t.values.size(); ++i) t.values[i] = value(i);
    out.push_back(std::move(t));
  };
  // float32 values of a wide spread (log-normal magnitudes), a few outliers.
  make("random", {37, 50}, [&](std::size_t i) {
    const double x = static_cast<float>(normal(rng) * std::exp2(3.0 * normal(rng)));
    return i == 11 ? 3e4 : (i == 12 ? 0.0 : (i == 13 ? -std::ldexp(1.0, -140) : x));
  });
  // fp64 values that no float32 holds (the generic encode path, double rounding checks).
  make("random_fp64", {3, 7, 33}, [&](std::size_t) { return normal(rng) * std::exp2(20.0 * normal(rng)); });
  make("subnormal_fp64", {64, 16}, [&](std::size_t i) {
    return std::ldexp(static_cast<double>(i % 97 + 1), -1074) * ((i & 1) != 0 ? -1.0 : 1.0);
  });
  make("subnormal_fp32", {20, 32}, [&](std::size_t i) { return std::ldexp(static_cast<double>(i + 1), -149); });
  make("huge", {8, 48}, [&](std::size_t i) {
    const double v[] = {1e300, -1.7e308, 3.4e38, -6.5e4, 1e38, std::numeric_limits<double>::max()};
    return v[i % 6] * (1.0 + static_cast<double>(i) * 1e-3);
  });
  make("specials", {16, 40}, [&](std::size_t i) {
    switch (i % 9) {
      case 0: return kNaN;
      case 1: return kInf;
      case 2: return -kInf;
      case 3: return -0.0;
      case 4: return 0.0;
      default: return static_cast<double>(static_cast<float>(normal(rng)));
    }
  });
  make("all_nan", {4, 16}, [&](std::size_t) { return kNaN; });
  make("constant", {12, 64}, [&](std::size_t) { return 0.3; });
  make("zeros", {3, 32}, [&](std::size_t) { return 0.0; });
  make("one_element", {}, [&](std::size_t) { return -2.75; });
  make("vector_odd", {1001}, [&](std::size_t i) { return static_cast<double>(static_cast<float>(normal(rng))) * (i % 3 == 0 ? 1e-6 : 1.0); });
  make("column", {77, 1}, [&](std::size_t) { return static_cast<double>(static_cast<float>(normal(rng))); });
  make("rank3", {5, 3, 35}, [&](std::size_t) { return static_cast<double>(static_cast<float>(normal(rng) * 1e3)); });
  return out;
}

struct Sweep {
  std::vector<std::string> formats;
  std::vector<std::string> recipes;
  std::uint64_t chunk_elements;
};

// Every tensor, analysed twice under one name (the second time delayed scaling
// has a history), by the CPU engine and by an engine with `evaluator`.
void compare_with_cpu(const ChunkEvaluator& evaluator, std::uint64_t chunk_elements_for_evaluator = 0) {
  const std::vector<std::string> all_formats = {"e4m3", "e5m2", "e2m1", "bf16", "fp16", "fp32"};
  const std::vector<std::string> some_formats = {"e4m3", "e2m1", "bf16"};  // the other sweeps: unit tests stay fast under sanitizers
  const std::vector<std::string> roundings = {"rne", "rtz", "sr"};
  // block:2x16 makes chunks whole pairs of rows; without it, long rows are split
  // into segments (row scales from the pre-pass: PreparedCombination::row_scales).
  const std::vector<Sweep> sweeps = {
      {all_formats, {"none", "tensor", "delayed", "row", "col", "block:2x16", "mx", "nvfp4"}, 200},
      {some_formats, {"none", "tensor:pow2", "delayed:len=2", "row", "col:pow2", "mx", "nvfp4"}, 96},
      {some_formats, {"none", "tensor", "row", "block:3x8"}, 1u << 20},
  };
  int compared = 0;
  for (const Sweep& sweep : sweeps) {
    const std::vector<Combination> combos = make_combinations(sweep.formats, sweep.recipes, roundings);
    EngineOptions cpu_options{combos, 1, sweep.chunk_elements, 12345, {}};
    EngineOptions gpu_options = cpu_options;
    gpu_options.evaluator = evaluator;
    if (chunk_elements_for_evaluator != 0) gpu_options.chunk_elements = chunk_elements_for_evaluator;
    Engine cpu(cpu_options);
    Engine device(gpu_options);
    for (const TestTensor& t : test_tensors()) {
      for (int step = 0; step < 2; ++step) {
        MemoryReader r1(t.name, t.shape, t.values);
        MemoryReader r2(t.name, t.shape, t.values);
        const TensorAnalysis a = cpu.analyze(r1);
        const TensorAnalysis b = device.analyze(r2);
        const std::string where = t.name + " step " + std::to_string(step) + " chunk " + std::to_string(sweep.chunk_elements);
        expect_same(a.source, b.source, where + " source");
        ASSERT_EQ(a.results.size(), b.results.size());
        for (std::size_t k = 0; k < combos.size(); ++k) {
          expect_same(a.results[k], b.results[k], where + " " + combination_id(combos[k]));
          ++compared;
        }
        if (::testing::Test::HasFailure()) return;  // one tensor's failures are enough to read
      }
    }
  }
  std::printf("compared %d (tensor, combination) results\n", compared);
}

#ifndef FPSCOPE_GPU_DEVICE_TESTS

// The device copy of RelErrorHistogram::bin_of agrees with it at every edge, its neighbours and in between.
TEST(gpu_analysis_stats, rel_error_bin_equals_bin_of) {
  const double* edges = RelErrorHistogram::kEdges.data();
  std::vector<double> probes = {std::numeric_limits<double>::denorm_min(), 1e-300, 1e300, kInf, kNaN,
                                std::numeric_limits<double>::max()};
  for (const double e : RelErrorHistogram::kEdges) {
    probes.push_back(e);
    probes.push_back(std::nextafter(e, 0.0));
    probes.push_back(std::nextafter(e, kInf));
    probes.push_back(e * 3.0);
  }
  std::mt19937_64 rng(3);
  for (int i = 0; i < 20000; ++i) probes.push_back(std::exp2(std::uniform_real_distribution<double>(-80, 20)(rng)));
  for (const double p : probes) {
    EXPECT_EQ(detail::rel_error_bin(p, edges), RelErrorHistogram::bin_of(p)) << p;
  }
}

// Order keys order like the doubles and invert.
TEST(gpu_analysis_stats, order_keys_order_like_doubles) {
  const std::vector<double> sorted = {-kInf, -1e308, -1.0, -std::numeric_limits<double>::denorm_min(), -0.0, 0.0,
                                      std::numeric_limits<double>::denorm_min(), 1e-300, 1.0, 3.0, 1e308, kInf};
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    EXPECT_EQ(std::bit_cast<std::uint64_t>(detail::from_order_key(detail::order_key(sorted[i]))),
              std::bit_cast<std::uint64_t>(sorted[i]));
    if (i > 0) {
      EXPECT_LT(detail::order_key(sorted[i - 1]), detail::order_key(sorted[i])) << sorted[i];
    }
  }
}

// The per-exponent bins folded with ExactSum::add_integer equal ExactSum::add of
// the same doubles, at both ends of fp64's range (the top bins fold at index 2071).
TEST(gpu_analysis_stats, exact_sum_bins_fold_exactly) {
  using W = detail::QuantWords;
  std::vector<double> values = {1e308, std::numeric_limits<double>::max(), -std::numeric_limits<double>::max(),
                                std::numeric_limits<double>::denorm_min(), -3 * std::numeric_limits<double>::denorm_min(),
                                1.0, -0.5, 0.0, -0.0, kInf, -kInf, kNaN, 1e-310, 12345.678};
  std::mt19937_64 rng(5);
  for (int i = 0; i < 5000; ++i) {
    values.push_back(std::bit_cast<double>(rng() & ~(std::uint64_t{0x7FF} << 52)) *  // any finite: random bits, exponent redrawn
                     std::exp2(static_cast<double>(static_cast<int>(rng() % 2000) - 1000)));
  }
  for (int repeat = 0; repeat < 3; ++repeat) values.push_back(std::numeric_limits<double>::max());
  std::vector<std::uint64_t> words = detail::initial_quant_words();
  detail::HostSink<W> sink{words.data()};
  ExactSum expected;
  for (const double v : values) {
    detail::add_exact(sink, W::sum_xq, v);
    expected.add(v);
  }
  QuantStats folded;
  detail::fold_quant_words(words.data(), folded);
  EXPECT_TRUE(folded.sum_xq == expected);
  EXPECT_TRUE(folded.sum_error == ExactSum{});
  // The finite part alone (no specials): the value as well.
  std::vector<std::uint64_t> finite_words = detail::initial_quant_words();
  detail::HostSink<W> finite_sink{finite_words.data()};
  ExactSum finite_expected;
  for (const double v : values) {
    if (!std::isfinite(v) || std::fabs(v) > 1e307) continue;
    detail::add_exact(finite_sink, W::sum_qq, v);
    finite_expected.add(v);
  }
  QuantStats finite_folded;
  detail::fold_quant_words(finite_words.data(), finite_folded);
  EXPECT_TRUE(finite_folded.sum_qq == finite_expected);
  EXPECT_EQ(finite_folded.sum_qq.value(), finite_expected.value());
}

// The device algorithm, run on the host, equals the engine's CPU evaluation.
TEST(gpu_analysis_emulated, equals_cpu_engine) { compare_with_cpu(detail::evaluate_chunk_emulated); }

// A chunk plan's given scales are the slices of the prepared ones, its groups as the engine's.
TEST(gpu_analysis_emulated, plan_groups_and_given_scales) {
  std::vector<PreparedCombination> prepared(3);
  prepared[0].recipe = parse_recipe("col");
  prepared[0].col_scales = {Scale{2.0, 0.5}, Scale{4.0, 0.25}, Scale{8.0, 0.125}, Scale{16.0, 0.0625}};
  prepared[1].recipe = parse_recipe("block:2x3");
  prepared[2].recipe = parse_recipe("mx");
  const std::vector<double> values(2 * 2, 1.0);
  const detail::ChunkPlan plan = detail::plan_chunk(ChunkView{values, 4, 2, 2, 2, 4}, prepared);
  ASSERT_EQ(plan.combinations.size(), 3u);
  ASSERT_EQ(plan.combinations[0].given_scales.size(), 2u);
  EXPECT_EQ(plan.combinations[0].given_scales[0].scale, 8.0);  // columns 2 and 3
  EXPECT_EQ(plan.combinations[0].params.grid.groups, 2u);
  EXPECT_TRUE(plan.combinations[1].computed);
  EXPECT_EQ(plan.combinations[1].params.grid.groups, 1u);  // a 2x2 chunk in one 2x3 block
  EXPECT_EQ(plan.amax_grids.size(), 2u);                  // 2x3 and 1x32
  try {
    detail::plan_chunk(ChunkView{values, 0, 3, 0, 2, 2}, prepared);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "gpu analysis: a chunk of 4 values for 3 x 2 elements");
  }
}

// Without CUDA, or without a device, make_chunk_evaluator says so.
TEST(gpu_analysis, make_chunk_evaluator_without_a_device_throws) {
  if (!built_with_cuda()) {
    try {
      make_chunk_evaluator();
      FAIL() << "no exception";
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "analyze --device gpu: this fpscope was built without CUDA (nvcc was not found at configure time)");
    }
    return;
  }
  try {
    device_info();
  } catch (const Error&) {
    try {
      make_chunk_evaluator();
      FAIL() << "no exception";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("no CUDA device", 0), 0u) << e.what();
    }
    return;
  }
  GTEST_SKIP() << "skipped: a CUDA device is present";
}

#else  // FPSCOPE_GPU_DEVICE_TESTS

// The device evaluator equals the CPU engine (one evaluator for every tensor: its buffers grow and are reused).
TEST(gpu_analysis_device, equals_cpu_engine) {
  FPSCOPE_REQUIRE_DEVICE();
  compare_with_cpu(make_chunk_evaluator());
}

// Large chunks (many blocks, every block's shared bins flushed) on one tensor, including SR.
TEST(gpu_analysis_device, large_chunks_equal_cpu_engine) {
  FPSCOPE_REQUIRE_DEVICE();
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> values(std::size_t{1} << 22);
  for (double& x : values) x = static_cast<float>(normal(rng) * std::exp2(4.0 * normal(rng)));
  const std::vector<Combination> combos =
      make_combinations({"e4m3", "bf16", "e2m1"}, {"none", "tensor", "row", "mx", "nvfp4"}, {"rne", "sr"});
  EngineOptions cpu_options{combos, 2, std::uint64_t{1} << 20, 99, {}};
  EngineOptions gpu_options = cpu_options;
  gpu_options.evaluator = make_chunk_evaluator();
  gpu_options.chunk_elements = std::uint64_t{1} << 22;
  Engine cpu(cpu_options);
  Engine device(gpu_options);
  MemoryReader r1("big", {1024, 4096}, values);
  MemoryReader r2("big", {1024, 4096}, values);
  const TensorAnalysis a = cpu.analyze(r1);
  const TensorAnalysis b = device.analyze(r2);
  expect_same(a.source, b.source, "big source");
  for (std::size_t k = 0; k < combos.size(); ++k) expect_same(a.results[k], b.results[k], combination_id(combos[k]));
}

TEST(gpu_analysis_device, benchmark_runs) {
  FPSCOPE_REQUIRE_DEVICE();
  AnalysisBenchmarkOptions o;
  o.elements = std::uint64_t{1} << 22;
  o.iterations = 1;
  for (const AnalysisBenchmark& b : benchmark_analysis(o)) {
    EXPECT_GT(b.input_bytes_per_second, 0.0) << b.name;
    EXPECT_EQ(b.elements, std::uint64_t{1} << 22);
  }
}

#endif  // FPSCOPE_GPU_DEVICE_TESTS

}  // namespace
}  // namespace fpscope::gpu
