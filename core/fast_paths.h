// core/fast_paths.h: branch-free rounding of float32 bit patterns to formats that fit inside float32.
//
// Internal to the array kernels (core/array.cpp) and their tests. When a format's
// precision, exponent range and subnormal grid all fit inside binary32 (CPFloat's
// fast-path condition, Fasi & Mikaitis 2023 s4), rounding x to the format is integer
// arithmetic on x's bit pattern: normal results drop the d0 = 23 - M low bits of the
// pattern and the carry runs into the exponent field; results below the format's
// smallest normal value (the "tiny" range, where the grid is absolute) drop a shift
// that depends on x's exponent. Both are computed for every element and one is
// selected, so the element loop has no branches and the compiler vectorises it.
//
// Everything that is not plain rounding (NaN and inf inputs, overflow, signed zeros,
// the flags) takes a per-call constant that make_fast_params() obtains from the
// generic path in core/round.h, so the policies are written once, there.
// The exhaustive test (tests/core/test_array_exhaustive.cpp) checks the result and
// the flags of round_float_bits() against encode()/quantize() for all 2^32 inputs.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <optional>

#include "core/config.h"
#include "core/format.h"
#include "core/round.h"

namespace fpscope::detail {

// What a call rounds to: the format's value as float32 bits, or its encoding.
enum class FastOutput : std::uint8_t { value, encoding };

// Per-element events; fast_flags() maps their OR to the IEEE flags of round.h.
enum FastEvent : std::uint32_t {
  kEventInexact = 1,    // finite input, rounded result differs from it
  kEventUnderflow = 2,  // ... and the input lies below the smallest normal value
  kEventOverflow = 4,   // finite input, rounded result beyond max finite
  kEventNanInput = 8,
  kEventInfInput = 16,
  kEventAboveMaxFinite = 32,  // FastRange::up_to_max_finite passed an input through
  kEventTie = 64,             // kTieEvent only: the input lies exactly halfway between two grid points
};

struct FastParams {
  std::uint32_t normal_shift;     // d0 = 23 - M: pattern bits dropped for normal results
  std::uint32_t emin_field;       // float32 exponent field of the format's min normal
  std::uint32_t tiny_shift_base;  // 23 - M (subnormals) or 23 (none): shift at field emin_field
  // The tiny range's grid is 2^g, g = emin - M (emin without subnormals); a
  // result kept * 2^g is built with integer operations only, since a float
  // multiply by a subnormal 2^g costs a microcode assist on x86:
  std::uint32_t tiny_subnormal_limit;  // kept below this: a float32 subnormal, ...
  std::uint32_t tiny_subnormal_shift;  // ... whose bits are kept << (g + 149);
  std::uint32_t tiny_exponent_add;     // else bits(float(kept)) + (g << 23)
  std::uint32_t max_finite_bits;  // float32 bits of max finite
  std::uint32_t sr_shift;         // 32 - sr_bits
  std::uint32_t sr_mask;          // the low sr_bits bits
  // Encoding output only: normal encoding = (pattern >> d0) - exponent_rebias;
  // tiny encoding = grid multiple << tiny_encoding_shift.
  std::uint32_t exponent_rebias;
  std::uint32_t tiny_encoding_shift;
  std::uint32_t sign_out;  // the output's sign bit
  // Results the generic path gives, indexed by the input's sign.
  std::uint32_t nan_out[2];
  std::uint32_t inf_out[2];
  std::uint32_t overflow_out[2];
  std::uint32_t zero_out[2];
  std::uint8_t flags_of_event[5];  // flags of each FastEvent bit, in bit order
};

// Whether the fast path applies: signed formats with a zero whose every value and
// rounding grid is a binary32 number (tf32, bf16, fp16, every 8-, 6- and 4-bit
// preset except e8m0); fp32 itself has no bits to drop.
inline bool fast_path_applies(const Format& f) {
  if (!f.is_signed || !f.has_zero || f.man_bits > 22) return false;
  const ExponentRange r = exponent_range(f);
  const int grid_exp = f.subnormals ? r.emin - f.man_bits : r.emin;
  return r.emin >= -126 && r.emax <= 127 && grid_exp >= -149;
}

// The parameters of one call, or nothing when the fast path does not apply.
inline std::optional<FastParams> make_fast_params(const Format& f, Rounding r, FastOutput out) {
  if (!fast_path_applies(f)) return std::nullopt;
  const ExponentRange range = exponent_range(f);
  const int M = f.man_bits;
  const int grid_man = f.subnormals ? M : 0;
  FastParams p{};
  p.normal_shift = static_cast<std::uint32_t>(23 - M);
  p.emin_field = static_cast<std::uint32_t>(range.emin + 127);
  p.tiny_shift_base = static_cast<std::uint32_t>(23 - grid_man);
  const int grid_exp = range.emin - grid_man;  // >= -149 (fast_path_applies)
  p.tiny_subnormal_limit = grid_exp < -126 ? std::uint32_t{1} << (-126 - grid_exp) : 1u;
  p.tiny_subnormal_shift = static_cast<std::uint32_t>(grid_exp < -126 ? grid_exp + 149 : 0);
  p.tiny_exponent_add = static_cast<std::uint32_t>(grid_exp) << 23;
  p.max_finite_bits = std::bit_cast<std::uint32_t>(static_cast<float>(limits(f).max_finite));
  const int sr_bits = r.mode == Mode::sr ? r.sr_bits : 32;
  p.sr_shift = static_cast<std::uint32_t>(32 - sr_bits);
  p.sr_mask = static_cast<std::uint32_t>((std::uint64_t{1} << sr_bits) - 1);
  p.exponent_rebias = static_cast<std::uint32_t>(127 - f.bias) << M;
  p.tiny_encoding_shift = static_cast<std::uint32_t>(M - grid_man);
  const bool encoding = out == FastOutput::encoding;
  p.sign_out = encoding ? static_cast<std::uint32_t>(sign_bit(f)) : 0x8000'0000u;
  // The special results, from the generic path (never a second copy of the policies).
  const auto as_output = [&](std::uint64_t bits) {
    return encoding ? static_cast<std::uint32_t>(bits)
                    : std::bit_cast<std::uint32_t>(static_cast<float>(decode(bits, f)));
  };
  const double inf = std::bit_cast<double>(std::uint64_t{0x7FF0'0000'0000'0000});
  const double nan = std::bit_cast<double>(std::uint64_t{0x7FF8'0000'0000'0000});
  for (int s = 0; s < 2; ++s) {
    const double sign = s ? -1.0 : 1.0;
    // Negation, not sign * nan: x86 multiplication returns the NaN operand with its own sign.
    p.nan_out[s] = as_output(encode(s ? -nan : nan, f, r).bits);
    p.inf_out[s] = as_output(encode(sign * inf, f, r).bits);
    p.overflow_out[s] = as_output(overflow_bits(f, s != 0, r.mode));
    p.zero_out[s] = as_output(encode(sign * 0.0, f, r).bits);
  }
  // Flags: those round_pack() and encode() report for each kind of event.
  p.flags_of_event[0] = kInexact;
  p.flags_of_event[1] = kUnderflow;
  p.flags_of_event[2] = kOverflow | kInexact;
  p.flags_of_event[3] = encode(nan, f, r).flags;
  p.flags_of_event[4] = encode(inf, f, r).flags | encode(-inf, f, r).flags;
  return p;
}

inline std::uint8_t fast_flags(std::uint32_t events, const FastParams& p) {
  std::uint8_t flags = 0;
  for (int bit = 0; bit < 5; ++bit) {
    if (events & (1u << bit)) flags |= p.flags_of_event[bit];
  }
  return flags;
}

// All-ones when c holds, else zero; pick() is a branch-free select. Written with
// masks because GCC leaves some `c ? a : b` as control flow, which stops vectorisation.
FPSCOPE_FORCEINLINE constexpr std::uint32_t mask_if(bool c) {
  return 0u - static_cast<std::uint32_t>(c);
}
FPSCOPE_FORCEINLINE constexpr std::uint32_t pick(std::uint32_t mask, std::uint32_t a,
                                                 std::uint32_t b) {
  return (a & mask) | (b & ~mask);
}

// Which inputs a kernel instance handles: all of them, or (the common case, a
// little cheaper) those up to max finite, passing larger ones through unchanged.
enum class FastRange : std::uint8_t { all, up_to_max_finite };

// x (as its bits) rounded to the format: float32 bits of the value, or the encoding.
// `random` is sr_random_bits() for the element (Mode::sr only). ORs the element's
// FastEvent bits into `events`. No branches: every select is a mask. With
// kTieEvent it also reports kEventTie (the analysis engine uses it to see when
// rounding a double first to float32 could change the result).
template <Mode kMode, FastOutput kOut, FastRange kRange = FastRange::all, bool kTieEvent = false>
FPSCOPE_FORCEINLINE std::uint32_t round_float_bits(std::uint32_t x, std::uint32_t random,
                                                   const FastParams& p, std::uint32_t& events) {
  constexpr std::uint32_t kHalf32 = 0x8000'0000u;
  const std::uint32_t sign = x >> 31;
  const std::uint32_t negative = mask_if(sign != 0);
  const std::uint32_t magnitude = x & 0x7FFF'FFFFu;
  const std::uint32_t field = magnitude >> 23;
  const std::uint32_t tiny = mask_if(field < p.emin_field);

  // Normal results: drop d0 pattern bits; a carry moves into the exponent field.
  const std::uint32_t kept_normal = magnitude >> p.normal_shift;
  const std::uint32_t frac_normal = magnitude << (32 - p.normal_shift);

  // Tiny range: the significand (with its implicit bit) shifted to the absolute
  // grid 2^g; the shift grows by one per binade below the min normal.
  const std::uint32_t has_implicit = field != 0 ? 1u : 0u;
  const std::uint32_t significand = (magnitude & 0x7F'FFFFu) | (has_implicit << 23);
  const std::uint32_t field_eff = field | (has_implicit ^ 1u);  // float32 subnormals: field 1
  // Wraps to a huge value for non-tiny inputs: every shift below is clamped and
  // the tiny results are then discarded.
  const std::uint32_t shift = p.tiny_shift_base + p.emin_field - field_eff;
  const std::uint32_t shift31 = shift < 31 ? shift : 31;  // significand < 2^24: >> 31 gives 0
  const std::uint32_t kept_tiny = significand >> shift31;
  const std::uint32_t right = shift > 32 ? shift - 32 : 0;
  const std::uint32_t frac_tiny =
      pick(mask_if(shift <= 32), significand << ((32 - shift) & 31),
           significand >> (right < 31 ? right : 31));
  const std::uint32_t inexact_tiny = mask_if((significand & ~(0xFFFF'FFFFu << shift31)) != 0);

  // frac: the discarded part as a left-aligned 32-bit fraction of one ulp. Below
  // 32 discarded bits only its top bits survive, enough for every mode: the
  // value is then under half an ulp, and inexactness comes from inexact_tiny.
  std::uint32_t kept = pick(tiny, kept_tiny, kept_normal);
  const std::uint32_t frac = pick(tiny, frac_tiny, frac_normal);
  const std::uint32_t inexact = pick(tiny, inexact_tiny, mask_if(frac_normal != 0));
  std::uint32_t increment = 0;
  if constexpr (kMode == Mode::rne) {
    increment = static_cast<std::uint32_t>(frac > kHalf32) |
                (static_cast<std::uint32_t>(frac == kHalf32) & kept);
  } else if constexpr (kMode == Mode::rna) {
    increment = static_cast<std::uint32_t>(frac >= kHalf32);
  } else if constexpr (kMode == Mode::rup) {
    increment = inexact & ~negative & 1u;
  } else if constexpr (kMode == Mode::rdn) {
    increment = inexact & negative & 1u;
  } else if constexpr (kMode == Mode::rto) {
    kept |= inexact & 1u;
  } else if constexpr (kMode == Mode::sr) {
    // round_pack: up iff lead + noise carries out of sr_bits bits, i.e. noise > mask - lead.
    const std::uint32_t lead = frac >> p.sr_shift;
    increment = static_cast<std::uint32_t>((random & p.sr_mask) > (lead ^ p.sr_mask));
  }
  kept += increment & 1u;
  if constexpr (kTieEvent) events |= mask_if(frac == kHalf32) & kEventTie;

  const std::uint32_t normal_pattern = kept << p.normal_shift;
  std::uint32_t result;
  if constexpr (kOut == FastOutput::value) {
    // kept <= 2^M converts exactly; kept = 0 takes the subnormal branch and gives +0.
    const std::uint32_t tiny_normal =
        std::bit_cast<std::uint32_t>(static_cast<float>(static_cast<std::int32_t>(kept))) +
        p.tiny_exponent_add;
    const std::uint32_t tiny_value = pick(mask_if(kept < p.tiny_subnormal_limit),
                                          kept << p.tiny_subnormal_shift, tiny_normal);
    result = pick(tiny, tiny_value, normal_pattern);
  } else {
    result = pick(tiny, kept << p.tiny_encoding_shift, kept - p.exponent_rebias);
  }
  // Per-sign constants by select rather than table[sign], which would need a gather.
  const std::uint32_t zero = pick(negative, p.zero_out[1], p.zero_out[0]);
  result = pick(mask_if(result == 0), zero, result | (negative & p.sign_out));
  if constexpr (kRange == FastRange::up_to_max_finite) {
    // Inputs above max finite (overflow candidates, inf, NaN) come back unchanged
    // and flagged; the caller runs them again through FastRange::all.
    const std::uint32_t above = mask_if(magnitude > p.max_finite_bits);
    result = pick(above, x, result);
    const std::uint32_t counted_inexact = inexact & ~above;
    events |= (counted_inexact & kEventInexact) | (counted_inexact & tiny & kEventUnderflow) |
              (above & kEventAboveMaxFinite);
  } else {
    const std::uint32_t is_nan = mask_if(magnitude > 0x7F80'0000u);
    const std::uint32_t is_inf = mask_if(magnitude == 0x7F80'0000u);
    const std::uint32_t finite = mask_if(magnitude < 0x7F80'0000u);
    const std::uint32_t overflow = finite & ~tiny & mask_if(normal_pattern > p.max_finite_bits);
    result = pick(overflow, pick(negative, p.overflow_out[1], p.overflow_out[0]), result);
    result = pick(is_inf, pick(negative, p.inf_out[1], p.inf_out[0]), result);
    result = pick(is_nan, pick(negative, p.nan_out[1], p.nan_out[0]), result);
    const std::uint32_t finite_inexact = finite & inexact;
    events |= (finite_inexact & kEventInexact) | (finite_inexact & tiny & kEventUnderflow) |
              (overflow & kEventOverflow) | (is_nan & kEventNanInput) | (is_inf & kEventInfInput);
  }
  return result;
}

// Stochastic rounding of a double, for callers that cannot round it to float32
// first: SR's random decision reads up to 32 leading bits of the discarded
// fraction, and a float32 keeps only 23 - M of them (the analysis engine's
// tiles, analysis/fast_stats.cpp). The same arithmetic as round_float_bits on
// the double's 52-bit significand.
struct FastDoubleParams {
  std::uint64_t normal_shift;     // 52 - M: significand bits dropped for normal results
  std::uint64_t emin_field;       // double exponent field of the format's min normal
  std::uint64_t tiny_shift_base;  // below it, a significand's shift to the grid 2^g: base - field
  double grid;                    // 2^g: the tiny range's spacing (g = emin - M, or emin without subnormals)
  double max_finite;
};
inline FastDoubleParams make_fast_double_params(const Format& f) {
  const ExponentRange range = exponent_range(f);
  const int grid_exp = range.emin - (f.subnormals ? f.man_bits : 0);
  FastDoubleParams d{};
  d.normal_shift = static_cast<std::uint64_t>(52 - f.man_bits);
  d.emin_field = static_cast<std::uint64_t>(range.emin + 1023);
  d.tiny_shift_base = static_cast<std::uint64_t>(1075 + grid_exp);
  d.grid = std::ldexp(1.0, grid_exp);
  d.max_finite = limits(f).max_finite;
  return d;
}

// x rounded to the format by SR with `random` (sr_random_bits), as the format's
// value in float32 bits: the value encode() gives (p: make_fast_params(f, r,
// FastOutput::value) for its SR width and zero results). Sets `taken` to all
// ones when it did; to zero for NaN, inf, double subnormals, inputs or results
// beyond max finite, which the caller takes to encode(). No branches.
FPSCOPE_FORCEINLINE std::uint32_t round_double_sr_value(double x, std::uint32_t random, const FastParams& p,
                                                        const FastDoubleParams& d, std::uint32_t& taken) {
  // Selects as masks, as in round_float_bits (GCC leaves `c ? a : b` as control flow).
  const auto mask64 = [](bool c) { return 0 - static_cast<std::uint64_t>(c); };
  const auto pick64 = [](std::uint64_t m, std::uint64_t a, std::uint64_t b) { return (a & m) | (b & ~m); };
  const std::uint64_t bits = std::bit_cast<std::uint64_t>(x);
  const std::uint64_t magnitude = bits & 0x7FFF'FFFF'FFFF'FFFFu;
  const std::uint64_t field = magnitude >> 52;
  const std::uint64_t tiny = mask64(field < d.emin_field);
  // Normal results: drop normal_shift bits of the pattern; a carry moves into the exponent.
  const std::uint64_t kept_normal = magnitude >> d.normal_shift;
  const std::uint64_t frac_normal = magnitude << (64 - d.normal_shift);
  // Tiny range: the significand shifted to the grid (a huge shift for small fields: clamped).
  const std::uint64_t significand = (magnitude & 0x000F'FFFF'FFFF'FFFFu) | (std::uint64_t{field != 0} << 52);
  const std::uint64_t shift = d.tiny_shift_base - field;  // >= 30 in the tiny range; wraps above it (unused)
  const std::uint64_t kept_tiny = significand >> (shift < 63 ? shift : 63);
  const std::uint64_t right = shift > 64 ? shift - 64 : 0;
  const std::uint64_t frac_tiny = pick64(mask64(shift <= 64), significand << ((64 - shift) & 63),
                                         significand >> (right < 63 ? right : 63));
  const std::uint64_t frac = pick64(tiny, frac_tiny, frac_normal);
  // round_pack: up iff lead + noise carries out of sr_bits bits.
  const auto lead = static_cast<std::uint32_t>(frac >> 32) >> p.sr_shift;
  const std::uint64_t up = static_cast<std::uint64_t>((random & p.sr_mask) > (lead ^ p.sr_mask));
  const std::uint64_t normal_value = (kept_normal + up) << d.normal_shift;
  const std::uint64_t tiny_value =
      std::bit_cast<std::uint64_t>(static_cast<double>(static_cast<std::int64_t>(kept_tiny + up)) * d.grid);
  const double value = std::bit_cast<double>(pick64(tiny, tiny_value, normal_value));
  const bool ok = ((field != 0) | (magnitude == 0)) & (field < 0x7FF) & (value <= d.max_finite);
  taken = mask_if(ok);
  const double safe = std::bit_cast<double>(std::bit_cast<std::uint64_t>(value) & mask64(ok));  // float() of it is defined
  const std::uint32_t value_bits = std::bit_cast<std::uint32_t>(static_cast<float>(safe));
  const std::uint32_t negative = mask_if((bits >> 63) != 0);
  const std::uint32_t zero = pick(negative, p.zero_out[1], p.zero_out[0]);
  return pick(mask_if(value == 0.0), zero, value_bits | (negative & 0x8000'0000u));
}

// The instruction sets the array kernels are compiled for (core/array.cpp picks
// the widest the CPU has). Tests force each one the CPU supports in turn.
enum class KernelIsa : std::uint8_t { baseline, avx2, avx512 };
KernelIsa detected_kernel_isa();
// Test hook: the ISA the kernels use from now on (clamped to what the CPU has);
// returns the one in effect. Not for library users: it is process-wide.
KernelIsa use_kernel_isa_for_testing(KernelIsa isa);

}  // namespace fpscope::detail
