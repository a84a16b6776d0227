// tests/analysis/test_fast_stats.cpp: analysis/fast_stats.h: the vectorised tiles equal QuantStats::add and SourceStats::add element by element, on every ISA the CPU has.
#include "analysis/fast_stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/random.h"
#include "core/rounding_spec.h"
#include "tests/analysis/stats_equal.h"

namespace fpscope {
namespace {

using testing_support::expect_same;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Runs fn once per kernel ISA this CPU has (core/fast_paths.h), then restores the detected one.
template <class Fn>
void for_each_isa(Fn fn) {
  const detail::KernelIsa detected = detail::detected_kernel_isa();
  for (const detail::KernelIsa isa : {detail::KernelIsa::baseline, detail::KernelIsa::avx2, detail::KernelIsa::avx512}) {
    if (detail::use_kernel_isa_for_testing(isa) != isa) continue;  // not on this CPU
    fn("isa " + std::to_string(static_cast<int>(isa)));
  }
  detail::use_kernel_isa_for_testing(detected);
}

// Values that take every path of the tiles for format f (scaled by 1): float32
// and double data over many binades, zeros of both signs, NaN, infinities,
// doubles whose square overflows, double subnormals, and for the format every
// value, every midpoint (a tie), the doubles either side of each midpoint (a tie
// that the double -> float32 step could move), and values beyond max finite.
std::vector<double> adversarial(const Format& f, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> v;
  for (int i = 0; i < 3000; ++i) v.push_back(static_cast<float>(normal(rng)));
  for (int i = 0; i < 3000; ++i) v.push_back(normal(rng) * std::ldexp(1.0, static_cast<int>(rng() % 300) - 150));
  for (int i = 0; i < 200; ++i) v.push_back(std::ldexp(normal(rng), static_cast<int>(rng() % 2098) - 1074));
  for (const double s : {0.0, -0.0, kNaN, -kNaN, kInf, -kInf, std::numeric_limits<double>::max(), -1e300, 1e200,
                         std::numeric_limits<double>::denorm_min(), -1e-310, std::ldexp(1.0, -149), 1e38, 3.5e38}) {
    for (int k = 0; k < 5; ++k) v.push_back(s);
  }
  std::vector<double> grid;
  const std::uint64_t encodings = std::uint64_t{1} << limits(f).total_bits;
  for (std::uint64_t b = 0; b < encodings; ++b) {
    const double q = decode(b, f);
    if (std::isfinite(q) && q >= 0.0) grid.push_back(q);
  }
  std::sort(grid.begin(), grid.end());
  grid.erase(std::unique(grid.begin(), grid.end()), grid.end());
  const std::size_t step = grid.size() > 4096 ? grid.size() / 2048 : 1;  // 16-bit formats: a sample
  for (std::size_t i = 0; i + 1 < grid.size(); i += step) {
    const double mid = 0.5 * (grid[i] + grid[i + 1]);
    for (const double x : {grid[i], mid, std::nextafter(mid, 0.0), std::nextafter(mid, kInf)}) {
      v.push_back(x);
      v.push_back(-x);
    }
  }
  const double top = limits(f).max_finite;
  for (const double x : {top, top * (1 + 0x1p-20), top * 1.0625, top * 1.5, top * 4}) {
    v.push_back(x);
    v.push_back(-x);
  }
  std::shuffle(v.begin(), v.end(), rng);
  return v;
}

struct ScaleRun {
  std::size_t first;
  std::size_t count;
  Scale scale;
};

// Runs of 1 to 1200 elements, each with one of `scales` (long ones are evaluated in place, tile by tile).
std::vector<ScaleRun> split(std::size_t n, const std::vector<Scale>& scales, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::vector<ScaleRun> runs;
  for (std::size_t first = 0; first < n;) {
    const std::size_t count = std::min<std::size_t>(n - first, 1 + rng() % 1200);
    runs.push_back(ScaleRun{first, count, scales[rng() % scales.size()]});
    first += count;
  }
  return runs;
}

struct Table {
  std::vector<double> decoded;
  std::vector<Class> classes;
};
Table table_of(const Format& f) {
  Table t;
  for (std::uint64_t b = 0; b < (std::uint64_t{1} << limits(f).total_bits); ++b) {
    t.decoded.push_back(decode(b, f));
    t.classes.push_back(classify(b, f));
  }
  return t;
}

// The engine's protocol for one chunk: the chunk's magnitudes and sum of x*x
// from the source, then the runs through one tile.
constexpr std::uint64_t kSeed = 0x5eed;

// (The element index of xs[i] is i.)
QuantStats through_tiles(const std::vector<double>& xs, const std::vector<ScaleRun>& runs, const Format& f,
                         const Rounding& rounding) {
  const std::optional<detail::FastParams> params = fast_stats_params(f, rounding);
  const Table table = table_of(f);
  const FastStatsFormat format{&*params, limits(f).min_normal, table.decoded.data(), table.classes.data(),
                               f,        rounding,           kSeed,                 detail::make_fast_double_params(f)};
  BinadeHistogram magnitudes;
  for (const double x : xs) magnitudes.add(x);
  ChunkMagnitudes chunk{&magnitudes, BinadeHistogram::kBins, 0};
  for (int b = 0; b < BinadeHistogram::kBins; ++b) {
    if (magnitudes.counts[static_cast<std::size_t>(b)] == 0) continue;
    chunk.lo = std::min(chunk.lo, b);
    chunk.hi = b + 1;
  }
  QuantStats st;
  for (const double x : xs) {
    if (std::isfinite(x)) st.sum_xx.add(x * x);
  }
  auto sums = std::make_unique<QuantSumBuffers>();
  sums->bind(st);
  auto tile = std::make_unique<FastStatsTile>();
  tile->begin(format, st, *sums, chunk);
  for (const ScaleRun& r : runs) tile->add_run(xs.data() + r.first, r.count, r.scale, r.first);
  tile->finish();
  sums->flush();
  return st;
}

QuantStats element_by_element(const std::vector<double>& xs, const std::vector<ScaleRun>& runs, const Format& f,
                              const Rounding& rounding) {
  QuantStats st;
  for (const ScaleRun& r : runs) {
    for (std::size_t i = r.first; i < r.first + r.count; ++i) {
      const std::uint32_t random = rounding.mode == Mode::sr ? sr_random_bits(kSeed, i) : 0;
      const ScaledResult q = quantize_scaled(xs[i], r.scale, f, rounding, random);
      st.add(xs[i], q.value, q.encoded.flags, classify(q.encoded.bits, f));
    }
  }
  return st;
}

TEST(FastStatsTile, equals_quant_stats_add_on_adversarial_values) {
  const std::vector<Scale> scales = {Scale{}, Scale{448.0 / 3.7, 3.7 / 448.0}, Scale{0x1p-10, 0x1p10},
                                     Scale{1e30, 1e-30}, Scale{7.0, 1.0 / 7.0},
                                     // q up to 2^1000 max finite: products of x and q overflow
                                     Scale{0x1p-1000, 0x1p1000}};
  for (const char* name : {"e4m3", "e5m2", "e2m1", "e3m2", "e2m3", "bf16", "fp16", "e4m3:nosub", "e5m2:sat=finite"}) {
    const Format f = parse_format(name);
    const std::vector<double> xs = adversarial(f, 7);
    const std::vector<ScaleRun> runs = split(xs.size(), scales, 11);
    for (const char* mode : {"rne", "rna", "rtz", "rup", "rdn", "rto", "sr", "sr:8"}) {
      const Rounding rounding = parse_rounding(mode);
      ASSERT_TRUE(fast_stats_params(f, rounding).has_value()) << name;
      const QuantStats reference = element_by_element(xs, runs, f, rounding);
      ASSERT_GT(reference.overflow, 0u) << name;  // the adversarial values reach every outcome
      ASSERT_GT(reference.underflow_to_zero, 0u) << name;
      const std::string where = std::string(name) + " " + mode;
      for_each_isa([&](const std::string& isa) {
        expect_same(through_tiles(xs, runs, f, rounding), reference, where + " " + isa);
      });
    }
  }
}

TEST(FastStatsTile, one_tile_spanning_the_whole_double_range) {
  // Errors and squares from 2^-1074 to 2^1000 in one tile: every extraction
  // level and the one-by-one remainder adds run.
  const Format f = parse_format("bf16");
  std::vector<double> xs;
  for (int e = -1074; e < 1000; e += 9) xs.push_back(std::ldexp(1.0 + std::ldexp(1.0, -30), e));
  for (int e = -1074; e < 1000; e += 13) xs.push_back(-std::ldexp(1.3, e));
  const std::vector<ScaleRun> runs = split(xs.size(), {Scale{}}, 3);
  const QuantStats reference = element_by_element(xs, runs, f, Rounding{});
  for_each_isa([&](const std::string& isa) { expect_same(through_tiles(xs, runs, f, Rounding{}), reference, isa); });
}

TEST(FastStatsTile, formats_it_cannot_take) {
  EXPECT_FALSE(fast_stats_params(parse_format("fp32"), Rounding{}).has_value());
  EXPECT_FALSE(fast_stats_params(parse_format("e8m0"), Rounding{}).has_value());
  EXPECT_TRUE(fast_stats_params(parse_format("e4m3"), Rounding{}).has_value());
  EXPECT_TRUE(fast_stats_params(parse_format("e4m3"), parse_rounding("sr:4")).has_value());
}

TEST(add_source_values, equals_source_stats_add) {
  for (const char* name : {"e4m3", "fp16"}) {
    const std::vector<double> xs = adversarial(parse_format(name), 5);
    SourceStats reference;
    for (const double x : xs) reference.add(x);
    for_each_isa([&](const std::string& isa) {
      SourceStats st;
      auto sums = std::make_unique<SourceSumBuffers>();
      sums->bind(st);
      BinadeHistogram magnitudes;
      // In pieces, as the engine's chunks come: the state between calls must not leak.
      add_source_values(std::span<const double>(xs).first(1000), st, *sums, magnitudes);
      add_source_values(std::span<const double>(xs).subspan(1000), st, *sums, magnitudes);
      sums->flush();
      st.magnitudes = magnitudes;
      expect_same(st, reference, name + (" " + isa));
    });
  }
}

TEST(add_source_values, extrema_order_negative_zero_first) {
  for (const std::vector<double>& xs : {std::vector<double>{0.0, -0.0, 0.0}, std::vector<double>{-0.0, 0.0}}) {
    SourceStats st;
    SourceSumBuffers sums;
    sums.bind(st);
    BinadeHistogram magnitudes;
    add_source_values(xs, st, sums, magnitudes);
    sums.flush();
    EXPECT_TRUE(std::signbit(st.min));
    EXPECT_FALSE(std::signbit(st.max));
    EXPECT_EQ(st.zeros, xs.size());
    EXPECT_EQ(magnitudes.zero, xs.size());
  }
}

TEST(finite_amax, ignores_nan_and_infinities) {
  std::mt19937_64 rng(2);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{33}, std::size_t{1000}}) {
    std::vector<double> xs(n);
    for (double& x : xs) x = normal(rng) * std::ldexp(1.0, static_cast<int>(rng() % 40) - 20);
    for (std::size_t i = 0; i < n; i += 5) xs[i] = (i / 5) % 3 == 0 ? kNaN : ((i / 5) % 3 == 1 ? kInf : -kInf);
    if (n > 2) xs[1] = -std::numeric_limits<double>::denorm_min();
    double reference = 0.0;
    for (const double x : xs) {
      if (std::isfinite(x)) reference = std::max(reference, std::fabs(x));
    }
    for_each_isa([&](const std::string& isa) { EXPECT_EQ(finite_amax(xs.data(), n), reference) << n << " " << isa; });
  }
  const std::vector<double> zeros = {-0.0, 0.0, -0.0};
  EXPECT_FALSE(std::signbit(finite_amax(zeros.data(), zeros.size())));
}

}  // namespace
}  // namespace fpscope
