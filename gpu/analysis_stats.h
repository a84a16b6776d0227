// gpu/analysis_stats.h: the device mirror of SourceStats / QuantStats (flat uint64 words) and the per-element and per-group work that the CUDA kernels and their host emulation share.
//
// analysis/stats.h holds std::vectors and host-only member functions, so the
// device accumulates into a flat array of 64-bit words per statistics value
// ("mirror"), laid out below, and the host folds it into the stats.h types
// (gpu/analysis_host.h). Everything here is plain C++ with FPSCOPE_HD
// functions templated on a Sink (where a word goes: a plain add on the host,
// registers, shared or global atomics on the device), so the arithmetic is
// written once and tests/gpu runs it on the CPU too. It mirrors, line by line,
// SourceStats::add_with, QuantStats::add_with and the engine's evaluate_chunk_cpu.
//
// Exact sums are kept as ExactSumBuffer does (Neal 2015, the "large
// superaccumulator"): per exponent field, two int64 bins with the sums of the
// signed high (bits 26..52) and low (bits 0..25) parts of the significands.
// 64-bit atomic adds wrap in two's complement, which is exact as long as each
// bin's true value fits int64: at most 2^36 adds of < 2^27 between folds (the
// dispatch folds after every chunk; the engine's chunks are <= 2^36 elements).
// Extrema are kept as order keys: a double's bits mapped to a uint64 whose
// unsigned order is the doubles' order, so atomicMin/atomicMax apply.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

#include "analysis/stats.h"
#include "core/config.h"
#include "core/random.h"
#include "core/round.h"
#include "core/scaling.h"

namespace fpscope::gpu::detail {

inline constexpr int kSumExponents = 2048;  // exponent fields 0..2046 (index = field - normal)
inline constexpr int kSumSplit = 26;        // high part: significand bits 26..52, low: 0..25
inline constexpr int kSumWords = 2 * kSumExponents;  // high bins, then low bins
inline constexpr int kSpecialsPerSum = 3;   // +inf, -inf, NaN added
inline constexpr int kBinades = BinadeHistogram::kBins;
inline constexpr int kRelBins = RelErrorHistogram::kBins;
inline constexpr int kOutcomes = WindowHistogram::kOutcomes;

// A double's order key: unsigned order of keys == numeric order of doubles (-0 < +0).
FPSCOPE_HD constexpr std::uint64_t order_key(double x) {
  const std::uint64_t bits = std::bit_cast<std::uint64_t>(x);
  return (bits >> 63) != 0 ? ~bits : bits | (std::uint64_t{1} << 63);
}
FPSCOPE_HD constexpr double from_order_key(std::uint64_t key) {
  return std::bit_cast<double>((key >> 63) != 0 ? key & ~(std::uint64_t{1} << 63) : ~key);
}
// The keys of +inf, -inf and +0 (initial extrema).
inline constexpr std::uint64_t kKeyPosInf = 0xFFF0'0000'0000'0000;
inline constexpr std::uint64_t kKeyNegInf = 0x000F'FFFF'FFFF'FFFF;
inline constexpr std::uint64_t kKeyZero = 0x8000'0000'0000'0000;
static_assert(order_key(std::bit_cast<double>(std::uint64_t{0x7FF0'0000'0000'0000})) == kKeyPosInf);
static_assert(order_key(std::bit_cast<double>(std::uint64_t{0xFFF0'0000'0000'0000})) == kKeyNegInf);
static_assert(order_key(0.0) == kKeyZero && order_key(-0.0) < kKeyZero);

// The words of one SourceStats mirror.
struct SourceWords {
  enum Sum : int { sum, sum_abs, sum_sq, kSums };
  enum : int {
    count, zeros, nans, infs,     // counters (BinadeHistogram's zero / inf / nan bins equal zeros / infs / nans)
    min, max, amax, amin_nonzero,  // order keys
    specials,                      // kSums x (+inf, -inf, NaN)
    magnitudes = specials + kSums * kSpecialsPerSum,  // kBinades counts
    sums = magnitudes + kBinades,  // kSums x kSumWords
    total = sums + kSums * kSumWords,
  };
  static constexpr int kCounters = 4;  // count .. infs
};

// The words of one QuantStats mirror (one combination).
struct QuantWords {
  enum Sum : int { sum_error, sum_sq_error, sum_rel_error, sum_xq, sum_qq, sum_xx, kSums };
  enum : int {
    count, compared, exact, underflow_to_zero, subnormal, overflow, nan_produced, rel_count, rel_exact,  // counters
    max_abs_error, max_rel_error,  // order keys
    scale_count, scale_saturated, scale_underflowed,                  // per-group scales (ScaleSummary)
    scale_min, scale_max, scale_inv_min, scale_inv_max,               // order keys, over groups with values
    rel_bins,                                                         // kRelBins counts
    specials = rel_bins + kRelBins,                                   // kSums x (+inf, -inf, NaN)
    window = specials + kSums * kSpecialsPerSum,                      // kOutcomes x kBinades counts
    sums = window + kOutcomes * kBinades,                             // kSums x kSumWords
    total = sums + kSums * kSumWords,
  };
  static constexpr int kCounters = 9;  // count .. rel_exact
};

// A Sink (host: plain adds; device: gpu/analysis_block.cuh) provides
//   add(word, n)              a counter (`word` a compile-time constant after inlining)
//   add_bin(word)             one more in a histogram bin (`word` computed per element)
//   max_key(word, key), min_key(word, key)
//   add_sum(sum, index, high, low)   signed significand parts into exponent bins
//   add_special(sum, which)   0 +inf, 1 -inf, 2 NaN
// where `word` is a SourceWords / QuantWords index and `sum` a Sum.

// ExactSumBuffer::add's split of one double into the bins of `sum`.
template <class Sink>
FPSCOPE_HD void add_exact(Sink& sink, int sum, double x) {
  const std::uint64_t bits = std::bit_cast<std::uint64_t>(x);
  const auto field = static_cast<unsigned>((bits >> 52) & 0x7FF);
  if (field == 0x7FF) {
    const bool nan = (bits & ((std::uint64_t{1} << 52) - 1)) != 0;
    sink.add_special(sum, nan ? 2 : ((bits >> 63) != 0 ? 1 : 0));
    return;
  }
  const unsigned normal = field != 0 ? 1u : 0u;
  const auto mantissa =
      static_cast<std::int64_t>((bits & ((std::uint64_t{1} << 52) - 1)) | (std::uint64_t{normal} << 52));
  const std::int64_t negative = -static_cast<std::int64_t>(bits >> 63);  // 0 or -1: (v ^ n) - n = -v
  const std::int64_t high = ((mantissa >> kSumSplit) ^ negative) - negative;
  const std::int64_t low = ((mantissa & ((std::int64_t{1} << kSumSplit) - 1)) ^ negative) - negative;
  sink.add_sum(sum, field - normal, high, low);
}

// RelErrorHistogram::bin_of for a non-zero error, on the device (stats.h's is
// host-only); `edges` are RelErrorHistogram::kEdges (copied to the device).
// tests/gpu/test_gpu_analysis.cpp checks it against bin_of at every edge.
FPSCOPE_HD inline int rel_error_bin(double rel_error, const double* edges) {
  constexpr int kBins = kRelBins;
  if (rel_error < edges[1]) return 0;
  if (!(rel_error < edges[kBins - 1])) return kBins - 1;
  const int guess = (binade_of(rel_error) * 1233 >> 12) - RelErrorHistogram::kMinDecade;
  int k = guess < 1 ? 1 : (guess > kBins - 2 ? kBins - 2 : guess);
  while (edges[k] > rel_error) --k;
  while (edges[k + 1] <= rel_error) ++k;
  return k;
}

// SourceStats::add_with for one element.
template <class Sink>
FPSCOPE_HD void add_source_element(double x, Sink& sink) {
  using W = SourceWords;
  sink.add(W::count, 1);
  if (std::isnan(x)) {
    sink.add(W::nans, 1);
    return;
  }
  if (std::isinf(x)) {
    sink.add(W::infs, 1);
    return;
  }
  const double a = std::fabs(x);
  if (x == 0.0) {
    sink.add(W::zeros, 1);
  } else {
    sink.min_key(W::amin_nonzero, order_key(a));
    sink.add_bin(W::magnitudes + (binade_of(x) - BinadeHistogram::kMinBinade));
  }
  sink.min_key(W::min, order_key(x));
  sink.max_key(W::max, order_key(x));
  sink.max_key(W::amax, order_key(a));
  add_exact(sink, W::sum, x);
  add_exact(sink, W::sum_abs, a);
  add_exact(sink, W::sum_sq, x * x);
}

// QuantStats::add_with for one element: source x, represented value q.
template <class Sink>
FPSCOPE_HD void add_quant_element(double x, double q, std::uint8_t flags, Class result_class, const double* edges,
                                  Sink& sink) {
  using W = QuantWords;
  sink.add(W::count, 1);
  if (std::isnan(x)) return;
  const bool source_finite = std::isfinite(x);
  const bool overflowed = source_finite && (flags & kOverflow) != 0;
  if (overflowed) sink.add(W::overflow, 1);
  if (std::isnan(q)) sink.add(W::nan_produced, 1);
  if (!source_finite) return;
  const bool underflowed = x != 0.0 && q == 0.0;
  if (underflowed) sink.add(W::underflow_to_zero, 1);
  if (result_class == Class::subnormal) sink.add(W::subnormal, 1);
  if (x != 0.0) {
    int outcome = WindowHistogram::normal;
    if (overflowed) {
      outcome = WindowHistogram::overflow;
    } else if (underflowed) {
      outcome = WindowHistogram::underflow;
    } else if (result_class == Class::subnormal) {
      outcome = WindowHistogram::subnormal;
    }
    sink.add_bin(W::window + outcome * kBinades + (binade_of(x) - BinadeHistogram::kMinBinade));
  }
  if (!std::isfinite(q)) return;
  sink.add(W::compared, 1);
  const double e = q - x;
  if (e == 0.0) sink.add(W::exact, 1);
  const double abs_e = std::fabs(e);
  sink.max_key(W::max_abs_error, order_key(abs_e));  // abs_e is never NaN: q and x are finite
  add_exact(sink, W::sum_error, e);
  add_exact(sink, W::sum_sq_error, e * e);
  add_exact(sink, W::sum_xq, x * q);
  add_exact(sink, W::sum_qq, q * q);
  add_exact(sink, W::sum_xx, x * x);
  if (x != 0.0) {
    const double rel = abs_e / std::fabs(x);
    sink.add(W::rel_count, 1);
    sink.max_key(W::max_rel_error, order_key(rel));
    add_exact(sink, W::sum_rel_error, rel);
    if (rel == 0.0) {
      sink.add(W::rel_exact, 1);
    } else {
      sink.add_bin(W::rel_bins + rel_error_bin(rel, edges));
    }
  }
}

// QuantStats::add_scale for one group's scale.
template <class Sink>
FPSCOPE_HD void add_group_scale(const Scale& s, bool has_values, Sink& sink) {
  using W = QuantWords;
  sink.add(W::scale_count, 1);
  if (s.saturated) sink.add(W::scale_saturated, 1);
  if (s.underflowed) sink.add(W::scale_underflowed, 1);
  if (has_values) {
    sink.min_key(W::scale_min, order_key(s.scale));
    sink.max_key(W::scale_max, order_key(s.scale));
    sink.min_key(W::scale_inv_min, order_key(s.scale_inv));
    sink.max_key(W::scale_inv_max, order_key(s.scale_inv));
  }
}

// The chunk as the kernels see it (engine.h ChunkView without the values).
struct ChunkGeometry {
  std::uint64_t row0 = 0;
  std::uint64_t nrows = 0;
  std::uint64_t col0 = 0;
  std::uint64_t ncols = 0;
  std::uint64_t cols = 0;  // the tensor's row length (SR counter i * cols + j)
  FPSCOPE_HD std::uint64_t elements() const { return nrows * ncols; }
};

// Groups of group_rows x group_cols elements in chunk-local coordinates, row-major
// (the chunk starts at a multiple of every group's R and C: engine.h).
struct GroupGrid {
  std::uint64_t group_rows = 1;
  std::uint64_t group_cols = 1;
  std::uint64_t groups_per_row = 1;  // ceil(ncols / group_cols)
  std::uint64_t groups = 1;
  FPSCOPE_HD std::uint64_t group_of(std::uint64_t local, std::uint64_t ncols) const {
    if (groups == 1) return 0;
    const std::uint64_t i = local / ncols;
    const std::uint64_t j = local - i * ncols;
    return (i / group_rows) * groups_per_row + j / group_cols;
  }
};

// The scale of a group from its amax, as evaluate_chunk_cpu chooses it.
struct GroupScaleRule {
  Format element{};
  Recipe recipe{};
  double nvfp4_scale = 1.0;
  FPSCOPE_HD Scale operator()(double amax) const {
    if (recipe.kind == RecipeKind::mx) return mx_scale(amax, element);
    if (recipe.kind == RecipeKind::nvfp4) return nvfp4_block_scale(amax, nvfp4_scale);
    return amax_scale(amax, element, recipe);
  }
};

// What the element kernel needs for one combination.
struct QuantParams {
  Format format{};        // scaled_element_format(element, recipe)
  Rounding rounding{};
  GroupGrid grid{};
  const Scale* scales = nullptr;  // one per group
};

// The finite |x| the amaxes are taken of (engine.cpp finite_abs).
FPSCOPE_HD inline double finite_abs(double x) {
  const double a = std::fabs(x);
  return std::isfinite(a) ? a : 0.0;
}

// evaluate_chunk_cpu's work for element `local` of the chunk.
template <class Sink>
FPSCOPE_HD void quantize_element(double x, std::uint64_t local, const ChunkGeometry& c, const QuantParams& p,
                                 std::uint64_t seed, const double* edges, Sink& sink) {
  const Scale& s = p.scales[p.grid.group_of(local, c.ncols)];
  std::uint32_t random = 0;
  if (p.rounding.mode == Mode::sr) {
    const std::uint64_t i = local / c.ncols;
    const std::uint64_t j = local - i * c.ncols;
    random = sr_random_bits(seed, (c.row0 + i) * c.cols + c.col0 + j);
  }
  const Encoded e = encode(x * s.scale, p.format, p.rounding, random);
  const double decoded = decode(e.bits, p.format);
  add_quant_element(x, decoded * s.scale_inv, e.flags, classify(e.bits, p.format), edges, sink);
}

}  // namespace fpscope::gpu::detail
