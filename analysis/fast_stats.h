// analysis/fast_stats.h: the CPU engine's element loop for formats on the float32 fast path, vectorised a tile at a time.
//
// The engine hands a combination's elements over in runs that share one scale
// (a row segment, a block's row, one element for `col`). FastStatsTile gathers
// them into tiles of kSize elements (or takes whole tiles of a long run where
// they are) and evaluates a tile in passes the compiler vectorises: round every
// element (core/fast_paths.h), then per element the error, squared error,
// relative error, x*q and q*q, the counts, the relative-error bin and the window
// outcome, then the exact sums. The elements the fast path does not take (NaN
// and inf, results beyond max finite, products that overflow, double
// subnormals, and those the double -> float32 step could change: see
// fast_stats_params()) go through QuantStats::add_with one by one. The
// statistics are those add_with gives element by element, exactly, on every
// ISA (tests/analysis/test_fast_stats.cpp).
//
// The exact sums (error-free extraction, Rump, Ogita and Oishi, "Accurate
// floating-point summation part I", SIAM J. Sci. Comput. 31(1), 2008,
// "ExtractScalar"): for sigma = 2^k and |p| <= sigma / 4, hi = (sigma + p) - sigma
// is computed exactly, is a multiple of 2^(k - 53), and lo = p - hi is exact
// with |lo| <= 2^(k - 53). With sigma >= 4 n max|p| every partial sum of the n
// values hi is below sigma, so it is exact in double in any order: eight lanes
// times four accumulators each add theirs, and their total is exact. One level takes the top ~43 bits
// of each value of the tile; what is left goes to the next level, and after
// kLevels the few non-zero remainders are added one by one.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "analysis/stats.h"
#include "core/fast_paths.h"
#include "core/format.h"
#include "core/round.h"
#include "core/scaling.h"

namespace fpscope {

// The fast path's parameters when FastStatsTile can evaluate (f, r): any
// rounding mode, a format of at most 16 bits that the float32 fast path takes,
// whose grid's midpoints near zero are float32 numbers too; nothing otherwise.
//
// Why rounding a double through float32 is exact here: the tile rounds
// y = float(x * scale), not the double d = x * scale itself. Every grid point
// and midpoint of the format is a float32 (at most 22 fraction bits, and the
// condition above near zero), so none lies strictly between d and y (it would
// be a float32 nearer to d than y): when y != d, d and y lie in the same open
// interval between consecutive grid points and midpoints, or y is one of them.
// - RNE, RNA: d and y round alike unless y is a midpoint (a tie, kEventTie).
// - RTZ, RUP, RDN, RTO: alike unless y is a grid point (an exact result: no
//   kEventInexact).
// - SR: its random decision reads up to 32 leading bits of the fraction, which
//   y can lose: SR rounds d itself (detail::round_double_sr_value).
// Those cases with y != d, non-finite inputs and results, and inputs beyond
// float32's range take the generic encode(); so does everything on a format
// without the fast path. The overflow flag (the only flag the statistics use)
// is the fast path's, from the same y.
// The parameters are those of FastOutput::value.
std::optional<detail::FastParams> fast_stats_params(const Format& f, const Rounding& r);

// What FastStatsTile needs of one (format, rounding) combination: the fast path's
// parameters (value output), and for the elements it leaves to encode(), each
// encoding's value and class.
struct FastStatsFormat {
  const detail::FastParams* fast = nullptr;
  double min_normal = 0.0;  // limits(format).min_normal: the values below it are subnormals (or zero)
  const double* decoded = nullptr;
  const Class* classes = nullptr;
  Format format;
  Rounding rounding;
  std::uint64_t seed = 0;  // stochastic rounding: sr_random_bits(seed, element index)
  detail::FastDoubleParams fast_double{};  // stochastic rounding: make_fast_double_params(format)
};

// A chunk's source magnitudes (SourceStats::magnitudes of the chunk alone) and
// the range of its non-empty bins [lo, hi).
struct ChunkMagnitudes {
  const BinadeHistogram* histogram = nullptr;
  int lo = 0;
  int hi = 0;
};

// The per-element statistics of one combination over one chunk, added to a
// QuantStats as QuantStats::add_with does with the sharing kXxFromSource (the
// caller adds the chunk's source sum of x*x to st.sum_xx) and
// kNormalWindowFromSource (finish() adds the window's normal outcomes from the
// chunk's magnitudes). Sums go through `sums`, bound to st and flushed by the
// caller after finish().
class FastStatsTile {
 public:
  static constexpr std::size_t kSize = 256;
  static constexpr unsigned kSharing = QuantStats::kXxFromSource | QuantStats::kNormalWindowFromSource;

  // Every finite non-zero element counted in `magnitudes` must then be added, once.
  void begin(const FastStatsFormat& format, QuantStats& st, QuantSumBuffers& sums, const ChunkMagnitudes& magnitudes);
  // Elements x[0, n) with one scale; x[k] is element `index + k` of the tensor
  // (row-major: the index stochastic rounding draws its random bits for).
  void add_run(const double* x, std::size_t n, const Scale& s, std::uint64_t index) {
    // Whole tiles of a long run are evaluated where they are, without a copy.
    if (n_ == 0) {
      for (; n >= kSize; x += kSize, n -= kSize, index += kSize) {
        process(TileInput{x, &s.scale, &s.scale_inv, nullptr, index, true}, kSize);
      }
    }
    while (n > 0) {
      const std::size_t take = n < kSize - n_ ? n : kSize - n_;
      for (std::size_t i = 0; i < take; ++i) {
        a_.x[n_ + i] = x[i];
        a_.scale[n_ + i] = s.scale;
        a_.scale_inv[n_ + i] = s.scale_inv;
        a_.index[n_ + i] = index + i;
      }
      n_ += take;
      x += take;
      index += take;
      n -= take;
      if (n_ == kSize) flush_copied();
    }
  }
  // Evaluates what is left and completes the window; call before flushing the sums.
  void finish();

  // A tile's elements: x[i] with scale[i] and tensor index index[i]; when
  // uniform, scale[0] for all and the indexes first_index + i.
  struct TileInput {
    const double* x;
    const double* scale;
    const double* scale_inv;
    const std::uint64_t* index;
    std::uint64_t first_index;
    bool uniform;
  };
  // A tile's per-element arrays (public for the ISA-specific passes in fast_stats.cpp).
  enum RoundState : std::uint32_t {
    kRounded = 0,     // the fast path rounded it
    kOverflowed = 1,  // ... and saturated it (a finite result)
    kSlow = 2,        // left to encode() and add_with (compared as numbers, which GCC vectorises, not as bits)
  };
  struct Arrays {
    alignas(64) double x[kSize];
    alignas(64) double scale[kSize];
    alignas(64) double scale_inv[kSize];
    alignas(64) std::uint64_t index[kSize];
    alignas(64) double error[kSize];      // q - x
    alignas(64) double sq_error[kSize];   // (q - x)^2
    alignas(64) double rel_error[kSize];  // |q - x| / |x|
    alignas(64) double xq[kSize];
    alignas(64) double qq[kSize];
    alignas(64) std::uint32_t value[kSize];  // the rounded value as float32 bits (0 for slow elements)
    alignas(64) std::uint32_t state[kSize];  // RoundState
    alignas(64) std::uint32_t rel_bin[kSize];  // RelErrorHistogram bin, kExactBin, or kNoBin
    alignas(64) std::uint32_t window_slot[kSize];  // 4 * exponent field of x + window outcome, or kNoSlot
  };
  static constexpr std::uint32_t kExactBin = RelErrorHistogram::kBins;
  static constexpr std::uint32_t kNoBin = RelErrorHistogram::kBins + 1;
  // The window outcomes other than `normal`, counted per tile by slot.
  static constexpr std::uint32_t kNoSlot = 2048 * WindowHistogram::kOutcomes;

 private:
  void process(const TileInput& in, std::size_t n);
  void flush_copied() {
    const std::size_t n = n_;
    n_ = 0;
    process(TileInput{a_.x, a_.scale, a_.scale_inv, a_.index, 0, false}, n);
  }
  const FastStatsFormat* format_ = nullptr;
  QuantStats* st_ = nullptr;
  QuantSumBuffers* sums_ = nullptr;
  ChunkMagnitudes magnitudes_;
  WindowHistogram window_;  // st's window while the chunk is added: its other outcomes only
  std::size_t n_ = 0;
  Arrays a_;
  // Window slot counts of a tile, four copies (see process()); zero between tiles.
  std::array<std::array<std::uint16_t, kNoSlot + 1>, 4> slot_counts_{};
};

// SourceStats::add_with(x, sums.sum, sums.sum_abs, sums.sum_sq, mags) for each
// x of `values`, vectorised the same way: the same statistics, exactly.
// Elements that are not finite, whose square overflows, or subnormal go
// through add_with one by one.
void add_source_values(std::span<const double> values, SourceStats& st, SourceSumBuffers& sums, BinadeHistogram& mags);

// max |x| over the finite x[0, n) (0 when there are none), vectorised.
double finite_amax(const double* x, std::size_t n);

}  // namespace fpscope
