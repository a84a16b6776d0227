// tests/analysis/test_engine.cpp: the engine equals the reference recipe quantizer, for any thread count and chunk size.
#include "analysis/engine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"
#include "tests/analysis/memory_reader.h"
#include "tests/analysis/stats_equal.h"

namespace fpscope {
namespace {

// A tensor held in memory; optionally fails when element `fail_at` is read.
using testing_support::expect_same;
using testing_support::MemoryReader;

std::vector<double> gaussian(std::size_t n, unsigned seed, double sigma = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, sigma);
  std::vector<double> v(n);
  for (double& x : v) x = static_cast<float>(d(rng));
  // A few outliers and specials, as real activations have.
  if (n > 10) {
    v[3] = 300.0 * sigma;
    v[7] = 0.0;
    v[n / 2] = std::ldexp(1.0, -140);
  }
  return v;
}


TEST(make_combinations, cross_product_filtered_by_applicability) {
  const auto combos = make_combinations({"bf16", "e4m3", "e2m1"}, {"none", "mx", "nvfp4"}, {"rne", "sr:16"});
  // bf16: none x 2; e4m3: none, mx x 2; e2m1: none, mx, nvfp4 x 2.
  ASSERT_EQ(combos.size(), 12u);
  EXPECT_EQ(combos[0].format_name, "bf16");
  EXPECT_EQ(combos[1].rounding_name, "sr:16");
  EXPECT_EQ(recipe_name(combos[11].recipe), "nvfp4");
  try {
    make_combinations({"e9m9x"}, {"none"}, {"rne"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("e9m9x"), std::string::npos);
  }
}

// Every recipe, through the engine's chunked path, equals the reference element for element:
// compared through the sums of q (x q, q q) and the error sums, which pin q bit for bit in practice.
TEST(Engine, every_recipe_equals_the_reference_quantizer) {
  const std::uint64_t rows = 6;
  const std::uint64_t cols = 80;
  const std::vector<double> x = gaussian(rows * cols, 1, 0.05);
  const auto combos = make_combinations({"e4m3", "e5m2", "e2m1", "bf16"},
                                        {"none", "tensor", "tensor:pow2", "row", "col", "block:2x16", "block:4x32", "mx", "nvfp4"},
                                        {"rne", "sr"});
  for (std::uint64_t chunk : {1ull, 50ull, 160ull, 1000ull}) {
    EngineOptions o{combos, 1, chunk, 9, {}};
    Engine engine(o);
    MemoryReader reader("t", {2, 3, static_cast<std::int64_t>(cols)}, x);
    const TensorAnalysis a = engine.analyze(reader);
    EXPECT_EQ(a.rows, rows);
    EXPECT_EQ(a.cols, cols);
    for (std::size_t k = 0; k < combos.size(); ++k) {
      const Combination& c = combos[k];
      SCOPED_TRACE(c.format_name + "/" + recipe_name(c.recipe) + "/" + c.rounding_name + " chunk " + std::to_string(chunk));
      std::vector<double> q(x.size());
      const ScaleSummary scales = quantize_with_recipe(x, q, rows, cols, c.format, c.recipe, c.rounding, 9);
      ExactSum xq, qq, err;
      std::uint64_t underflow = 0;
      for (std::size_t i = 0; i < x.size(); ++i) {
        xq.add(x[i] * q[i]);
        qq.add(q[i] * q[i]);
        err.add(q[i] - x[i]);
        underflow += (x[i] != 0 && q[i] == 0) ? 1 : 0;
      }
      const QuantStats& s = a.results[k];
      EXPECT_TRUE(s.sum_xq == xq);
      EXPECT_TRUE(s.sum_qq == qq);
      EXPECT_TRUE(s.sum_error == err);
      EXPECT_EQ(s.underflow_to_zero, underflow);
      EXPECT_EQ(s.scales.count, scales.count);
      EXPECT_EQ(s.scales.saturated, scales.saturated);
      if (scales.count > 0) {
        EXPECT_EQ(s.scales.scale_inv_min, scales.scale_inv_min);
        EXPECT_EQ(s.scales.scale_inv_max, scales.scale_inv_max);
      }
    }
  }
}

TEST(Engine, threads_and_chunk_sizes_never_change_the_statistics) {
  const auto combos = make_combinations({"fp16", "e4m3", "e2m1"}, {"none", "tensor", "row", "col", "block:1x16", "mx", "nvfp4"},
                                        {"rne", "sr"});
  const std::vector<double> x = gaussian(40 * 48, 2, 1e-3);
  std::vector<TensorAnalysis> runs;
  for (int threads : {1, 2, 3}) {
    for (std::uint64_t chunk : {1ull, 48ull, 100ull, 48ull * 7, 1ull << 20}) {
      Engine engine(EngineOptions{combos, threads, chunk, 5, {}});
      MemoryReader reader("w", {40, 48}, x);
      runs.push_back(engine.analyze(reader));
    }
  }
  for (const TensorAnalysis& r : runs) {
    EXPECT_TRUE(r.source.sum == runs[0].source.sum);
    EXPECT_TRUE(r.source.magnitudes == runs[0].source.magnitudes);
    for (std::size_t k = 0; k < combos.size(); ++k) expect_same(r.results[k], runs[0].results[k], std::to_string(k));
  }
}

// Large and small chunks give the same sums, bit for bit, also with values
// whose q - x is inexact in double (float64 sources), non-finite sources and
// results, every rounding kind, and both engine paths: the vectorised tiles and,
// for e9m6 (off the float32 fast path), element by element.
TEST(Engine, large_and_small_chunks_give_the_same_sums) {
  std::vector<double> x = gaussian(1u << 13, 4, 0.5);
  std::mt19937_64 rng(8);
  std::uniform_real_distribution<double> u(-3.0, 3.0);
  for (std::size_t i = 0; i < x.size(); i += 5) x[i] = u(rng);  // float64: q - x not exact in double
  x[11] = std::numeric_limits<double>::infinity();
  x[12] = -std::numeric_limits<double>::infinity();
  x[13] = std::numeric_limits<double>::quiet_NaN();
  x[14] = 1e300;   // overflows every format; x*x is inf
  x[15] = -7e4;    // above fp16 and e4m3 without scaling
  x[16] = -0.0;
  const auto combos = make_combinations({"e4m3", "e5m2", "e2m1", "e4m3:nosub", "e9m6"}, {"none", "tensor", "delayed"},
                                        {"rne", "rtz", "sr:8"});
  Engine big(EngineOptions{combos, 1, 1u << 20, 3, {}});
  Engine small(EngineOptions{combos, 2, 100, 3, {}});
  MemoryReader a("w", {64, 128}, x);
  MemoryReader b("w", {64, 128}, x);
  const TensorAnalysis large = big.analyze(a);
  const TensorAnalysis chunked = small.analyze(b);
  for (std::size_t k = 0; k < combos.size(); ++k) {
    expect_same(large.results[k], chunked.results[k], std::to_string(k));
    EXPECT_GT(large.results[k].compared, 0u);
  }
  // A 16-bit format over large chunks.
  const std::vector<double> y = gaussian(1u << 20, 5, 1e-2);
  const auto bf16 = make_combinations({"bf16"}, {"tensor"}, {"rne"});
  Engine big16(EngineOptions{bf16, 1, 1u << 20, 0, {}});
  Engine small16(EngineOptions{bf16, 1, 1u << 16, 0, {}});
  MemoryReader c("w", {1024, 1024}, y);
  MemoryReader d("w", {1024, 1024}, y);
  expect_same(big16.analyze(c).results[0], small16.analyze(d).results[0], "");
}

TEST(Engine, long_rows_are_split_into_aligned_segments) {
  // A 1-D tensor larger than the chunk budget: segments aligned to 32 and 128 keep every block whole.
  const auto combos = make_combinations({"e4m3", "e2m1"}, {"row", "tensor", "mx", "nvfp4", "block:1x128"}, {"rne"});
  const std::vector<double> x = gaussian(5000, 3);
  Engine one(EngineOptions{combos, 1, 1u << 20, 0, {}});
  MemoryReader r1("v", {5000}, x);
  const TensorAnalysis whole = one.analyze(r1);
  EXPECT_EQ(whole.rows, 1u);
  Engine segmented(EngineOptions{combos, 2, 300, 0, {}});
  MemoryReader r2("v", {5000}, x);
  const TensorAnalysis split = segmented.analyze(r2);
  EXPECT_EQ(split.passes, 2);  // tensor, nvfp4 and segmented rows need the amax first
  for (std::size_t k = 0; k < combos.size(); ++k) expect_same(whole.results[k], split.results[k], std::to_string(k));
}

TEST(Engine, passes_and_scale_counts) {
  const std::vector<double> x = gaussian(4 * 64, 4);
  Engine none_only(EngineOptions{make_combinations({"bf16"}, {"none", "mx", "row"}, {"rne"}), 1, 1u << 20, 0, {}});
  MemoryReader r("a", {4, 64}, x);
  EXPECT_EQ(none_only.analyze(r).passes, 1);
  const auto combos = make_combinations({"e4m3"}, {"tensor", "row", "col", "mx", "block:2x32"}, {"rne"});
  Engine engine(EngineOptions{combos, 1, 64, 0, {}});
  const TensorAnalysis a = engine.analyze(r);
  EXPECT_EQ(a.passes, 2);
  EXPECT_EQ(a.results[0].scales.count, 1u);   // tensor
  EXPECT_EQ(a.results[1].scales.count, 4u);   // rows
  EXPECT_EQ(a.results[2].scales.count, 64u);  // columns
  EXPECT_EQ(a.results[3].scales.count, 8u);   // 4 rows x 2 MX blocks
  EXPECT_EQ(a.results[4].scales.count, 4u);   // 2 x 2 blocks
}

TEST(Engine, delayed_scaling_uses_the_earlier_steps) {
  // Step 0 (amax 2) then step 1 (amax 4) of the same tensor: step 1 is scaled by 448/2 and
  // its largest elements saturate; step 0 had no history (scale 1).
  const auto combos = make_combinations({"e4m3"}, {"delayed", "delayed:algo=most_recent:len=1"}, {"rne"});
  std::vector<DatasetEntry> entries;
  auto add = [&](std::int64_t step, double amax) {
    std::vector<double> v(64, 0.5);
    v[0] = amax;
    v[1] = -amax;
    DatasetEntry e;
    e.reader = std::make_unique<MemoryReader>("layer.weight", std::vector<std::int64_t>{64}, v, step);
    entries.push_back(std::move(e));
  };
  add(1, 4.0);  // listed first: the engine still processes step 0 first
  add(0, 2.0);
  const DatasetAnalysis d = analyze_dataset(std::move(entries), EngineOptions{combos, 1, 1u << 20, 0, {}});
  ASSERT_EQ(d.tensors.size(), 2u);
  EXPECT_EQ(d.tensors[0].info.step, 1);  // output keeps the dataset's order
  const QuantStats& step1 = d.tensors[0].results[0];
  const QuantStats& step0 = d.tensors[1].results[0];
  EXPECT_EQ(step0.scales.scale_min, 1.0);
  EXPECT_EQ(step0.overflow, 0u);
  EXPECT_EQ(step1.scales.scale_min, 224.0);
  EXPECT_EQ(step1.overflow, 2u);  // +-4 * 224 = 896 > 448
}

TEST(analyze_dataset, failures_unsupported_empty_and_filter) {
  const auto combos = make_combinations({"bf16"}, {"none"}, {"rne"});
  std::vector<DatasetEntry> entries;
  auto reader = [](std::string name, std::vector<double> v) {
    return std::make_unique<MemoryReader>(std::move(name), std::vector<std::int64_t>{static_cast<std::int64_t>(v.size())},
                                          std::move(v));
  };
  DatasetEntry good;
  good.reader = reader("good", gaussian(100, 5));
  entries.push_back(std::move(good));
  DatasetEntry broken;
  auto b = reader("broken", gaussian(100, 6));
  b->fail_at_ = 50;
  broken.reader = std::move(b);
  entries.push_back(std::move(broken));
  DatasetEntry ints;
  auto i = reader("ints", {1, 2, 3});
  i->info_.dtype = DType::i32;
  ints.reader = std::move(i);
  entries.push_back(std::move(ints));
  DatasetEntry empty;
  empty.reader = reader("empty", {});
  entries.push_back(std::move(empty));
  DatasetEntry skipped;
  skipped.reader = reader("skipped.bias", {1.0});
  entries.push_back(std::move(skipped));
  DatasetEntry error;
  error.error = std::make_unique<ReadError>(ReadError{"bad.safetensors", "", "bad.safetensors: truncated header"});
  entries.push_back(std::move(error));
  const std::regex filter("^(good|broken|ints|empty)$");
  const DatasetAnalysis d = analyze_dataset(std::move(entries), EngineOptions{combos, 2, 16, 0, {}}, &filter);
  ASSERT_EQ(d.tensors.size(), 1u);
  EXPECT_EQ(d.tensors[0].info.name, "good");
  ASSERT_EQ(d.failures.size(), 2u);
  EXPECT_EQ(d.failures[0].message, "bad.safetensors: truncated header");
  EXPECT_EQ(d.failures[1].tensor, "broken");
  EXPECT_EQ(d.failures[1].message, "mem.safetensors: tensor 'broken': read failed");
  ASSERT_EQ(d.unsupported.size(), 1u);
  EXPECT_EQ(d.unsupported[0].name, "ints");
  ASSERT_EQ(d.empty.size(), 1u);
  EXPECT_EQ(d.filtered_out, 1u);
}

}  // namespace
}  // namespace fpscope

namespace fpscope {
namespace {

// The engine rounds with RNE through the float32 fast path when a format allows:
// float64 values just off a midpoint of the format's grid round to the midpoint
// in float32 first (double rounding), and must still give encode()'s answer.
TEST(Engine, float64_values_next_to_midpoints_round_as_encode_does) {
  for (const std::string name : {"e4m3", "e5m2", "e2m1", "e3m2", "fp16", "bf16", "e4m3:nosub", "e2m1:nosub"}) {
    SCOPED_TRACE(name);
    const Format f = parse_format(name);
    std::vector<double> grid;
    const std::uint64_t magnitudes = std::uint64_t{1} << (limits(f).total_bits - 1);
    for (std::uint64_t b = 0; b < magnitudes; ++b) {
      const double v = decode(b, f);
      if (std::isfinite(v)) grid.push_back(v);
    }
    std::vector<double> x;
    const std::size_t step = grid.size() > 600 ? grid.size() / 600 : 1;
    for (std::size_t i = 0; i + 1 < grid.size(); i += step) {
      const double mid = (grid[i] + grid[i + 1]) / 2;
      for (const double d : {0.0, 0x1p-30, -0x1p-30, 0x1p-45, -0x1p-45}) {
        x.push_back(mid * (1 + d));
        x.push_back(-mid * (1 + d));
        x.push_back(grid[i + 1] * (1 + d));
      }
    }
    const double max = limits(f).max_finite;
    for (const double v : {max, max * (1 + 0x1p-30), max * (1 + 0x1p-4), max * 1.0625 * (1 + 0x1p-40), 1e300, 1e-300,
                           limits(f).min_subnormal / 2 * (1 + 0x1p-35), limits(f).min_subnormal / 2 * (1 - 0x1p-35),
                           std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(), 0.0}) {
      x.push_back(v);
      x.push_back(-v);
    }
    const auto combos = make_combinations({name}, {"none"}, {"rne"});
    Engine engine(EngineOptions{combos, 1, 64, 0, {}});
    MemoryReader reader("t", {static_cast<std::int64_t>(x.size())}, x);
    const TensorAnalysis a = engine.analyze(reader);
    QuantStats reference;
    for (const double v : x) {
      const Encoded e = encode(v, f, Rounding{});
      reference.add(v, decode(e.bits, f), e.flags, classify(e.bits, f));
    }
    expect_same(a.results[0], reference, "");
  }
}

}  // namespace
}  // namespace fpscope
