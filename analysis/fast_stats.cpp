// analysis/fast_stats.cpp: FastStatsTile's passes (rounding, per-element statistics, exact sums), compiled per ISA.
//
// The passes are plain loops over the tile's arrays that GCC vectorises at -O3
// (the rounding and the per-element pass, gathers included, with AVX-512 or
// AVX2), and explicit 8-lane vectors (GCC/Clang vector extensions) where the
// compiler would not vectorise a floating-point reduction on its own. This file
// is compiled with -ffp-contract=off (analysis/CMakeLists.txt): a fused
// multiply-add would change q - x and the extraction's hi.
#include "analysis/fast_stats.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "core/random.h"

namespace fpscope {
namespace {

using Arrays = FastStatsTile::Arrays;
constexpr std::size_t kSize = FastStatsTile::kSize;
constexpr std::size_t kLanes = 8;
// The vector loops keep four independent accumulators (a chain through one would
// wait on each add's latency): they step by kStride and the tile is padded to it.
constexpr std::size_t kStride = 4 * kLanes;
static_assert(kSize % kStride == 0);

using V8d = double __attribute__((vector_size(64)));
using V8u = std::uint64_t __attribute__((vector_size(64)));

FPSCOPE_FORCEINLINE V8d load8(const double* p) {
  V8d v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
FPSCOPE_FORCEINLINE void store8(double* p, V8d v) { std::memcpy(p, &v, sizeof v); }
FPSCOPE_FORCEINLINE V8d abs8(V8d v) {
  return reinterpret_cast<V8d>(reinterpret_cast<V8u>(v) & std::uint64_t{0x7FFF'FFFF'FFFF'FFFF});
}
FPSCOPE_FORCEINLINE V8d max8(V8d a, V8d b) { return a > b ? a : b; }  // no NaN here

// RelErrorHistogram::bin_of in one word per exponent field of a non-negative
// double (one gather): the binade's first bin above bit 53, and below it the
// 52-bit fraction of the edge inside the binade, or 2^52 when there is none, so
// that bin = first + (fraction of the value >= that).
constexpr std::uint64_t kFractionMask = (std::uint64_t{1} << 52) - 1;
constexpr std::uint64_t kEdgeMask = (std::uint64_t{1} << 53) - 1;
constexpr std::array<std::uint64_t, 2048> make_rel_bin_words() {
  std::array<std::uint64_t, 2048> t{};
  for (std::size_t f = 0; f < 2048; ++f) {
    const detail::RelErrorBinadeBins& b = detail::kRelErrorBinadeBins[f];
    const std::uint64_t edge = b.edge == std::numeric_limits<double>::infinity()
                                   ? kFractionMask + 1
                                   : std::bit_cast<std::uint64_t>(b.edge) & kFractionMask;
    t[f] = (static_cast<std::uint64_t>(b.first) << 53) | edge;
  }
  return t;
}
constexpr std::array<std::uint64_t, 2048> kRelBinWords = make_rel_bin_words();

// sr_random_bits(seed, index) (core/random.h) written so that GCC vectorises it:
// the block's word picked with masks rather than by indexing.
FPSCOPE_FORCEINLINE std::uint32_t random_bits(std::uint64_t seed, std::uint64_t index) {
  const PhiloxBlock b = philox4x32(seed, index >> 2);
  const auto w = static_cast<std::uint32_t>(index & 3);
  return detail::pick(detail::mask_if(w == 0), b.word[0],
                      detail::pick(detail::mask_if(w == 1), b.word[1],
                                   detail::pick(detail::mask_if(w == 2), b.word[2], b.word[3])));
}

// Pass 1: each element's rounded value (the format's value as float32 bits, so
// no table lookup) and whether it saturated, or the flag that the fast path
// does not take it (see fast_stats_params(); and results that overflowed to inf
// or NaN, which add_with counts apart).
template <bool kUniform, Mode kMode>
FPSCOPE_FORCEINLINE void round_pass(const FastStatsTile::TileInput& in, Arrays& a, std::size_t n,
                                    const detail::FastParams& p, const detail::FastDoubleParams& dp,
                                    std::uint64_t seed) {
  const double* __restrict x = in.x;
  const double* __restrict scale = in.scale;
  const std::uint64_t* __restrict index = in.index;
  constexpr std::uint32_t kSlow = FastStatsTile::kSlow;
  constexpr std::uint32_t kOverflowed = FastStatsTile::kOverflowed;
  constexpr std::uint32_t kRounded = FastStatsTile::kRounded;
  for (std::size_t i = 0; i < n; ++i) {
    const double xs = x[i] * scale[kUniform ? 0 : i];
    if constexpr (kMode == Mode::sr) {
      // From the double itself (float32 would lose fraction bits the decision reads).
      const std::uint32_t random = random_bits(seed, kUniform ? in.first_index + i : index[i]);
      std::uint32_t taken = 0;
      const std::uint32_t out = detail::round_double_sr_value(xs, random, p, dp, taken);
      a.value[i] = out & taken;
      a.state[i] = detail::pick(taken, kRounded, kSlow);
      continue;
    }
    const auto y = static_cast<float>(xs);
    constexpr std::uint32_t random = 0;
    std::uint32_t events = 0;
    const std::uint32_t out = detail::round_float_bits<kMode, detail::FastOutput::value, detail::FastRange::all, true>(
        std::bit_cast<std::uint32_t>(y), random, p, events);
    // When the double -> float32 step may have changed the result (see fast_stats_params()).
    const std::uint32_t moved = detail::mask_if(static_cast<double>(y) != xs);
    std::uint32_t unsure = 0;
    if constexpr (kMode == Mode::rne || kMode == Mode::rna) {
      unsure = moved & events & detail::kEventTie;
    } else {
      unsure = moved & ~events & detail::kEventInexact;
    }
    const std::uint32_t special_in = events & (detail::kEventNanInput | detail::kEventInfInput);
    const std::uint32_t slow =
        detail::mask_if((special_in | unsure) != 0) | detail::mask_if((out & 0x7FFF'FFFFu) >= 0x7F80'0000u);
    a.value[i] = out & ~slow;
    a.state[i] = detail::pick(slow, kSlow, detail::mask_if((events & detail::kEventOverflow) != 0) & kOverflowed);
  }
}

template <bool kUniform>
FPSCOPE_FORCEINLINE void round_any(Mode mode, const FastStatsTile::TileInput& in, Arrays& a, std::size_t n,
                                   const detail::FastParams& p, const detail::FastDoubleParams& dp,
                                   std::uint64_t seed) {
  switch (mode) {
    case Mode::rne:
      return round_pass<kUniform, Mode::rne>(in, a, n, p, dp, seed);
    case Mode::rna:
      return round_pass<kUniform, Mode::rna>(in, a, n, p, dp, seed);
    case Mode::rtz:
      return round_pass<kUniform, Mode::rtz>(in, a, n, p, dp, seed);
    case Mode::rup:
      return round_pass<kUniform, Mode::rup>(in, a, n, p, dp, seed);
    case Mode::rdn:
      return round_pass<kUniform, Mode::rdn>(in, a, n, p, dp, seed);
    case Mode::rto:
      return round_pass<kUniform, Mode::rto>(in, a, n, p, dp, seed);
    case Mode::sr:
      return round_pass<kUniform, Mode::sr>(in, a, n, p, dp, seed);
  }
}

// Branch-free selects (GCC leaves `c ? a : b` on doubles as control flow, which stops vectorisation).
FPSCOPE_FORCEINLINE std::uint64_t mask64(bool c) { return 0 - static_cast<std::uint64_t>(c); }
FPSCOPE_FORCEINLINE double keep_if(std::uint64_t mask, double v) {
  return std::bit_cast<double>(std::bit_cast<std::uint64_t>(v) & mask);
}
FPSCOPE_FORCEINLINE std::uint64_t abs_bits(double v) { return std::bit_cast<std::uint64_t>(v) & 0x7FFF'FFFF'FFFF'FFFF; }

// What a tile's element pass found: counts, the largest magnitude of each
// summand as bit patterns (a non-negative double orders like its bits, and GCC
// vectorises integer maxima), and the range of window slots used.
struct TileSummary {
  std::uint64_t fast = 0, exact = 0, underflow = 0, subnormal = 0, overflow = 0, relative = 0;
  std::uint64_t max_error = 0, max_sq_error = 0, max_rel_error = 0, max_xq = 0, max_qq = 0;
  std::uint64_t slot_lo = FastStatsTile::kNoSlot, slot_hi = 0;
};

// Pass 2: per element the five summands (zero for slow elements), the
// relative-error bin and window slot, and the tile's counts and maxima. What
// add_with does per element, in vector lanes.
template <bool kUniform>
FPSCOPE_FORCEINLINE TileSummary element_pass(const FastStatsTile::TileInput& in, Arrays& a, std::size_t n,
                                             float min_normal) {
  const double* __restrict xs = in.x;
  const double* __restrict scale_inv = in.scale_inv;
  constexpr std::uint32_t kExactBin = FastStatsTile::kExactBin;
  constexpr std::uint32_t kNoBin = FastStatsTile::kNoBin;
  constexpr std::uint64_t kNoSlot = FastStatsTile::kNoSlot;
  constexpr double kTopEdge = RelErrorHistogram::kEdges[RelErrorHistogram::kBins - 1];
  constexpr auto kLastBin = static_cast<std::uint32_t>(RelErrorHistogram::kBins - 1);
  constexpr double kMax = std::numeric_limits<double>::max();
  // Reductions in locals (GCC does not vectorise them through a struct).
  std::uint64_t fast_n = 0, exact_n = 0, underflow_n = 0, subnormal_n = 0, overflow_n = 0, relative_n = 0;
  std::uint64_t max_error = 0, max_sq_error = 0, max_rel_error = 0, max_xq = 0, max_qq = 0;
  std::uint64_t slot_lo = kNoSlot, slot_hi = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = xs[i];
    const float value = std::bit_cast<float>(a.value[i]);
    const double q = static_cast<double>(value) * scale_inv[kUniform ? 0 : i];
    const double e = q - x;
    const double ee = e * e;
    const double xq = x * q;
    const double qq = q * q;
    const std::uint64_t x_bits = std::bit_cast<std::uint64_t>(x);
    const std::uint64_t x_field = (x_bits >> 52) & 0x7FF;
    const bool nonzero = (x_bits & 0x7FFF'FFFF'FFFF'FFFF) != 0;
    // Rounded by the fast path, every summand finite (huge scaled values can
    // overflow a product), and x not a double subnormal (its binade needs a
    // count of leading zeros): the rest go to add_with, one by one.
    const bool fast = (a.state[i] < FastStatsTile::kSlow) & (ee <= kMax) & (std::fabs(xq) <= kMax) &
                      (qq <= kMax) & ((x_field != 0) | !nonzero);
    const std::uint64_t fast_mask = mask64(fast);
    const bool relative = fast & nonzero;
    const std::uint64_t relative_mask = mask64(relative);
    const bool overflowed = fast & (a.state[i] == FastStatsTile::kOverflowed);
    const bool underflow = relative & (q == 0.0);
    // The format's subnormals: the non-zero values below its smallest normal one.
    const bool sub = fast & (std::fabs(value) < min_normal) & (value != 0.0f);
    // |e| / |x|, divided by 1 for x == 0 (and discarded)
    const double divisor =
        std::bit_cast<double>((x_bits & 0x7FFF'FFFF'FFFF'FFFF & relative_mask) | (std::bit_cast<std::uint64_t>(1.0) & ~relative_mask));
    const double rel = std::fabs(e) / divisor;
    a.error[i] = keep_if(fast_mask, e);
    a.sq_error[i] = keep_if(fast_mask, ee);
    a.xq[i] = keep_if(fast_mask, xq);
    a.qq[i] = keep_if(fast_mask, qq);
    a.rel_error[i] = keep_if(relative_mask, rel);
    max_error = std::max(max_error, fast_mask & abs_bits(e));
    max_sq_error = std::max(max_sq_error, fast_mask & abs_bits(ee));
    max_xq = std::max(max_xq, fast_mask & abs_bits(xq));
    max_qq = std::max(max_qq, fast_mask & abs_bits(qq));
    max_rel_error = std::max(max_rel_error, relative_mask & abs_bits(rel));
    const std::uint64_t rel_bits = std::bit_cast<std::uint64_t>(rel);
    const std::uint64_t word = kRelBinWords[(rel_bits >> 52) & 0x7FF];
    const auto in_binade =
        static_cast<std::uint32_t>((word >> 53) + static_cast<std::uint64_t>((rel_bits & kFractionMask) >= (word & kEdgeMask)));
    std::uint32_t bin = detail::pick(detail::mask_if(rel < kTopEdge), in_binade, kLastBin);
    bin = detail::pick(detail::mask_if(rel == 0.0), kExactBin, bin);
    a.rel_bin[i] = detail::pick(detail::mask_if(relative), bin, kNoBin);
    // The window outcome when it is not `normal` (add_with's order: overflow, underflow, subnormal).
    const bool other = relative & (overflowed | underflow | sub);
    const std::uint64_t outcome = (mask64(overflowed) & WindowHistogram::overflow) |
                                  (mask64(!overflowed & !underflow) & WindowHistogram::subnormal);  // underflow: 0
    const std::uint64_t other_mask = mask64(other);
    const std::uint64_t slot = (other_mask & (x_field * WindowHistogram::kOutcomes + outcome)) | (~other_mask & kNoSlot);
    a.window_slot[i] = static_cast<std::uint32_t>(slot);
    slot_lo = std::min(slot_lo, slot);
    slot_hi = std::max(slot_hi, other_mask & slot);
    a.state[i] = static_cast<std::uint32_t>(!fast);  // now: slow
    fast_n += static_cast<std::uint64_t>(fast);
    exact_n += static_cast<std::uint64_t>(fast & (e == 0.0));
    underflow_n += static_cast<std::uint64_t>(underflow);
    subnormal_n += static_cast<std::uint64_t>(sub);
    overflow_n += static_cast<std::uint64_t>(overflowed);
    relative_n += static_cast<std::uint64_t>(relative);
  }
  return TileSummary{fast_n,  exact_n,      underflow_n,   subnormal_n, overflow_n, relative_n, max_error,
                     max_sq_error, max_rel_error, max_xq, max_qq,      slot_lo,    slot_hi};
}

// Adds d[0, n) exactly to `sum` (n a multiple of kStride and at most kSize, d
// finite, m = max |d[i]|); overwrites d. See fast_stats.h for why each level is exact.
constexpr int kLevels = 3;
constexpr int kHeadroomBits = 2 + std::bit_width(kSize - 1);  // sigma >= 4 * kSize * max|p|
FPSCOPE_FORCEINLINE void add_exactly(double* d, std::size_t n, double m, ExactSumBuffer& sum) {
  for (int level = 0; level < kLevels && m != 0.0; ++level) {
    int e = 0;
    (void)std::frexp(m, &e);  // m < 2^e
    const int k = e + kHeadroomBits;
    if (k > 1023 || k - 53 < -1074) break;  // sigma or its grid outside double: the adds below
    const double sigma = std::ldexp(1.0, k);
    const V8d vsigma = V8d{} + sigma;
    V8d acc[4] = {};
    V8d left[4] = {};
    for (std::size_t i = 0; i < n; i += kStride) {
      for (std::size_t j = 0; j < 4; ++j) {
        V8d p = load8(d + i + j * kLanes);
        const V8d hi = (vsigma + p) - vsigma;
        acc[j] += hi;
        p -= hi;
        store8(d + i + j * kLanes, p);
        left[j] = max8(left[j], abs8(p));
      }
    }
    // Exact in any order: every partial sum of the tile's hi is below sigma.
    const V8d acc_all = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    const V8d left_all = max8(max8(left[0], left[1]), max8(left[2], left[3]));
    double total = 0.0;
    m = 0.0;
    for (std::size_t l = 0; l < kLanes; ++l) {
      total += acc_all[l];
      m = std::max(m, left_all[l]);
    }
    sum.add(total);
  }
  if (m == 0.0) return;
  for (std::size_t i = 0; i < n; ++i) {
    if (d[i] != 0.0) sum.add(d[i]);
  }
}

// The tile's vector passes, and the exact sums.
FPSCOPE_FORCEINLINE TileSummary tile_body(const FastStatsTile::TileInput& in, Arrays& a, std::size_t n,
                                          const FastStatsFormat& f, QuantSumBuffers& sums) {
  const detail::FastParams p = *f.fast;  // a local copy: its fields stay in registers
  const float min_normal = static_cast<float>(f.min_normal);
  TileSummary t;
  if (in.uniform) {
    round_any<true>(f.rounding.mode, in, a, n, p, f.fast_double, f.seed);
    t = element_pass<true>(in, a, n, min_normal);
  } else {
    round_any<false>(f.rounding.mode, in, a, n, p, f.fast_double, f.seed);
    t = element_pass<false>(in, a, n, min_normal);
  }
  const std::size_t padded = (n + kStride - 1) / kStride * kStride;
  for (double* d : {a.error, a.sq_error, a.rel_error, a.xq, a.qq}) std::fill(d + n, d + padded, 0.0);
  add_exactly(a.error, padded, std::bit_cast<double>(t.max_error), sums.error);
  add_exactly(a.sq_error, padded, std::bit_cast<double>(t.max_sq_error), sums.sq_error);
  add_exactly(a.rel_error, padded, std::bit_cast<double>(t.max_rel_error), sums.rel_error);
  add_exactly(a.xq, padded, std::bit_cast<double>(t.max_xq), sums.xq);
  add_exactly(a.qq, padded, std::bit_cast<double>(t.max_qq), sums.qq);
  return t;
}

using TileInput = FastStatsTile::TileInput;
TileSummary tile_baseline(const TileInput& in, Arrays& a, std::size_t n, const FastStatsFormat& f,
                          QuantSumBuffers& sums) {
  return tile_body(in, a, n, f, sums);
}
// The version of a kernel for the CPU's kernel ISA (detail::detected_kernel_isa).
template <class Fn>
Fn for_kernel_isa(Fn baseline, [[maybe_unused]] Fn avx2, [[maybe_unused]] Fn avx512) {
#if FPSCOPE_X86_KERNELS
  switch (detail::detected_kernel_isa()) {
    case detail::KernelIsa::avx512:
      return avx512;
    case detail::KernelIsa::avx2:
      return avx2;
    case detail::KernelIsa::baseline:
      break;
  }
#endif
  return baseline;
}

#if FPSCOPE_X86_KERNELS
FPSCOPE_TARGET_AVX2 TileSummary tile_avx2(const TileInput& in, Arrays& a, std::size_t n, const FastStatsFormat& f,
                                          QuantSumBuffers& sums) {
  return tile_body(in, a, n, f, sums);
}
FPSCOPE_TARGET_AVX512 TileSummary tile_avx512(const TileInput& in, Arrays& a, std::size_t n, const FastStatsFormat& f,
                                              QuantSumBuffers& sums) {
  return tile_body(in, a, n, f, sums);
}
#else
constexpr auto tile_avx2 = tile_baseline;
constexpr auto tile_avx512 = tile_baseline;
#endif

// ---- Source statistics ----

// Per element of a block: the three summands, the magnitude bin, the ordered
// key for min and max (int64 order = the double order with -0 < +0).
struct SourceBlock {
  static constexpr std::size_t kSize = FastStatsTile::kSize;
  static constexpr std::uint32_t kZeroBin = BinadeHistogram::kBins;     // x == 0
  static constexpr std::uint32_t kRareBin = BinadeHistogram::kBins + 1;  // left to add_with
  alignas(64) double sum[kSize];
  alignas(64) double abs[kSize];
  alignas(64) double sq[kSize];
  alignas(64) std::uint64_t bin[kSize];
};
struct SourceBlockSummary {
  std::uint64_t common = 0;  // elements the block took (the others: kRareBin)
  std::int64_t min_key = std::numeric_limits<std::int64_t>::max();
  std::int64_t max_key = std::numeric_limits<std::int64_t>::min();
  double amax = 0.0;
  double amin_nonzero = std::numeric_limits<double>::infinity();
  std::uint64_t bin_lo = SourceBlock::kRareBin;  // min and max bin of the non-zero elements taken
  std::uint64_t bin_hi = 0;
};
FPSCOPE_FORCEINLINE std::int64_t order_key(std::uint64_t bits) {
  return static_cast<std::int64_t>(bits ^ ((0 - (bits >> 63)) >> 1));
}

FPSCOPE_FORCEINLINE SourceBlockSummary source_body(const double* __restrict x, std::size_t n, SourceBlock& b, ExactSumBuffer& s_sum,
                                              ExactSumBuffer& s_abs, ExactSumBuffer& s_sq) {
  constexpr double kMax = std::numeric_limits<double>::max();
  // Reductions in locals and on integers (a non-negative double orders like its
  // bit pattern): GCC vectorises those, not floating-point min/max.
  std::uint64_t common_count = 0;
  std::int64_t min_key = std::numeric_limits<std::int64_t>::max();
  std::int64_t max_key = std::numeric_limits<std::int64_t>::min();
  std::uint64_t amax_bits = 0;
  constexpr std::uint64_t kInfBits = 0x7FF0'0000'0000'0000;
  std::uint64_t amin_bits = kInfBits;
  std::uint64_t bin_lo = SourceBlock::kRareBin;
  std::uint64_t bin_hi = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double v = x[i];
    const std::uint64_t bits = std::bit_cast<std::uint64_t>(v);
    const std::uint64_t field = (bits >> 52) & 0x7FF;
    const std::uint64_t abs_bits = bits & 0x7FFF'FFFF'FFFF'FFFF;
    const double a = std::bit_cast<double>(abs_bits);
    const double vv = v * v;
    const bool zero = abs_bits == 0;
    // finite with a finite square (NaN fails the comparison), not subnormal
    const bool common = (vv <= kMax) & ((field != 0) | zero);
    const bool nonzero = common & !zero;
    const std::uint64_t m = mask64(common);
    const std::uint64_t nz = mask64(nonzero);
    b.sum[i] = keep_if(m, v);
    b.abs[i] = keep_if(m, a);
    b.sq[i] = keep_if(m, vv);
    // binade_of(v) - kMinBinade for normal v: (field - 1023) + 1074
    const std::uint64_t bin = (nz & (field + 51)) | (~nz & (mask64(zero & common) & SourceBlock::kZeroBin)) |
                              (~m & SourceBlock::kRareBin);
    b.bin[i] = bin;
    common_count += static_cast<std::uint64_t>(common);
    constexpr auto kKeyMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    constexpr auto kKeyMin = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::min());
    const auto key = static_cast<std::uint64_t>(order_key(bits));
    min_key = std::min(min_key, static_cast<std::int64_t>((m & key) | (~m & kKeyMax)));
    max_key = std::max(max_key, static_cast<std::int64_t>((m & key) | (~m & kKeyMin)));
    amax_bits = std::max(amax_bits, m & abs_bits);
    amin_bits = std::min(amin_bits, (nz & abs_bits) | (~nz & kInfBits));
    bin_lo = std::min(bin_lo, (nz & bin) | (~nz & SourceBlock::kRareBin));
    bin_hi = std::max(bin_hi, nz & bin);
  }
  SourceBlockSummary t;
  t.common = common_count;
  t.min_key = min_key;
  t.max_key = max_key;
  t.amax = std::bit_cast<double>(amax_bits);
  t.amin_nonzero = std::bit_cast<double>(amin_bits);
  t.bin_lo = bin_lo;
  t.bin_hi = bin_hi;
  const std::size_t padded = (n + kStride - 1) / kStride * kStride;
  for (double* d : {b.sum, b.abs, b.sq}) std::fill(d + n, d + padded, 0.0);
  // The largest |x| is amax, the largest x*x its square (rounding is monotonic).
  add_exactly(b.sum, padded, t.amax, s_sum);
  add_exactly(b.abs, padded, t.amax, s_abs);
  add_exactly(b.sq, padded, t.amax * t.amax, s_sq);
  return t;
}

using SourceFn = SourceBlockSummary (*)(const double*, std::size_t, SourceBlock&, ExactSumBuffer&, ExactSumBuffer&,
                                   ExactSumBuffer&);
SourceBlockSummary source_baseline(const double* x, std::size_t n, SourceBlock& b, ExactSumBuffer& s_sum,
                              ExactSumBuffer& s_abs, ExactSumBuffer& s_sq) {
  return source_body(x, n, b, s_sum, s_abs, s_sq);
}
#if FPSCOPE_X86_KERNELS
FPSCOPE_TARGET_AVX2 SourceBlockSummary source_avx2(const double* x, std::size_t n, SourceBlock& b, ExactSumBuffer& s_sum,
                                              ExactSumBuffer& s_abs, ExactSumBuffer& s_sq) {
  return source_body(x, n, b, s_sum, s_abs, s_sq);
}
FPSCOPE_TARGET_AVX512 SourceBlockSummary source_avx512(const double* x, std::size_t n, SourceBlock& b,
                                                  ExactSumBuffer& s_sum, ExactSumBuffer& s_abs, ExactSumBuffer& s_sq) {
  return source_body(x, n, b, s_sum, s_abs, s_sq);
}
#else
constexpr auto source_avx2 = source_baseline;
constexpr auto source_avx512 = source_baseline;
#endif

// ---- Amax ----

FPSCOPE_FORCEINLINE double amax_body(const double* __restrict x, std::size_t n) {
  constexpr std::uint64_t kInfBits = 0x7FF0'0000'0000'0000;
  std::uint64_t m = 0;  // a non-negative double orders like its bits
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t a = abs_bits(x[i]);
    m = std::max(m, a & mask64(a < kInfBits));
  }
  return std::bit_cast<double>(m);
}
double amax_baseline(const double* x, std::size_t n) { return amax_body(x, n); }
#if FPSCOPE_X86_KERNELS
FPSCOPE_TARGET_AVX2 double amax_avx2(const double* x, std::size_t n) { return amax_body(x, n); }
FPSCOPE_TARGET_AVX512 double amax_avx512(const double* x, std::size_t n) { return amax_body(x, n); }
#else
constexpr auto amax_avx2 = amax_baseline;
constexpr auto amax_avx512 = amax_baseline;
#endif

}  // namespace

double finite_amax(const double* x, std::size_t n) {
  return for_kernel_isa(&amax_baseline, &amax_avx2, &amax_avx512)(x, n);
}

void add_source_values(std::span<const double> values, SourceStats& st, SourceSumBuffers& sums, BinadeHistogram& mags) {
  // Magnitude counts in four copies (consecutive elements in one bin would
  // otherwise wait on each other's increment), folded into mags at the end.
  constexpr std::size_t kBinSlots = SourceBlock::kRareBin + 1;
  static thread_local std::unique_ptr<std::array<std::array<std::uint64_t, kBinSlots>, 4>> copies =
      std::make_unique<std::array<std::array<std::uint64_t, kBinSlots>, 4>>();
  static thread_local std::unique_ptr<SourceBlock> block = std::make_unique<SourceBlock>();
  auto& c = *copies;
  SourceBlock& b = *block;
  const SourceFn fn = for_kernel_isa<SourceFn>(&source_baseline, &source_avx2, &source_avx512);
  std::uint64_t lo = SourceBlock::kRareBin;
  std::uint64_t hi = 0;
  for (std::size_t start = 0; start < values.size(); start += SourceBlock::kSize) {
    const std::size_t n = std::min(SourceBlock::kSize, values.size() - start);
    const double* x = values.data() + start;
    const SourceBlockSummary t = fn(x, n, b, sums.sum, sums.sum_abs, sums.sum_sq);
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
      ++c[0][b.bin[i]];
      ++c[1][b.bin[i + 1]];
      ++c[2][b.bin[i + 2]];
      ++c[3][b.bin[i + 3]];
    }
    for (; i < n; ++i) ++c[0][b.bin[i]];
    st.count += t.common;
    if (t.common > 0) {
      const auto value_of = [](std::int64_t key) {
        return std::bit_cast<double>(static_cast<std::uint64_t>(key) ^ ((0 - (static_cast<std::uint64_t>(key) >> 63)) >> 1));
      };
      st.min = ordered_min(st.min, value_of(t.min_key));
      st.max = ordered_max(st.max, value_of(t.max_key));
      st.amax = std::max(st.amax, t.amax);
      st.amin_nonzero = std::min(st.amin_nonzero, t.amin_nonzero);
      lo = std::min(lo, t.bin_lo);
      hi = std::max(hi, t.bin_hi);
    }
    if (t.common == n) continue;
    for (std::size_t k = 0; k < n; ++k) {
      if (b.bin[k] == SourceBlock::kRareBin) st.add_with(x[k], sums.sum, sums.sum_abs, sums.sum_sq, mags);
    }
  }
  const std::uint64_t zeros = c[0][SourceBlock::kZeroBin] + c[1][SourceBlock::kZeroBin] +
                              c[2][SourceBlock::kZeroBin] + c[3][SourceBlock::kZeroBin];
  st.zeros += zeros;
  mags.zero += zeros;
  for (auto& copy : c) copy[SourceBlock::kZeroBin] = copy[SourceBlock::kRareBin] = 0;
  for (std::uint64_t bin = lo; bin <= hi && bin < BinadeHistogram::kBins; ++bin) {
    mags.counts[bin] += c[0][bin] + c[1][bin] + c[2][bin] + c[3][bin];
    c[0][bin] = c[1][bin] = c[2][bin] = c[3][bin] = 0;
  }
}

std::optional<detail::FastParams> fast_stats_params(const Format& f, const Rounding& r) {
  if (limits(f).total_bits > 16 || !detail::fast_path_applies(f)) return std::nullopt;
  const ExponentRange range = exponent_range(f);
  const int grid_exp = f.subnormals ? range.emin - f.man_bits : range.emin;
  if (grid_exp - 1 < -149) return std::nullopt;  // the midpoints between the smallest values
  return detail::make_fast_params(f, r, detail::FastOutput::value);
}

void FastStatsTile::begin(const FastStatsFormat& format, QuantStats& st, QuantSumBuffers& sums,
                          const ChunkMagnitudes& magnitudes) {
  format_ = &format;
  st_ = &st;
  sums_ = &sums;
  magnitudes_ = magnitudes;
  n_ = 0;
  window_ = WindowHistogram{};
  std::swap(st.window, window_);  // add_with's and process()'s outcomes of this chunk go to an empty window
}

void FastStatsTile::finish() {
  if (n_ > 0) flush_copied();
  QuantStats& st = *st_;
  std::swap(st.window, window_);
  // Normal outcomes: the chunk's finite non-zero elements of each binade less the other outcomes.
  for (int b = magnitudes_.lo; b < magnitudes_.hi; ++b) {
    const int binade = b + BinadeHistogram::kMinBinade;
    std::uint64_t normal = magnitudes_.histogram->counts[static_cast<std::size_t>(b)];
    for (const auto o : {WindowHistogram::underflow, WindowHistogram::subnormal, WindowHistogram::overflow}) {
      normal -= window_.at(binade, o);
    }
    st.window.add(binade, WindowHistogram::normal, normal);
  }
  st.window.merge(window_);
}

void FastStatsTile::process(const TileInput& in, std::size_t n) {
  Arrays& a = a_;
  QuantStats& st = *st_;
  const TileSummary t = for_kernel_isa(&tile_baseline, &tile_avx2, &tile_avx512)(in, a, n, *format_, *sums_);

  // The relative-error histogram and the window slots, four copies of each:
  // consecutive elements in one bin would otherwise wait on each other's increment.
  std::uint32_t bins[4][kNoBin + 1] = {};
  auto& slots = slot_counts_;
  const bool any_slot = t.slot_lo != kNoSlot;  // mostly not, for 8-bit and wider formats
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (std::size_t k = 0; k < 4; ++k) ++bins[k][a.rel_bin[i + k]];
    if (any_slot) {
      for (std::size_t k = 0; k < 4; ++k) ++slots[k][a.window_slot[i + k]];
    }
  }
  for (; i < n; ++i) {
    ++bins[0][a.rel_bin[i]];
    ++slots[0][a.window_slot[i]];
  }
  for (std::uint32_t b = 0; b < static_cast<std::uint32_t>(RelErrorHistogram::kBins); ++b) {
    st.rel_error.counts[b] += bins[0][b] + bins[1][b] + bins[2][b] + bins[3][b];
  }
  st.rel_error.exact += bins[0][kExactBin] + bins[1][kExactBin] + bins[2][kExactBin] + bins[3][kExactBin];
  for (std::uint64_t slot = t.slot_lo; slot <= t.slot_hi && slot < kNoSlot; ++slot) {
    const std::uint64_t count = std::uint64_t{slots[0][slot]} + slots[1][slot] + slots[2][slot] + slots[3][slot];
    if (count == 0) continue;
    slots[0][slot] = slots[1][slot] = slots[2][slot] = slots[3][slot] = 0;
    const auto field = static_cast<int>(slot / WindowHistogram::kOutcomes);
    st.window.add(field - 1023, static_cast<WindowHistogram::Outcome>(slot % WindowHistogram::kOutcomes), count);
  }
  for (auto& copy : slots) copy[kNoSlot] = 0;
  st.count += t.fast;
  st.compared += t.fast;
  st.exact += t.exact;
  st.underflow_to_zero += t.underflow;
  st.subnormal += t.subnormal;
  st.overflow += t.overflow;
  st.rel_count += t.relative;
  st.max_abs_error = std::max(st.max_abs_error, std::bit_cast<double>(t.max_error));
  st.max_rel_error = std::max(st.max_rel_error, std::bit_cast<double>(t.max_rel_error));
  if (t.fast == n) return;

  // The elements the fast path left, through the generic encode().
  const FastStatsFormat& f = *format_;
  QuantSumBuffers& s = *sums_;
  for (std::size_t k = 0; k < n; ++k) {
    if (a.state[k] == 0) continue;
    const double x = in.x[k];
    const std::size_t j = in.uniform ? 0 : k;
    const std::uint32_t random =
        f.rounding.mode == Mode::sr ? sr_random_bits(f.seed, in.uniform ? in.first_index + k : in.index[k]) : 0;
    const Encoded e = encode(x * in.scale[j], f.format, f.rounding, random);
    st.add_with<ExactSumBuffer, kSharing>(x, f.decoded[e.bits] * in.scale_inv[j], e.flags, f.classes[e.bits], s.error,
                                          s.sq_error, s.rel_error, s.xq, s.qq, s.xx);
  }
}

}  // namespace fpscope
