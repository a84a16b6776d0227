// analysis/stats.h: mergeable statistics of a source tensor and of its quantized copy in one (format, recipe, rounding).
//
// Every statistic is a value with an associative, commutative merge()
// (STYLE.md convention 4): counts and histograms are integers, extrema are
// min/max, and every sum is an ExactSum (a fixed-point superaccumulator that
// holds the exact sum of any number of doubles), so the result is the same bit
// for bit whatever the thread count, chunk size or merge order.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/scaling.h"

namespace fpscope {

// The exact sum of doubles (Neal, "Fast exact summation using small and large
// superaccumulators", 2015: the "small superaccumulator"). The number is held
// in 32-bit digits of int64 limbs in units of 2^-1074, so every finite double
// adds exactly; carries are propagated lazily. value() rounds the exact sum to
// the nearest double (ties to even) through round_pack.
class ExactSum {
 public:
  void add(double x);
  void merge(const ExactSum& other);
  // The exact sum correctly rounded; +-inf when an infinity was added (NaN when
  // both signs or a NaN were), +-inf also when the finite sum exceeds double.
  double value() const;
  bool operator==(const ExactSum& other) const;  // same exact value and specials

  static constexpr int kLimbs = 68;  // 2098 bits of fp64's range + headroom, in 32-bit digits
 private:
  void normalize();
  std::array<std::int64_t, kLimbs> limb_{};
  std::uint32_t pending_ = 0;  // adds since the last normalize (each grows a limb by < 2^32)
  std::uint64_t pos_inf_ = 0;
  std::uint64_t neg_inf_ = 0;
  std::uint64_t nan_ = 0;
};

// Magnitudes by binade: bin b counts |x| in [2^b, 2^(b+1)), b from -1074 (the
// smallest fp64 subnormal) to 1023, plus zero, inf and NaN bins.
struct BinadeHistogram {
  static constexpr int kMinBinade = -1074;
  static constexpr int kMaxBinade = 1023;
  static constexpr int kBins = kMaxBinade - kMinBinade + 1;
  std::vector<std::uint64_t> counts = std::vector<std::uint64_t>(kBins, 0);
  std::uint64_t zero = 0;
  std::uint64_t inf = 0;
  std::uint64_t nan = 0;

  void add(double x);
  void merge(const BinadeHistogram& other);
  bool operator==(const BinadeHistogram&) const = default;
};

// floor(log2(|x|)) for finite non-zero x, exactly (subnormals included).
int binade_of(double x);

// The format's window over the source's binades: for each source binade, how
// many elements underflowed to zero, landed subnormal, stayed normal, or
// overflowed (saturated or became inf/NaN). Indexed like BinadeHistogram.
struct WindowHistogram {
  enum Outcome : int { underflow = 0, subnormal = 1, normal = 2, overflow = 3 };
  static constexpr int kOutcomes = 4;
  std::array<std::vector<std::uint64_t>, kOutcomes> counts{
      std::vector<std::uint64_t>(BinadeHistogram::kBins, 0), std::vector<std::uint64_t>(BinadeHistogram::kBins, 0),
      std::vector<std::uint64_t>(BinadeHistogram::kBins, 0), std::vector<std::uint64_t>(BinadeHistogram::kBins, 0)};

  void add(int binade, Outcome outcome) { ++counts[outcome][binade - BinadeHistogram::kMinBinade]; }
  void merge(const WindowHistogram& other);
  bool operator==(const WindowHistogram&) const = default;
};

// Per-element relative error |q - x| / |x| on log10 bins: bin d counts errors in
// [10^d, 10^(d+1)) (the doubles nearest those powers), d from kMinDecade to
// kMaxDecade; smaller non-zero errors go to the first bin, larger to the last;
// exact results (error 0) have their own bin.
struct RelErrorHistogram {
  static constexpr int kMinDecade = -20;
  static constexpr int kMaxDecade = 3;
  static constexpr int kBins = kMaxDecade - kMinDecade + 1;
  std::array<std::uint64_t, kBins> counts{};
  std::uint64_t exact = 0;

  void add(double rel_error);
  void merge(const RelErrorHistogram& other);
  bool operator==(const RelErrorHistogram&) const = default;
};

// Combines two scale summaries (count 0 = empty; groups without values carry
// +inf / -inf extrema so that they never win a min or max).
void merge_scale_summary(ScaleSummary& into, const ScaleSummary& other);

// Statistics of the source tensor (the same for every combination).
struct SourceStats {
  std::uint64_t count = 0;  // elements
  std::uint64_t zeros = 0;
  std::uint64_t nans = 0;
  std::uint64_t infs = 0;
  double min = std::numeric_limits<double>::infinity();    // over finite elements
  double max = -std::numeric_limits<double>::infinity();
  double amax = 0.0;                                       // max |x| over finite elements
  double amin_nonzero = std::numeric_limits<double>::infinity();  // min |x| over finite non-zero
  ExactSum sum;      // finite elements
  ExactSum sum_abs;
  ExactSum sum_sq;   // each x*x rounded to double, then summed exactly
  BinadeHistogram magnitudes;

  void add(double x);
  void merge(const SourceStats& other);
  std::uint64_t finite() const { return count - nans - infs; }
};

// Statistics of one quantized copy. Error statistics cover the elements whose
// source and result are both finite ("compared"); results that became inf or
// NaN are counted in `overflow` / `nan_produced` instead.
struct QuantStats {
  std::uint64_t count = 0;              // every element seen
  std::uint64_t compared = 0;           // finite source and finite result
  std::uint64_t exact = 0;              // result == source (finite)
  std::uint64_t underflow_to_zero = 0;  // non-zero finite source, zero result
  std::uint64_t subnormal = 0;          // result encoded as a subnormal of the element format
  std::uint64_t overflow = 0;           // finite source whose rounding overflowed (saturated, inf or NaN)
  std::uint64_t nan_produced = 0;       // non-NaN source, NaN result
  std::uint64_t rel_count = 0;          // compared elements with a non-zero source
  double max_abs_error = 0.0;
  double max_rel_error = 0.0;
  ExactSum sum_error;       // q - x (the bias: where SR and RNE differ)
  ExactSum sum_sq_error;    // (q - x)^2
  ExactSum sum_rel_error;   // |q - x| / |x| over non-zero x
  ExactSum sum_xq;          // x * q, for the cosine similarity
  ExactSum sum_qq;          // q * q
  ExactSum sum_xx;          // x * x over the compared elements
  WindowHistogram window;
  RelErrorHistogram rel_error;
  ScaleSummary scales;      // merged: counts add, extrema combine

  // One element: source x, represented value q, the encoding's flags and class.
  void add(double x, double q, std::uint8_t flags, Class result_class);
  // One group's scale (recipes with scales). has_values: the group's amax was non-zero.
  void add_scale(const Scale& s, bool has_values);
  void merge(const QuantStats& other);
};

// Statistics derived from the sums, as printed.
struct ErrorSummary {
  double mse = 0.0;
  double rmse = 0.0;
  double mean_abs_error = 0.0;  // not printed by TE; kept for the CSV
  double mean_error = 0.0;      // bias
  double mean_rel_error = 0.0;
  double max_abs_error = 0.0;
  double max_rel_error = 0.0;
  double sqnr_db = 0.0;         // 10 log10(sum x^2 / sum (q-x)^2); +inf when exact
  double cosine = 0.0;          // sum xq / sqrt(sum x^2 sum q^2); 1 when both are all zero
  double underflow_pct = 0.0;   // of the elements
  double overflow_pct = 0.0;
  double subnormal_pct = 0.0;
  double exact_pct = 0.0;
};
ErrorSummary summarize(const QuantStats& q);

// The Transformer Engine debug statistics under their names
// (transformer_engine/debug/features/log_tensor_stats.py, log_fp8_tensor_stats.py):
// min, max, mean, std, l1_norm, l2_norm, cur_amax (amax), dynamic_range
// (log2(amax / amin_nonzero)) of the source; underflows%, overflows%, mse,
// scale_inv_min, scale_inv_max of the quantized copy.
struct TeDebugStats {
  double min, max, mean, std, l1_norm, l2_norm, amax, dynamic_range;
  double underflows_pct, overflows_pct, mse, scale_inv_min, scale_inv_max;
};
TeDebugStats te_debug_stats(const SourceStats& s, const QuantStats& q);

// Source statistics derived from the sums.
struct SourceSummary {
  double mean = 0.0;
  double std = 0.0;       // population standard deviation, from the exact sums
  double l1_norm = 0.0;
  double l2_norm = 0.0;
  double dynamic_range_binades = 0.0;  // log2(amax / amin_nonzero); 0 without non-zero values
};
SourceSummary summarize(const SourceStats& s);

}  // namespace fpscope
