// analysis/stats.h: mergeable statistics of a source tensor and of its quantized copy in one (format, recipe, rounding).
//
// Every statistic is a value with an associative, commutative merge()
// (STYLE.md convention 4): counts and histograms are integers, extrema are
// min/max, and every sum is an ExactSum (a fixed-point superaccumulator that
// holds the exact sum of any number of doubles), so the result is the same bit
// for bit whatever the thread count, chunk size or merge order.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/config.h"
#include "core/round.h"
#include "core/scaling.h"

namespace fpscope {

// The exact sum of doubles (Neal, "Fast exact summation using small and large
// superaccumulators", 2015: the "small superaccumulator"). The number is held
// in 32-bit digits of int64 limbs in units of 2^-1074, so every finite double
// adds exactly; carries are propagated lazily. value() rounds the exact sum to
// the nearest double (ties to even) through round_pack.
class ExactSum {
 public:
  // Inline and branch-free but for inf/NaN: the engine calls it several times per
  // element per combination (bench/RESULTS.md, "analysis engine").
  void add(double x) {
    const std::uint64_t bits = std::bit_cast<std::uint64_t>(x);
    const auto field = static_cast<unsigned>((bits >> 52) & 0x7FF);
    if (field == 0x7FF) [[unlikely]] {
      add_special(bits);
      return;
    }
    const unsigned normal = field != 0 ? 1u : 0u;
    const std::uint64_t mantissa = (bits & ((std::uint64_t{1} << 52) - 1)) | (std::uint64_t{normal} << 52);
    // value = mantissa * 2^-1074 * 2^index: the mantissa's lowest bit sits at bit `index`.
    const unsigned index = field - normal;
    const unsigned limb = index >> 5;
    const unsigned shift = index & 31;
    const auto lo = static_cast<std::int64_t>((mantissa << shift) & 0xFFFFFFFFu);
    const auto mid = static_cast<std::int64_t>((mantissa >> (32 - shift)) & 0xFFFFFFFFu);
    const auto hi = static_cast<std::int64_t>((mantissa >> 32) >> (32 - shift));  // 0 when shift == 0
    const std::int64_t negative = -static_cast<std::int64_t>(bits >> 63);     // 0 or -1: (v ^ n) - n = -v
    limb_[limb] += (lo ^ negative) - negative;
    limb_[limb + 1] += (mid ^ negative) - negative;
    limb_[limb + 2] += (hi ^ negative) - negative;
    if (++pending_ >= kNormalizeEvery) normalize();
  }
  void merge(const ExactSum& other);
  // Adds v * 2^(index - 1074) exactly, index <= 2110: for exact sums kept elsewhere
  // as integers per exponent (gpu/ folds its per-exponent bins in with it).
  void add_integer(std::int64_t v, unsigned index) {
    if (v == 0) return;
    const std::uint64_t m = v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
    add_scaled(m >> 1, v < 0, index + 1);  // m <= 2^63: halves keep add_scaled's m < 2^63
    add_scaled(m & 1, v < 0, index);
  }
  // Infinities and NaNs counted elsewhere (value() treats them as add() does).
  void add_specials(std::uint64_t pos_inf, std::uint64_t neg_inf, std::uint64_t nan) {
    pos_inf_ += pos_inf;
    neg_inf_ += neg_inf;
    nan_ += nan;
  }
  // Takes back one +inf added before (a finite term is taken back by adding its negation).
  void remove_pos_inf() {
    FPSCOPE_ASSERT(pos_inf_ > 0);
    --pos_inf_;
  }
  // The exact sum correctly rounded; +-inf when an infinity was added (NaN when
  // both signs or a NaN were), +-inf also when the finite sum exceeds double.
  double value() const;
  bool operator==(const ExactSum& other) const;  // same exact value and specials

  static constexpr int kLimbs = 68;  // 2098 bits of fp64's range + headroom, in 32-bit digits
 private:
  friend class ExactSumBuffer;
  // Adds (negative ? -m : m) * 2^(index - 1074) for m < 2^63, index <= 2071.
  void add_scaled(std::uint64_t m, bool negative, unsigned index) {
    const unsigned limb = index >> 5;
    const unsigned shift = index & 31;
    const auto lo = static_cast<std::int64_t>((m << shift) & 0xFFFFFFFFu);
    const auto mid = static_cast<std::int64_t>((m >> (32 - shift)) & 0xFFFFFFFFu);
    const auto hi = static_cast<std::int64_t>((m >> 32) >> (32 - shift));  // < 2^31
    const std::int64_t n = negative ? -1 : 0;
    limb_[limb] += (lo ^ n) - n;
    limb_[limb + 1] += (mid ^ n) - n;
    limb_[limb + 2] += (hi ^ n) - n;
    if (++pending_ >= kNormalizeEvery) normalize();
  }
  static constexpr std::uint32_t kNormalizeEvery = 1u << 30;  // each add grows a limb by < 2^32; int64 holds 2^31 of them
  void add_special(std::uint64_t bits);  // inf or NaN
  void normalize();
  std::array<std::int64_t, kLimbs> limb_{};
  std::uint32_t pending_ = 0;  // adds since the last normalize (each grows a limb by < 2^32)
  std::uint64_t pos_inf_ = 0;
  std::uint64_t neg_inf_ = 0;
  std::uint64_t nan_ = 0;
};

// min and max in the total order -0 < +0: the sign of a zero extremum then does
// not depend on which element, chunk or thread came first. Not for NaN.
FPSCOPE_HD inline double ordered_min(double a, double b) { return (b < a || (b == a && std::signbit(b))) ? b : a; }
FPSCOPE_HD inline double ordered_max(double a, double b) { return (b > a || (b == a && !std::signbit(b))) ? b : a; }

// floor(log2(|x|)) for finite non-zero x, exactly (subnormals included). Host and device.
FPSCOPE_HD inline int binade_of(double x) {
  const std::uint64_t bits = std::bit_cast<std::uint64_t>(x);
  const int field = static_cast<int>((bits >> 52) & 0x7FF);
  if (field != 0) [[likely]] return field - 1023;
  const std::uint64_t mantissa = bits & ((std::uint64_t{1} << 52) - 1);
  return -1074 + (63 - detail::count_leading_zeros(mantissa));
}

// A scratch front end of an ExactSum for hot loops (after Neal 2015's "large
// superaccumulator"): per exponent, two int64 bins hold the sums of the signed
// high (bits 26..52) and low (bits 0..25) parts of the significands of that
// exponent, exactly, for up to 2^36 adds, with no per-add check; flush() folds
// the touched exponents (a flag per 32-exponent group) into the ExactSum. The
// sum is exact either way, so the result is the same bit for bit as
// ExactSum::add. 32 KiB: one per accumulator and thread, never stored with results.
class ExactSumBuffer {
 public:
  static constexpr std::uint64_t kMaxAdds = std::uint64_t{1} << 36;  // between flushes: 2^36 * 2^27 = 2^63
  // Where flush() adds to; set before the first add.
  void bind(ExactSum& target) { target_ = &target; }
  FPSCOPE_FORCEINLINE void add(double x) {
    const std::uint64_t bits = std::bit_cast<std::uint64_t>(x);
    const auto field = static_cast<unsigned>((bits >> 52) & 0x7FF);
    if (field == 0x7FF) [[unlikely]] {
      target_->add_special(bits);
      return;
    }
    const unsigned normal = field != 0 ? 1u : 0u;
    const auto mantissa =
        static_cast<std::int64_t>((bits & ((std::uint64_t{1} << 52) - 1)) | (std::uint64_t{normal} << 52));
    const std::int64_t negative = -static_cast<std::int64_t>(bits >> 63);  // 0 or -1: (v ^ n) - n = -v
    const unsigned index = field - normal;
    high_[index] += ((mantissa >> kSplit) ^ negative) - negative;
    low_[index] += ((mantissa & kLowMask) ^ negative) - negative;
    // A plain store, not a read-modify-write of one bitmap word: consecutive adds
    // then do not wait on each other through memory (bench/RESULTS.md).
    touched_[index >> 5] = 1;
  }
  // ExactSum::remove_pos_inf on the bound sum (specials are never buffered).
  void remove_pos_inf() { target_->remove_pos_inf(); }
  // Adds everything buffered to the bound ExactSum and empties the buffer.
  void flush() {
    for (unsigned group = 0; group < kGroups; ++group) {
      if (touched_[group] == 0) continue;
      touched_[group] = 0;
      for (unsigned i = group * 32; i < group * 32 + 32; ++i) {
        fold(high_[i], i + kSplit);
        fold(low_[i], i);
        high_[i] = low_[i] = 0;
      }
    }
  }

 private:
  static constexpr int kSplit = 26;
  static constexpr std::int64_t kLowMask = (std::int64_t{1} << kSplit) - 1;
  void fold(std::int64_t v, unsigned index) {
    if (v != 0) target_->add_scaled(v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v), v < 0, index);
  }
  static constexpr unsigned kGroups = 2048 / 32;
  std::array<std::int64_t, 2048> high_{};
  std::array<std::int64_t, 2048> low_{};
  std::array<std::uint8_t, kGroups> touched_{};  // groups of 32 exponents with adds since the last flush
  ExactSum* target_ = nullptr;
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

  void add(double x) {
    if (std::isnan(x)) {
      ++nan;
    } else if (std::isinf(x)) {
      ++inf;
    } else if (x == 0.0) {
      ++zero;
    } else {
      ++counts[static_cast<std::size_t>(binade_of(x) - kMinBinade)];
    }
  }
  void merge(const BinadeHistogram& other);
  bool operator==(const BinadeHistogram&) const = default;
};

// The format's window over the source's binades: for each source binade, how
// many elements underflowed to zero, landed subnormal, stayed normal, or
// overflowed (saturated or became inf/NaN). counts[o][i] is binade first + i:
// the vectors cover only the binades seen (grown on demand, trimmed to the
// non-empty range by trim()), so a result holds tens of bins, not 4 x 2098.
// Equality is of the counts per binade, whatever the covered range.
struct WindowHistogram {
  enum Outcome : int { underflow = 0, subnormal = 1, normal = 2, overflow = 3 };
  static constexpr int kOutcomes = 4;
  int first = 0;  // binade of counts[o][0]
  std::array<std::vector<std::uint64_t>, kOutcomes> counts{};

  void add(int binade, Outcome outcome) {
    const auto i = static_cast<std::size_t>(binade - first);  // wraps below first
    if (i >= counts[0].size()) [[unlikely]] {
      cover(binade);
      ++counts[outcome][static_cast<std::size_t>(binade - first)];
      return;
    }
    ++counts[outcome][i];
  }
  // `count` elements at once (merging counts kept elsewhere, e.g. on a GPU).
  void add(int binade, Outcome outcome, std::uint64_t count) {
    if (count == 0) return;
    if (static_cast<std::size_t>(binade - first) >= counts[0].size()) cover(binade);
    counts[outcome][static_cast<std::size_t>(binade - first)] += count;
  }
  // The count of one binade and outcome (0 outside the covered range).
  std::uint64_t at(int binade, Outcome outcome) const {
    const auto i = static_cast<std::size_t>(binade - first);
    return i < counts[0].size() ? counts[outcome][i] : 0;
  }
  void merge(const WindowHistogram& other);
  void trim();  // covers exactly the non-empty binades (none: first = 0, empty vectors)
  bool operator==(const WindowHistogram& other) const;

 private:
  void cover(int binade);  // grows the range to include binade (with slack)
  void resize_range(int lo, int hi);
};

namespace detail {
// RelErrorHistogram's edges, and its bin lookup per exponent field of a
// non-negative double: the bin of the binade's lowest value and the edge inside
// the binade (+inf when none: a binade holds at most one, decades being 3.3
// binades apart). Field 0 (subnormals) maps to bin 0; 0x7FF is never looked up.
inline constexpr std::array<double, 25> kRelErrorEdges{
    1e-20, 1e-19, 1e-18, 1e-17, 1e-16, 1e-15, 1e-14, 1e-13, 1e-12, 1e-11, 1e-10, 1e-9, 1e-8,
    1e-7,  1e-6,  1e-5,  1e-4,  1e-3,  1e-2,  1e-1,  1e0,   1e1,   1e2,   1e3,   1e4};
struct RelErrorBinadeBins {
  int first;
  double edge;
};
constexpr std::array<RelErrorBinadeBins, 2048> make_rel_error_binade_bins() {
  constexpr int kBins = static_cast<int>(kRelErrorEdges.size()) - 1;
  std::array<RelErrorBinadeBins, 2048> t{};
  const double inf = std::numeric_limits<double>::infinity();
  for (std::uint64_t field = 0; field < 2048; ++field) {
    t[field] = RelErrorBinadeBins{0, inf};
    if (field == 0 || field == 2047) continue;
    const double lo = std::bit_cast<double>(field << 52);        // 2^(field - 1023)
    const double hi = std::bit_cast<double>((field + 1) << 52);  // the next binade (inf for 2046)
    for (int k = 1; k < kBins; ++k) {  // the bin: how many of edges 1 .. kBins - 1 are <= the value
      const double e = kRelErrorEdges[static_cast<std::size_t>(k)];
      if (e <= lo) ++t[field].first;
      if (lo < e && e < hi) t[field].edge = e;
    }
  }
  return t;
}
inline constexpr std::array<RelErrorBinadeBins, 2048> kRelErrorBinadeBins = make_rel_error_binade_bins();
}  // namespace detail

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

  // The doubles nearest 10^kMinDecade .. 10^(kMaxDecade + 1): the bins' edges.
  static constexpr std::array<double, kBins + 1> kEdges = detail::kRelErrorEdges;
  void add(double rel_error) {
    if (rel_error == 0.0) {
      ++exact;
      return;
    }
    ++counts[static_cast<std::size_t>(bin_of(rel_error))];
  }
  // The bin of a non-zero error: the last edge <= it, clamped to the end bins.
  // A binade holds at most one edge (decades are 3.3 binades apart), so the bin
  // is the binade's first bin, plus one at or above the edge inside it.
  static int bin_of(double rel_error) {
    if (!(rel_error < kEdges[kBins - 1])) return kBins - 1;  // NaN too, as std::upper_bound placed it
    const detail::RelErrorBinadeBins& b =
        detail::kRelErrorBinadeBins[static_cast<std::size_t>((std::bit_cast<std::uint64_t>(rel_error) >> 52) & 0x7FF)];
    return b.first + (rel_error >= b.edge ? 1 : 0);
  }
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
  double min = std::numeric_limits<double>::infinity();    // over finite elements; -0 below +0
  double max = -std::numeric_limits<double>::infinity();
  double amax = 0.0;                                       // max |x| over finite elements
  double amin_nonzero = std::numeric_limits<double>::infinity();  // min |x| over finite non-zero
  ExactSum sum;      // finite elements
  ExactSum sum_abs;
  ExactSum sum_sq;   // each x*x rounded to double, then summed exactly
  BinadeHistogram magnitudes;

  void add(double x) { add_with(x, sum, sum_abs, sum_sq, magnitudes); }
  // add() with the sums going to `s_*` (ExactSum or an ExactSumBuffer bound to
  // ours) and the magnitude to `mags` (the engine keeps each chunk's own).
  template <class Sum>
  void add_with(double x, Sum& s_sum, Sum& s_abs, Sum& s_sq, BinadeHistogram& mags);
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
  void add(double x, double q, std::uint8_t flags, Class result_class) {
    add_with(x, q, flags, result_class, sum_error, sum_sq_error, sum_rel_error, sum_xq, sum_qq, sum_xx);
  }
  // How a caller of add_with takes sums over from it (bit flags; the analysis
  // engine does so once per chunk, saving exact adds per element). The sums end
  // the same, exactly, whichever is used:
  // - kXxFromSource: the caller adds the source's sum of x*x over the finite
  //   elements to sum_xx; add_with takes back the finite elements that are not
  //   compared (their result is inf or NaN).
  // - kNormalWindowFromSource: the caller adds the window's `normal` outcomes
  //   (each finite non-zero source element whose outcome is none of the others)
  //   from the chunk's source magnitudes; add_with adds only the other outcomes.
  enum SumSharing : unsigned {
    kSumsPerElement = 0,
    kXxFromSource = 1,
    kNormalWindowFromSource = 2,
  };
  template <class Sum, unsigned kSharing = kSumsPerElement>
  void add_with(double x, double q, std::uint8_t flags, Class result_class, Sum& s_error, Sum& s_sq_error,
                Sum& s_rel_error, Sum& s_xq, Sum& s_qq, Sum& s_xx);
  // One group's scale (recipes with scales). has_values: the group's amax was non-zero.
  void add_scale(const Scale& s, bool has_values);
  void merge(const QuantStats& other);
};

template <class Sum>
void SourceStats::add_with(double x, Sum& s_sum, Sum& s_abs, Sum& s_sq, BinadeHistogram& mags) {
  ++count;
  mags.add(x);
  if (std::isnan(x)) {
    ++nans;
    return;
  }
  if (std::isinf(x)) {
    ++infs;
    return;
  }
  const double a = std::fabs(x);
  if (x == 0.0) {
    ++zeros;
  } else {
    amin_nonzero = std::min(amin_nonzero, a);
  }
  min = ordered_min(min, x);
  max = ordered_max(max, x);
  amax = std::max(amax, a);
  s_sum.add(x);
  s_abs.add(a);
  s_sq.add(x * x);
}

template <class Sum, unsigned kSharing>
FPSCOPE_FORCEINLINE void QuantStats::add_with(double x, double q, std::uint8_t flags, Class result_class, Sum& s_error,
                                              Sum& s_sq_error, Sum& s_rel_error, Sum& s_xq, Sum& s_qq, Sum& s_xx) {
  constexpr bool xx_from_source = (kSharing & kXxFromSource) != 0;
  constexpr bool normal_window_from_source = (kSharing & kNormalWindowFromSource) != 0;
  ++count;
  if (std::isnan(x)) return;
  const bool source_finite = std::isfinite(x);
  const bool overflowed = source_finite && (flags & kOverflow) != 0;
  if (overflowed) ++overflow;
  if (std::isnan(q)) ++nan_produced;
  if (!source_finite) return;
  const bool underflowed = x != 0.0 && q == 0.0;
  if (underflowed) ++underflow_to_zero;
  if (result_class == Class::subnormal) ++subnormal;
  if (x != 0.0) {
    WindowHistogram::Outcome outcome = WindowHistogram::normal;
    if (overflowed) {
      outcome = WindowHistogram::overflow;
    } else if (underflowed) {
      outcome = WindowHistogram::underflow;
    } else if (result_class == Class::subnormal) {
      outcome = WindowHistogram::subnormal;
    }
    if (!normal_window_from_source || outcome != WindowHistogram::normal) window.add(binade_of(x), outcome);
  }
  if (!std::isfinite(q)) {
    if constexpr (xx_from_source) {
      // Cancel the source's term: a finite one by its exact negation, an overflowed one by count.
      const double xx = x * x;
      if (std::isinf(xx)) {
        s_xx.remove_pos_inf();
      } else {
        s_xx.add(-xx);
      }
    }
    return;
  }
  ++compared;
  const double e = q - x;
  if (e == 0.0) ++exact;
  const double abs_e = std::fabs(e);
  max_abs_error = std::max(max_abs_error, abs_e);
  s_error.add(e);
  s_qq.add(q * q);
  s_sq_error.add(e * e);
  s_xq.add(x * q);
  if constexpr (!xx_from_source) s_xx.add(x * x);
  if (x != 0.0) {
    const double rel = abs_e / std::fabs(x);
    ++rel_count;
    max_rel_error = std::max(max_rel_error, rel);
    s_rel_error.add(rel);
    rel_error.add(rel);
  }
}

// The scratch buffers of one SourceStats' or QuantStats' sums, for the engine's
// element loops: bind, add through add_with(), flush before merging.
struct SourceSumBuffers {
  ExactSumBuffer sum, sum_abs, sum_sq;
  void bind(SourceStats& s) {
    sum.bind(s.sum);
    sum_abs.bind(s.sum_abs);
    sum_sq.bind(s.sum_sq);
  }
  void flush() {
    sum.flush();
    sum_abs.flush();
    sum_sq.flush();
  }
};
struct QuantSumBuffers {
  ExactSumBuffer error, sq_error, rel_error, xq, qq, xx;
  void bind(QuantStats& q) {
    error.bind(q.sum_error);
    sq_error.bind(q.sum_sq_error);
    rel_error.bind(q.sum_rel_error);
    xq.bind(q.sum_xq);
    qq.bind(q.sum_qq);
    xx.bind(q.sum_xx);
  }
  void flush() {
    error.flush();
    sq_error.flush();
    rel_error.flush();
    xq.flush();
    qq.flush();
    xx.flush();
  }
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
