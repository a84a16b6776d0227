// analysis/stats.cpp: the exact superaccumulator, the histograms, and the source / quantized-copy statistics.
#include "analysis/stats.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <utility>

#include "core/round.h"

namespace fpscope {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr Format kFp64{.exp_bits = 11, .man_bits = 52, .bias = 1023};

double safe_div(double num, double den) { return den == 0.0 ? 0.0 : num / den; }

}  // namespace

// ---- ExactSum -------------------------------------------------------------------

void ExactSum::add_special(std::uint64_t bits) {
  if ((bits & ((std::uint64_t{1} << 52) - 1)) != 0) {
    ++nan_;
  } else if ((bits >> 63) != 0) {
    ++neg_inf_;
  } else {
    ++pos_inf_;
  }
}

void ExactSum::normalize() {
  // Every limb but the top to [0, 2^32); the top limb keeps the sign.
  for (int i = 0; i + 1 < kLimbs; ++i) {
    const std::int64_t carry = limb_[i] >> 32;  // arithmetic shift: floor division by 2^32
    limb_[i] -= carry * (std::int64_t{1} << 32);
    limb_[i + 1] += carry;
  }
  pending_ = 0;
}

void ExactSum::merge(const ExactSum& other) {
  if (pending_ + static_cast<std::uint64_t>(other.pending_) >= kNormalizeEvery) {
    ExactSum b = other;
    b.normalize();
    normalize();
    for (int i = 0; i < kLimbs; ++i) limb_[i] += b.limb_[i];
    pending_ = 2;
  } else {
    for (int i = 0; i < kLimbs; ++i) limb_[i] += other.limb_[i];
    pending_ += other.pending_;
  }
  pos_inf_ += other.pos_inf_;
  neg_inf_ += other.neg_inf_;
  nan_ += other.nan_;
}

bool ExactSum::operator==(const ExactSum& other) const {
  ExactSum a = *this;
  ExactSum b = other;
  a.normalize();
  b.normalize();
  return a.limb_ == b.limb_ && a.pos_inf_ == b.pos_inf_ && a.neg_inf_ == b.neg_inf_ && a.nan_ == b.nan_;
}

double ExactSum::value() const {
  if (nan_ > 0 || (pos_inf_ > 0 && neg_inf_ > 0)) return kNaN;
  if (pos_inf_ > 0) return kInf;
  if (neg_inf_ > 0) return -kInf;
  ExactSum m = *this;
  m.normalize();
  const bool negative = m.limb_[kLimbs - 1] < 0;
  if (negative) {
    for (auto& l : m.limb_) l = -l;
    m.normalize();
  }
  int top = kLimbs - 1;
  while (top >= 0 && m.limb_[top] == 0) --top;
  if (top < 0) return 0.0;
  // Highest set bit P (absolute, in units of 2^-1074); gather the 64 bits below it.
  const auto top_digit = static_cast<std::uint64_t>(m.limb_[top]);
  const int top_bit = top * 32 + (63 - detail::count_leading_zeros(top_digit));
  auto bit_at = [&](int i) -> std::uint64_t {
    if (i < 0) return 0;
    return (static_cast<std::uint64_t>(m.limb_[i >> 5]) >> (i & 31)) & 1u;
  };
  std::uint64_t sig = 0;
  for (int k = 0; k < 64; ++k) sig = (sig << 1) | bit_at(top_bit - k);
  bool sticky = false;
  const int below = top_bit - 64;  // bits [0, below] are the sticky part
  for (int i = 0; i <= below && !sticky; ++i) {
    if ((i & 31) == 0 && (below - i) >= 31) {
      sticky = m.limb_[i >> 5] != 0;
      i += 31;
    } else {
      sticky = bit_at(i) != 0;
    }
  }
  const Encoded e = round_pack(negative, top_bit - 1074, sig, sticky, kFp64, Rounding{});
  return decode(e.bits, kFp64);
}

// ---- histograms -----------------------------------------------------------------

void BinadeHistogram::merge(const BinadeHistogram& other) {
  for (int i = 0; i < kBins; ++i) counts[i] += other.counts[i];
  zero += other.zero;
  inf += other.inf;
  nan += other.nan;
}

void WindowHistogram::resize_range(int lo, int hi) {
  const int old_end = first + static_cast<int>(counts[0].size());
  for (auto& c : counts) {
    std::vector<std::uint64_t> grown(static_cast<std::size_t>(hi - lo), 0);
    for (int b = std::max(first, lo); b < std::min(old_end, hi); ++b) {
      grown[static_cast<std::size_t>(b - lo)] = c[static_cast<std::size_t>(b - first)];
    }
    c = std::move(grown);
  }
  first = lo;
}

void WindowHistogram::cover(int binade) {
  // Slack of 8 binades each way, so that a tensor's spread costs few regrowths.
  constexpr int kSlack = 8;
  const bool empty = counts[0].empty();
  const int end = first + static_cast<int>(counts[0].size());
  const int lo = std::max(BinadeHistogram::kMinBinade, std::min(empty ? binade : first, binade) - kSlack);
  const int hi = std::min(BinadeHistogram::kMaxBinade + 1, std::max(empty ? binade + 1 : end, binade + 1) + kSlack);
  resize_range(lo, hi);
}

void WindowHistogram::merge(const WindowHistogram& other) {
  if (other.counts[0].empty()) return;
  const int other_end = other.first + static_cast<int>(other.counts[0].size());
  if (counts[0].empty()) {
    resize_range(other.first, other_end);
  } else if (other.first < first || other_end > first + static_cast<int>(counts[0].size())) {
    resize_range(std::min(first, other.first), std::max(first + static_cast<int>(counts[0].size()), other_end));
  }
  for (int o = 0; o < kOutcomes; ++o) {
    for (std::size_t i = 0; i < other.counts[o].size(); ++i) {
      counts[o][static_cast<std::size_t>(other.first - first) + i] += other.counts[o][i];
    }
  }
}

void WindowHistogram::trim() {
  int lo = first + static_cast<int>(counts[0].size());
  int hi = first;
  for (const auto& c : counts) {
    for (std::size_t i = 0; i < c.size(); ++i) {
      if (c[i] != 0) {
        lo = std::min(lo, first + static_cast<int>(i));
        hi = std::max(hi, first + static_cast<int>(i) + 1);
      }
    }
  }
  if (lo >= hi) {
    first = 0;
    for (auto& c : counts) c.clear();
    return;
  }
  resize_range(lo, hi);
}

bool WindowHistogram::operator==(const WindowHistogram& other) const {
  const int lo = std::min(first, other.first);
  const int hi = std::max(first + static_cast<int>(counts[0].size()), other.first + static_cast<int>(other.counts[0].size()));
  for (int o = 0; o < kOutcomes; ++o) {
    for (int b = lo; b < hi; ++b) {
      if (at(b, static_cast<Outcome>(o)) != other.at(b, static_cast<Outcome>(o))) return false;
    }
  }
  return true;
}

void RelErrorHistogram::merge(const RelErrorHistogram& other) {
  for (int i = 0; i < kBins; ++i) counts[i] += other.counts[i];
  exact += other.exact;
}

// ---- source statistics ----------------------------------------------------------

void SourceStats::merge(const SourceStats& o) {
  count += o.count;
  zeros += o.zeros;
  nans += o.nans;
  infs += o.infs;
  min = ordered_min(min, o.min);
  max = ordered_max(max, o.max);
  amax = std::max(amax, o.amax);
  amin_nonzero = std::min(amin_nonzero, o.amin_nonzero);
  sum.merge(o.sum);
  sum_abs.merge(o.sum_abs);
  sum_sq.merge(o.sum_sq);
  magnitudes.merge(o.magnitudes);
}

SourceSummary summarize(const SourceStats& s) {
  SourceSummary out;
  const double n = static_cast<double>(s.finite());
  if (n > 0) {
    out.mean = s.sum.value() / n;
    // Population variance from exact sums: (sum x^2 - (sum x)^2 / n) / n.
    ExactSum centred = s.sum_sq;
    const double total = s.sum.value();
    centred.add(-(total * total / n));
    out.std = std::sqrt(std::max(0.0, centred.value() / n));
  }
  out.l1_norm = s.sum_abs.value();
  out.l2_norm = std::sqrt(s.sum_sq.value());
  if (s.amax > 0.0 && std::isfinite(s.amin_nonzero)) out.dynamic_range_binades = std::log2(s.amax / s.amin_nonzero);
  return out;
}

// ---- quantized-copy statistics --------------------------------------------------

void QuantStats::add_scale(const Scale& s, bool has_values) {
  ScaleSummary one;
  one.count = 1;
  one.saturated = s.saturated ? 1 : 0;
  one.underflowed = s.underflowed ? 1 : 0;
  if (has_values) {
    one.scale_min = one.scale_max = s.scale;
    one.scale_inv_min = one.scale_inv_max = s.scale_inv;
  } else {
    one.scale_min = one.scale_inv_min = kInf;
    one.scale_max = one.scale_inv_max = -kInf;
  }
  merge_scale_summary(scales, one);
}

void merge_scale_summary(ScaleSummary& into, const ScaleSummary& other) {
  // An empty summary (count 0) and groups without values carry +inf / -inf extrema.
  if (into.count == 0) {
    into = other;
    return;
  }
  if (other.count == 0) return;
  into.count += other.count;
  into.saturated += other.saturated;
  into.underflowed += other.underflowed;
  into.scale_min = std::min(into.scale_min, other.scale_min);
  into.scale_max = std::max(into.scale_max, other.scale_max);
  into.scale_inv_min = std::min(into.scale_inv_min, other.scale_inv_min);
  into.scale_inv_max = std::max(into.scale_inv_max, other.scale_inv_max);
}

void QuantStats::merge(const QuantStats& o) {
  count += o.count;
  compared += o.compared;
  exact += o.exact;
  underflow_to_zero += o.underflow_to_zero;
  subnormal += o.subnormal;
  overflow += o.overflow;
  nan_produced += o.nan_produced;
  rel_count += o.rel_count;
  max_abs_error = std::max(max_abs_error, o.max_abs_error);
  max_rel_error = std::max(max_rel_error, o.max_rel_error);
  sum_error.merge(o.sum_error);
  sum_sq_error.merge(o.sum_sq_error);
  sum_rel_error.merge(o.sum_rel_error);
  sum_xq.merge(o.sum_xq);
  sum_qq.merge(o.sum_qq);
  sum_xx.merge(o.sum_xx);
  window.merge(o.window);
  rel_error.merge(o.rel_error);
  merge_scale_summary(scales, o.scales);
}

ErrorSummary summarize(const QuantStats& q) {
  ErrorSummary out;
  const double n = static_cast<double>(q.compared);
  const double sse = q.sum_sq_error.value();
  const double sxx = q.sum_xx.value();
  const double sqq = q.sum_qq.value();
  out.mse = safe_div(sse, n);
  out.rmse = std::sqrt(out.mse);
  out.mean_error = safe_div(q.sum_error.value(), n);
  out.mean_rel_error = safe_div(q.sum_rel_error.value(), static_cast<double>(q.rel_count));
  out.max_abs_error = q.max_abs_error;
  out.max_rel_error = q.max_rel_error;
  if (sse == 0.0) {
    out.sqnr_db = kInf;
  } else {
    out.sqnr_db = sxx == 0.0 ? -kInf : 10.0 * std::log10(sxx / sse);
  }
  if (sxx == 0.0 && sqq == 0.0) {
    out.cosine = 1.0;
  } else if (sxx == 0.0 || sqq == 0.0) {
    out.cosine = 0.0;
  } else {
    out.cosine = q.sum_xq.value() / (std::sqrt(sxx) * std::sqrt(sqq));
  }
  const double count = static_cast<double>(q.count);
  out.underflow_pct = 100.0 * safe_div(static_cast<double>(q.underflow_to_zero), count);
  out.overflow_pct = 100.0 * safe_div(static_cast<double>(q.overflow), count);
  out.subnormal_pct = 100.0 * safe_div(static_cast<double>(q.subnormal), count);
  out.exact_pct = 100.0 * safe_div(static_cast<double>(q.exact), count);
  return out;
}

TeDebugStats te_debug_stats(const SourceStats& s, const QuantStats& q) {
  const SourceSummary src = summarize(s);
  const ErrorSummary err = summarize(q);
  const bool any = s.finite() > 0;
  TeDebugStats t{};
  t.min = any ? s.min : 0.0;
  t.max = any ? s.max : 0.0;
  t.mean = src.mean;
  t.std = src.std;
  t.l1_norm = src.l1_norm;
  t.l2_norm = src.l2_norm;
  t.amax = s.amax;
  t.dynamic_range = src.dynamic_range_binades;
  t.underflows_pct = err.underflow_pct;
  t.overflows_pct = err.overflow_pct;
  t.mse = err.mse;
  const bool scaled = q.scales.count > 0 && std::isfinite(q.scales.scale_inv_min);
  t.scale_inv_min = scaled ? q.scales.scale_inv_min : 1.0;
  t.scale_inv_max = scaled ? q.scales.scale_inv_max : 1.0;
  return t;
}

}  // namespace fpscope
