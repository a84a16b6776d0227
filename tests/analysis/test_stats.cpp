// tests/analysis/test_stats.cpp: the statistics against a plain reference (MPFR sums, direct definitions), and merge invariance.
#include "analysis/stats.h"

#include <gtest/gtest.h>
#include <mpfr.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "tests/analysis/stats_equal.h"

namespace fpscope {
namespace {

using testing_support::expect_same;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The exact sum of finite doubles, rounded once to double: MPFR at 2200 bits
// (fp64's whole range is 2098 bits) sums exactly; mpfr_get_d rounds to nearest even.
double mpfr_sum(const std::vector<double>& xs) {
  mpfr_t acc;
  mpfr_init2(acc, 2400);
  mpfr_set_zero(acc, 1);
  for (double x : xs) mpfr_add_d(acc, acc, x, MPFR_RNDN);
  // mpfr_get_d follows MPFR's default exponent range; the result may be subnormal: subnormalize.
  mpfr_t out;
  mpfr_init2(out, 53);
  const mpfr_exp_t emin = mpfr_get_emin();
  const mpfr_exp_t emax = mpfr_get_emax();
  mpfr_set_emin(-1073);
  mpfr_set_emax(1024);
  const int t = mpfr_set(out, acc, MPFR_RNDN);
  mpfr_subnormalize(out, t, MPFR_RNDN);
  const double d = mpfr_get_d(out, MPFR_RNDN);
  mpfr_set_emin(emin);
  mpfr_set_emax(emax);
  mpfr_clear(out);
  mpfr_clear(acc);
  return d;
}

double exact_sum(const std::vector<double>& xs) {
  ExactSum s;
  for (double x : xs) s.add(x);
  return s.value();
}

void expect_same_double(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) {
    EXPECT_TRUE(std::isnan(a) && std::isnan(b)) << a << " vs " << b;
  } else {
    EXPECT_EQ(std::bit_cast<std::uint64_t>(a), std::bit_cast<std::uint64_t>(b)) << a << " vs " << b;
  }
}

// Random doubles over the whole exponent range, both signs, subnormals included.
std::vector<double> wide_random(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> xs;
  while (xs.size() < n) {
    const double x = std::bit_cast<double>(rng());
    if (std::isfinite(x)) xs.push_back(x);
  }
  return xs;
}

TEST(ExactSum, matches_mpfr_on_hand_cases) {
  const std::vector<std::vector<double>> cases{
      {},
      {1.0},
      {1e308, 1.0, -1e308},
      {1.0, 1e-300, -1.0},
      {0.1, 0.2, 0.3, -0.6},
      {std::ldexp(1.0, -1074), std::ldexp(1.0, -1074), std::ldexp(3.0, -1074)},
      {std::ldexp(1.0, 1023), std::ldexp(1.0, 1023) * -1.0, std::ldexp(1.0, -1074)},
      {1.0, std::ldexp(1.0, -53)},                        // a tie: stays 1
      {1.0, std::ldexp(1.0, -53), std::ldexp(1.0, -1074)}, // just above the tie: rounds up
      {-1.0, -std::ldexp(1.0, -53), -std::ldexp(1.0, -1074)},
      {-0.0, -0.0},
  };
  for (const auto& c : cases) expect_same_double(exact_sum(c), mpfr_sum(c));
  EXPECT_EQ(exact_sum({1.0, std::ldexp(1.0, -53), std::ldexp(1.0, -1074)}), std::nextafter(1.0, 2.0));
}

TEST(ExactSum, matches_mpfr_on_random_wide_range) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    const std::vector<double> xs = wide_random(200, seed);
    expect_same_double(exact_sum(xs), mpfr_sum(xs));
  }
  // Heavy cancellation: x and -x for all but one element.
  std::vector<double> xs = wide_random(100, 99);
  std::vector<double> ys = xs;
  for (double x : xs) ys.push_back(-x);
  ys.push_back(0.125);
  std::shuffle(ys.begin(), ys.end(), std::mt19937_64(5));
  EXPECT_EQ(exact_sum(ys), 0.125);
}

TEST(ExactSum, specials_and_overflow) {
  EXPECT_EQ(exact_sum({1.0, kInf}), kInf);
  EXPECT_EQ(exact_sum({1.0, -kInf}), -kInf);
  EXPECT_TRUE(std::isnan(exact_sum({kInf, -kInf})));
  EXPECT_TRUE(std::isnan(exact_sum({1.0, kNaN})));
  // The finite sum exceeds double: +inf (round_pack's overflow), while the exact value is kept.
  const double big = std::numeric_limits<double>::max();
  EXPECT_EQ(exact_sum({big, big}), kInf);
  EXPECT_EQ(exact_sum({big, big, -big}), big);
}

TEST(ExactSum, order_and_grouping_never_change_the_value) {
  const std::vector<double> xs = wide_random(500, 7);
  ExactSum whole;
  for (double x : xs) whole.add(x);
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 10; ++trial) {
    std::vector<double> ys = xs;
    std::shuffle(ys.begin(), ys.end(), rng);
    // Split into random pieces, merge them in a random order.
    std::vector<ExactSum> pieces(1 + rng() % 9);
    for (double y : ys) pieces[rng() % pieces.size()].add(y);
    std::shuffle(pieces.begin(), pieces.end(), rng);
    ExactSum merged;
    for (const ExactSum& p : pieces) merged.merge(p);
    EXPECT_TRUE(merged == whole);
    expect_same_double(merged.value(), whole.value());
  }
}

TEST(binade_of, exact_floor_log2) {
  EXPECT_EQ(binade_of(1.0), 0);
  EXPECT_EQ(binade_of(-1.5), 0);
  EXPECT_EQ(binade_of(0.75), -1);
  EXPECT_EQ(binade_of(std::nextafter(2.0, 0.0)), 0);
  EXPECT_EQ(binade_of(std::ldexp(1.0, -1074)), -1074);
  EXPECT_EQ(binade_of(std::ldexp(3.0, -1074)), -1073);
  EXPECT_EQ(binade_of(std::ldexp(1.0, -1022)), -1022);
  EXPECT_EQ(binade_of(std::numeric_limits<double>::max()), 1023);
}

TEST(BinadeHistogram, bins_and_specials) {
  BinadeHistogram h;
  for (double x : {1.0, 1.9, -1.0, 0.5, 0.0, -0.0, kInf, kNaN, std::ldexp(1.0, -1074)}) h.add(x);
  EXPECT_EQ(h.counts[0 - BinadeHistogram::kMinBinade], 3u);
  EXPECT_EQ(h.counts[-1 - BinadeHistogram::kMinBinade], 1u);
  EXPECT_EQ(h.counts[0], 1u);
  EXPECT_EQ(h.zero, 2u);
  EXPECT_EQ(h.inf, 1u);
  EXPECT_EQ(h.nan, 1u);
}

TEST(RelErrorHistogram, decade_bins) {
  RelErrorHistogram h;
  h.add(0.0);
  h.add(0.05);    // [1e-2, 1e-1)
  h.add(0.1);     // the double nearest 1e-1 opens [1e-1, 1)
  h.add(1e-30);   // below the first bin: clamped into it
  h.add(1e10);    // above the last: clamped into it
  h.add(1.0);
  EXPECT_EQ(h.exact, 1u);
  EXPECT_EQ(h.counts[-2 - RelErrorHistogram::kMinDecade], 1u);
  EXPECT_EQ(h.counts[-1 - RelErrorHistogram::kMinDecade], 1u);
  EXPECT_EQ(h.counts[0 - RelErrorHistogram::kMinDecade], 1u);
  EXPECT_EQ(h.counts[0], 1u);
  EXPECT_EQ(h.counts[RelErrorHistogram::kBins - 1], 1u);
}

// ---- the reference: every statistic written plainly from its definition ----

struct NaiveQuant {
  std::uint64_t count = 0, compared = 0, exact = 0, underflow = 0, subnormal = 0, overflow = 0, nan_produced = 0;
  double max_abs = 0, max_rel = 0;
  std::vector<double> e, e2, rel, xq, qq, xx;
};

NaiveQuant naive_quant(const std::vector<double>& xs, const Format& f, Rounding r) {
  NaiveQuant n;
  for (double x : xs) {
    const Encoded enc = encode(x, f, r);
    const double q = decode(enc.bits, f);
    ++n.count;
    if (std::isnan(x)) continue;
    if (std::isfinite(x) && (enc.flags & kOverflow)) ++n.overflow;
    if (std::isnan(q)) ++n.nan_produced;
    if (!std::isfinite(x)) continue;
    if (x != 0 && q == 0) ++n.underflow;
    if (classify(enc.bits, f) == Class::subnormal) ++n.subnormal;
    if (!std::isfinite(q)) continue;
    ++n.compared;
    if (q == x) ++n.exact;
    n.max_abs = std::max(n.max_abs, std::fabs(q - x));
    n.e.push_back(q - x);
    n.e2.push_back((q - x) * (q - x));
    n.xq.push_back(x * q);
    n.qq.push_back(q * q);
    n.xx.push_back(x * x);
    if (x != 0) {
      n.rel.push_back(std::fabs(q - x) / std::fabs(x));
      n.max_rel = std::max(n.max_rel, n.rel.back());
    }
  }
  return n;
}

QuantStats quant_stats(const std::vector<double>& xs, const Format& f, Rounding r) {
  QuantStats s;
  for (double x : xs) {
    const Encoded enc = encode(x, f, r);
    s.add(x, decode(enc.bits, f), enc.flags, classify(enc.bits, f));
  }
  return s;
}

std::vector<std::vector<double>> adversarial_tensors() {
  std::vector<std::vector<double>> t;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> gaussian;
  for (int i = 0; i < 2000; ++i) gaussian.push_back(static_cast<float>(normal(rng) * 0.02));
  t.push_back(gaussian);
  std::vector<double> subnormal;  // all fp32 subnormals: below every 8-bit format's range
  for (int i = 1; i <= 300; ++i) subnormal.push_back(std::ldexp(static_cast<double>(i), -149) * (i % 2 ? 1 : -1));
  t.push_back(subnormal);
  std::vector<double> huge;  // all above fp16/fp8's max
  for (int i = 0; i < 300; ++i) huge.push_back((i % 2 ? -1 : 1) * std::ldexp(1.0 + i / 512.0, 20 + i % 90));
  t.push_back(huge);
  std::vector<double> nan_laden = gaussian;
  for (std::size_t i = 0; i < nan_laden.size(); i += 3) nan_laden[i] = kNaN;
  nan_laden[1] = kInf;
  nan_laden[4] = -kInf;
  t.push_back(nan_laden);
  t.push_back(std::vector<double>(500, 0.3));  // constant
  t.push_back({});                             // empty
  t.push_back(std::vector<double>(10, 0.0));   // all zero
  return t;
}

TEST(SourceStats, equals_the_reference_on_random_and_adversarial_tensors) {
  for (const auto& xs : adversarial_tensors()) {
    SourceStats s;
    for (double x : xs) s.add(x);
    std::uint64_t zeros = 0, nans = 0, infs = 0;
    double mn = kInf, mx = -kInf, amax = 0, amin = kInf;
    std::vector<double> finite, abs_finite, squares;
    for (double x : xs) {
      if (std::isnan(x)) {
        ++nans;
      } else if (std::isinf(x)) {
        ++infs;
      } else {
        zeros += x == 0 ? 1 : 0;
        mn = std::min(mn, x);
        mx = std::max(mx, x);
        amax = std::max(amax, std::fabs(x));
        if (x != 0) amin = std::min(amin, std::fabs(x));
        finite.push_back(x);
        abs_finite.push_back(std::fabs(x));
        squares.push_back(x * x);
      }
    }
    EXPECT_EQ(s.count, xs.size());
    EXPECT_EQ(s.zeros, zeros);
    EXPECT_EQ(s.nans, nans);
    EXPECT_EQ(s.infs, infs);
    EXPECT_EQ(s.min, mn);
    EXPECT_EQ(s.max, mx);
    EXPECT_EQ(s.amax, amax);
    EXPECT_EQ(s.amin_nonzero, amin);
    expect_same_double(s.sum.value(), mpfr_sum(finite));
    expect_same_double(s.sum_abs.value(), mpfr_sum(abs_finite));
    expect_same_double(s.sum_sq.value(), mpfr_sum(squares));
    const SourceSummary sum = summarize(s);
    if (!finite.empty()) {
      // The mean from a long double running sum: the exact one agrees to long double's accuracy here.
      long double naive = 0;
      for (double x : finite) naive += x;
      EXPECT_NEAR(sum.mean, static_cast<double>(naive / finite.size()), 1e-15 * (std::fabs(sum.mean) + 1e-300));
    }
    std::uint64_t binned = s.magnitudes.zero + s.magnitudes.inf + s.magnitudes.nan;
    for (auto c : s.magnitudes.counts) binned += c;
    EXPECT_EQ(binned, xs.size());
  }
}

TEST(QuantStats, equals_the_reference_for_every_format_and_tensor) {
  for (const char* name : {"bf16", "fp16", "e4m3", "e5m2", "e2m1"}) {
    const Format f = find_preset(name)->format;
    for (const auto& xs : adversarial_tensors()) {
      for (Rounding r : {Rounding{Mode::rne}, Rounding{Mode::rtz}}) {
        const QuantStats s = quant_stats(xs, f, r);
        const NaiveQuant n = naive_quant(xs, f, r);
        SCOPED_TRACE(std::string(name) + " n=" + std::to_string(xs.size()));
        EXPECT_EQ(s.count, n.count);
        EXPECT_EQ(s.compared, n.compared);
        EXPECT_EQ(s.exact, n.exact);
        EXPECT_EQ(s.underflow_to_zero, n.underflow);
        EXPECT_EQ(s.subnormal, n.subnormal);
        EXPECT_EQ(s.overflow, n.overflow);
        EXPECT_EQ(s.nan_produced, n.nan_produced);
        EXPECT_EQ(s.max_abs_error, n.max_abs);
        EXPECT_EQ(s.max_rel_error, n.max_rel);
        EXPECT_EQ(s.rel_count, n.rel.size());
        expect_same_double(s.sum_error.value(), mpfr_sum(n.e));
        expect_same_double(s.sum_sq_error.value(), mpfr_sum(n.e2));
        expect_same_double(s.sum_rel_error.value(), mpfr_sum(n.rel));
        expect_same_double(s.sum_xq.value(), mpfr_sum(n.xq));
        expect_same_double(s.sum_qq.value(), mpfr_sum(n.qq));
        expect_same_double(s.sum_xx.value(), mpfr_sum(n.xx));
        const ErrorSummary e = summarize(s);
        const double sse = mpfr_sum(n.e2);
        const double sxx = mpfr_sum(n.xx);
        if (n.compared > 0) {
          EXPECT_EQ(e.mse, sse / static_cast<double>(n.compared));
          if (sse > 0 && sxx > 0) {
            EXPECT_DOUBLE_EQ(e.sqnr_db, 10 * std::log10(sxx / sse));
          }
        }
        if (sse == 0) {
          EXPECT_EQ(e.sqnr_db, kInf);
        }
        // Window histogram: each non-zero finite source in exactly one outcome.
        std::uint64_t windowed = 0;
        for (const auto& outcome : s.window.counts) {
          for (auto c : outcome) windowed += c;
        }
        std::uint64_t nonzero_finite = 0;
        for (double x : xs) nonzero_finite += (std::isfinite(x) && x != 0) ? 1 : 0;
        EXPECT_EQ(windowed, nonzero_finite);
        std::uint64_t rel_binned = s.rel_error.exact;
        for (auto c : s.rel_error.counts) rel_binned += c;
        EXPECT_EQ(rel_binned, n.rel.size());
      }
    }
  }
}

TEST(QuantStats, adversarial_outcomes_by_hand) {
  const Format e4m3 = find_preset("e4m3")->format;
  // All fp32 subnormals underflow to zero in e4m3 (min subnormal 2^-9).
  QuantStats s = quant_stats(adversarial_tensors()[1], e4m3, Rounding{});
  EXPECT_EQ(s.underflow_to_zero, 300u);
  EXPECT_EQ(summarize(s).underflow_pct, 100.0);
  EXPECT_EQ(summarize(s).cosine, 0.0);
  // All-huge in e4m3 (overflow to NaN): every element overflows and produces NaN; nothing compared.
  s = quant_stats(adversarial_tensors()[2], e4m3, Rounding{});
  EXPECT_EQ(s.overflow, 300u);
  EXPECT_EQ(s.nan_produced, 300u);
  EXPECT_EQ(s.compared, 0u);
  // Constant 0.3 in bf16: one error repeated, the bias equals it.
  s = quant_stats(std::vector<double>(500, 0.3), find_preset("bf16")->format, Rounding{});
  const double q = quantize(0.3, find_preset("bf16")->format, Rounding{});
  EXPECT_EQ(summarize(s).mean_error, q - 0.3);
  EXPECT_EQ(summarize(s).max_abs_error, std::fabs(q - 0.3));
  // All-zero source: exact, SQNR +inf, cosine 1.
  s = quant_stats(std::vector<double>(10, 0.0), e4m3, Rounding{});
  EXPECT_EQ(s.exact, 10u);
  EXPECT_EQ(summarize(s).sqnr_db, kInf);
  EXPECT_EQ(summarize(s).cosine, 1.0);
}


TEST(QuantStats, merge_of_any_split_equals_one_pass) {
  const Format f = find_preset("e5m2")->format;
  const std::vector<double> xs = adversarial_tensors()[3];  // NaN-laden gaussian
  const QuantStats whole = quant_stats(xs, f, Rounding{});
  std::mt19937_64 rng(1);
  for (int trial = 0; trial < 5; ++trial) {
    std::vector<QuantStats> parts(2 + rng() % 5);
    for (double x : xs) {
      const Encoded enc = encode(x, f, Rounding{});
      parts[rng() % parts.size()].add(x, decode(enc.bits, f), enc.flags, classify(enc.bits, f));
    }
    QuantStats merged;
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) merged.merge(*it);
    expect_same(merged, whole, "trial " + std::to_string(trial));
  }
}

TEST(ScaleSummary, merge_and_groups_without_values) {
  QuantStats a;
  a.add_scale(Scale{.scale = 4.0, .scale_inv = 0.25}, true);
  a.add_scale(Scale{.scale = 1.0, .scale_inv = 1.0}, false);  // an all-zero block: counted, no extrema
  QuantStats b;
  b.add_scale(Scale{.scale = 8.0, .scale_inv = 0.125, .saturated = true}, true);
  a.merge(b);
  EXPECT_EQ(a.scales.count, 3u);
  EXPECT_EQ(a.scales.saturated, 1u);
  EXPECT_EQ(a.scales.scale_min, 4.0);
  EXPECT_EQ(a.scales.scale_max, 8.0);
  EXPECT_EQ(a.scales.scale_inv_min, 0.125);
  EXPECT_EQ(a.scales.scale_inv_max, 0.25);
}

TEST(te_debug_stats, by_hand) {
  SourceStats s;
  for (double x : {1.0, -2.0, 0.0, 4.0}) s.add(x);
  QuantStats q;
  q.add_scale(Scale{.scale = 112.0, .scale_inv = 0.5}, true);
  const TeDebugStats t = te_debug_stats(s, q);
  EXPECT_EQ(t.min, -2.0);
  EXPECT_EQ(t.max, 4.0);
  EXPECT_EQ(t.mean, 0.75);
  EXPECT_EQ(t.l1_norm, 7.0);
  EXPECT_EQ(t.l2_norm, std::sqrt(21.0));
  EXPECT_EQ(t.amax, 4.0);
  EXPECT_EQ(t.dynamic_range, 2.0);  // log2(4 / 1)
  EXPECT_DOUBLE_EQ(t.std, std::sqrt(21.0 / 4 - 0.75 * 0.75));
  EXPECT_EQ(t.scale_inv_min, 0.5);
}

// The bin search equals the last-edge-below rule (std::upper_bound over the
// edges), at, next to and between every edge, and at the extremes.
TEST(RelErrorHistogram, bin_of_equals_upper_bound_over_the_edges) {
  const auto& edges = RelErrorHistogram::kEdges;
  auto reference = [&](double r) {
    const int bin = static_cast<int>(std::upper_bound(edges.begin(), edges.end(), r) - edges.begin()) - 1;
    return std::clamp(bin, 0, RelErrorHistogram::kBins - 1);
  };
  std::vector<double> values = {std::numeric_limits<double>::denorm_min(), 1e-300, 1e300,
                                std::numeric_limits<double>::max(), std::numeric_limits<double>::infinity()};
  for (const double e : edges) {
    for (const double v : {e, std::nextafter(e, 0.0), std::nextafter(e, 1e10), e * 3, e * 0.5}) values.push_back(v);
  }
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> exponent(-80.0, 20.0);
  for (int i = 0; i < 20000; ++i) values.push_back(std::exp2(exponent(rng)));
  for (const double v : values) EXPECT_EQ(RelErrorHistogram::bin_of(v), reference(v)) << v;
}

// The per-exponent buffer adds exactly what ExactSum::add adds, for any flush
// pattern, with subnormals, huge values, cancellation and specials.
TEST(ExactSumBuffer, equals_exact_sum_for_any_flush_pattern) {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<std::uint64_t> bits;
  std::vector<double> values;
  for (int i = 0; i < 30000; ++i) {
    double v = std::bit_cast<double>(bits(rng));
    if (i % 3 == 0) v = std::ldexp(static_cast<double>(static_cast<float>(v)), 0);
    if (std::isnan(v) && i % 50 != 0) v = 1.0;  // a few NaNs and infinities only
    values.push_back(v);
    if (i % 7 == 0) values.push_back(-v);
  }
  values.push_back(std::numeric_limits<double>::denorm_min());
  values.push_back(std::numeric_limits<double>::max());
  values.push_back(std::numeric_limits<double>::max());
  ExactSum direct;
  for (const double v : values) direct.add(v);
  for (const std::size_t flush_every : {std::size_t{1}, std::size_t{1000}, values.size()}) {
    ExactSum buffered;
    ExactSumBuffer buffer;
    buffer.bind(buffered);
    for (std::size_t i = 0; i < values.size(); ++i) {
      buffer.add(values[i]);
      if ((i + 1) % flush_every == 0) buffer.flush();
    }
    buffer.flush();
    EXPECT_TRUE(buffered == direct) << flush_every;
    const double a = buffered.value();
    const double b = direct.value();
    EXPECT_TRUE(a == b || (std::isnan(a) && std::isnan(b)));
  }
  // Finite values only: a finite exact sum, the same through the buffer.
  ExactSum finite;
  ExactSumBuffer buffer;
  buffer.bind(finite);
  ExactSum reference;
  for (const double v : values) {
    if (!std::isfinite(v) || std::fabs(v) > 1e300) continue;
    buffer.add(v);
    reference.add(v);
  }
  buffer.flush();
  EXPECT_TRUE(finite == reference);
  EXPECT_EQ(finite.value(), reference.value());
}

// The window histogram covers only the binades it has seen; adds in any order,
// merges of any ranges and trim() keep every count, and equality ignores the range.
TEST(WindowHistogram, ranges_grow_merge_and_trim_without_losing_counts) {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int> binade(BinadeHistogram::kMinBinade, BinadeHistogram::kMaxBinade);
  std::uniform_int_distribution<int> outcome(0, WindowHistogram::kOutcomes - 1);
  std::vector<std::array<std::uint64_t, WindowHistogram::kOutcomes>> reference(BinadeHistogram::kBins);
  std::vector<WindowHistogram> parts(5);
  for (int i = 0; i < 5000; ++i) {
    // Mostly a narrow band, sometimes the extremes, as real tensors.
    const int b = i % 10 == 0 ? binade(rng) : -20 + static_cast<int>(rng() % 12);
    const int o = outcome(rng);
    parts[static_cast<std::size_t>(i) % parts.size()].add(b, static_cast<WindowHistogram::Outcome>(o));
    ++reference[static_cast<std::size_t>(b - BinadeHistogram::kMinBinade)][static_cast<std::size_t>(o)];
  }
  parts[0].add(BinadeHistogram::kMinBinade, WindowHistogram::underflow);
  parts[1].add(BinadeHistogram::kMaxBinade, WindowHistogram::overflow);
  ++reference.front()[WindowHistogram::underflow];
  ++reference.back()[WindowHistogram::overflow];
  parts[2].trim();
  WindowHistogram merged;
  for (const WindowHistogram& p : parts) merged.merge(p);
  WindowHistogram reversed;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) reversed.merge(*it);
  for (int b = BinadeHistogram::kMinBinade; b <= BinadeHistogram::kMaxBinade; ++b) {
    for (int o = 0; o < WindowHistogram::kOutcomes; ++o) {
      ASSERT_EQ(merged.at(b, static_cast<WindowHistogram::Outcome>(o)),
                reference[static_cast<std::size_t>(b - BinadeHistogram::kMinBinade)][static_cast<std::size_t>(o)]);
    }
  }
  EXPECT_TRUE(merged == reversed);
  WindowHistogram trimmed = merged;
  trimmed.trim();
  EXPECT_TRUE(trimmed == merged);
  EXPECT_EQ(trimmed.first, BinadeHistogram::kMinBinade);
  EXPECT_EQ(trimmed.counts[0].size(), static_cast<std::size_t>(BinadeHistogram::kBins));
  WindowHistogram narrow;
  narrow.add(-3, WindowHistogram::normal);
  narrow.add(2, WindowHistogram::subnormal);
  narrow.trim();
  EXPECT_EQ(narrow.first, -3);
  EXPECT_EQ(narrow.counts[WindowHistogram::normal], (std::vector<std::uint64_t>{1, 0, 0, 0, 0, 0}));
  EXPECT_FALSE(narrow == trimmed);
  WindowHistogram empty;
  empty.trim();
  EXPECT_TRUE(empty == WindowHistogram{});
  EXPECT_FALSE(empty == narrow);
}

TEST(ExactSum, add_integer_and_specials_equal_adding_the_doubles) {
  const double tiny = std::numeric_limits<double>::denorm_min();
  ExactSum by_int;
  by_int.add_integer(-12345, 1074);  // -12345 * 2^0
  by_int.add_integer(3, 0);          // 3 * 2^-1074
  by_int.add_integer(std::numeric_limits<std::int64_t>::min(), 1074 + 10);  // -2^63 * 2^10
  by_int.add_integer(std::numeric_limits<std::int64_t>::max(), 1074 - 70);
  ExactSum by_double;
  for (double x : {-12345.0, 3 * tiny, -std::ldexp(1.0, 73), std::ldexp(1.0, 63 - 70), -std::ldexp(1.0, -70)}) {
    by_double.add(x);
  }
  EXPECT_TRUE(by_int == by_double);
  expect_same_double(by_int.value(), by_double.value());
  by_int.add_specials(1, 0, 0);
  EXPECT_EQ(by_int.value(), kInf);
  by_int.add_specials(0, 1, 0);
  EXPECT_TRUE(std::isnan(by_int.value()));
}

TEST(WindowHistogram, add_count_equals_repeated_adds) {
  WindowHistogram once;
  WindowHistogram repeated;
  once.add(-7, WindowHistogram::subnormal, 5);
  once.add(12, WindowHistogram::overflow, 2);
  once.add(3, WindowHistogram::normal, 0);  // no count: no range either
  for (int i = 0; i < 5; ++i) repeated.add(-7, WindowHistogram::subnormal);
  for (int i = 0; i < 2; ++i) repeated.add(12, WindowHistogram::overflow);
  EXPECT_TRUE(once == repeated);
  once.trim();
  EXPECT_EQ(once.first, -7);
}

TEST(SourceStats, the_sign_of_a_zero_extremum_does_not_depend_on_the_order) {
  SourceStats plus_first;
  SourceStats minus_first;
  for (double x : {0.0, -0.0}) plus_first.add(x);
  for (double x : {-0.0, 0.0}) minus_first.add(x);
  for (const SourceStats* s : {&plus_first, &minus_first}) {
    EXPECT_TRUE(std::signbit(s->min));   // -0 < +0
    EXPECT_FALSE(std::signbit(s->max));
  }
  SourceStats a;
  SourceStats b;
  a.add(0.0);
  b.add(-0.0);
  SourceStats ab = a;
  ab.merge(b);
  SourceStats ba = b;
  ba.merge(a);
  EXPECT_TRUE(std::signbit(ab.min) && std::signbit(ba.min));
  EXPECT_TRUE(!std::signbit(ab.max) && !std::signbit(ba.max));
}

}  // namespace
}  // namespace fpscope
