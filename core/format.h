// core/format.h: a floating-point format as a runtime value, its derived limits, and the presets.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/config.h"

namespace fpscope {

// What the encodings at the top of the exponent range (and 0x80-style codes) mean.
// OFP8 rev 1.0 s5 (ieee e5m2, fn e4m3), ml_dtypes float8.h (fnuz), OCP MX v1.0 s5.3 (none).
enum class Specials : std::uint8_t {
  ieee,  // all-ones exponent: mantissa 0 is inf, otherwise NaN
  fn,    // finite only; NaN is the all-ones encoding S.11..1.11..1
  fnuz,  // finite only, no -0; NaN is the sign bit alone (0x80 for 8 bits)
  none,  // every encoding is a finite number
};

// What a result beyond the largest finite value becomes. With `inf` and `nan`
// the IEEE 754 s7.4 rule applies: rounding toward zero still gives max finite.
enum class Overflow : std::uint8_t {
  saturate,  // +-max finite
  inf,       // +-inf (ieee formats only)
  nan,       // NaN (formats with a NaN encoding)
};

// A format is a small value (STYLE.md convention 1). Use the presets or
// parse_format(); validate() says whether a hand-built one is possible.
struct Format {
  int exp_bits = 8;
  int man_bits = 23;
  int bias = 127;
  bool is_signed = true;
  Specials specials = Specials::ieee;
  bool subnormals = true;
  Overflow overflow = Overflow::inf;
  // false for e8m0: exponent field 0 is the normal value 2^-bias, there is no zero.
  bool has_zero = true;

  friend constexpr bool operator==(const Format&, const Format&) = default;
};

// Properties derived from a Format by one function, limits().
struct FormatLimits {
  int total_bits;       // sign + exponent + mantissa bits
  int precision;        // significand bits including the implicit one
  int emin;             // unbiased exponent of the smallest normal value
  int emax;             // unbiased exponent of the largest finite value
  std::uint64_t max_mantissa;  // mantissa field of the largest finite value
  double max_finite;
  double min_normal;
  double min_subnormal;  // equals min_normal when the format has no subnormals
  double epsilon;        // 2^-(precision-1): gap between 1 and the next value
  std::uint64_t finite_count;  // distinct finite values (+0 and -0 count once)
  double decimal_digits;       // precision * log10(2)
  double binades;              // log2(max_finite / min_subnormal)
  bool has_inf;
  bool has_nan;
  bool has_negative_zero;
};

namespace detail {
FPSCOPE_HD constexpr double exp2i(int e) {
  double r = 1.0;
  double b = e >= 0 ? 2.0 : 0.5;
  for (int n = e >= 0 ? e : -e; n > 0; n >>= 1, b *= b) {
    if (n & 1) r *= b;
  }
  return r;
}
// log2(s) for s in [1, 2), by repeated squaring (constexpr; 40 fraction bits).
FPSCOPE_HD constexpr double log2_unit(double s) {
  double result = 0.0;
  double bit = 0.5;
  for (int i = 0; i < 40; ++i, bit *= 0.5) {
    s *= s;
    if (s >= 2.0) {
      s *= 0.5;
      result += bit;
    }
  }
  return result;
}
}  // namespace detail

// The exponent range alone, cheap enough for the rounding hot path.
struct ExponentRange {
  int emin;                    // unbiased exponent of the smallest normal value
  int emax;                    // unbiased exponent of the largest finite value
  std::uint64_t max_mantissa;  // mantissa field of the largest finite value
};

FPSCOPE_HD constexpr ExponentRange exponent_range(const Format& f) {
  const std::uint64_t man_ones = (std::uint64_t{1} << f.man_bits) - 1;
  const int top_field = (1 << f.exp_bits) - 1;
  ExponentRange r{(f.has_zero ? 1 : 0) - f.bias, top_field - f.bias, man_ones};
  if (f.specials == Specials::ieee) {
    r.emax = top_field - 1 - f.bias;
  } else if (f.specials == Specials::fn) {
    // The all-ones code is NaN; with M = 0 that takes the whole top binade.
    if (f.man_bits == 0) {
      r.emax = top_field - 1 - f.bias;
    } else {
      r.max_mantissa = man_ones - 1;
    }
  }
  return r;
}

FPSCOPE_HD constexpr FormatLimits limits(const Format& f) {
  FormatLimits l{};
  const int M = f.man_bits;
  const std::uint64_t man_ones = (std::uint64_t{1} << M) - 1;
  l.total_bits = f.exp_bits + M + (f.is_signed ? 1 : 0);
  l.precision = M + 1;
  const ExponentRange range = exponent_range(f);
  l.emin = range.emin;
  l.emax = range.emax;
  l.max_mantissa = range.max_mantissa;
  l.max_finite = detail::exp2i(l.emax) *
                 (1.0 + static_cast<double>(l.max_mantissa) * detail::exp2i(-M));
  l.min_normal = detail::exp2i(l.emin);
  const bool has_subnormals = f.subnormals && f.has_zero && M > 0;
  const int min_exp = has_subnormals ? l.emin - M : l.emin;
  l.min_subnormal = detail::exp2i(min_exp);
  l.epsilon = detail::exp2i(-M);
  l.has_inf = f.specials == Specials::ieee;
  l.has_nan = f.specials != Specials::none;
  l.has_negative_zero = f.is_signed && f.has_zero && f.specials != Specials::fnuz;
  // Distinct finite values: the non-zero magnitudes (normal codes from the
  // lowest normal field to emax, plus subnormals), both signs, and one zero.
  const std::uint64_t per_binade = man_ones + 1;
  const std::uint64_t normal_magnitudes =
      static_cast<std::uint64_t>(l.emax - l.emin) * per_binade + l.max_mantissa + 1;
  const std::uint64_t nonzero = normal_magnitudes + (has_subnormals ? man_ones : 0);
  l.finite_count = (f.is_signed ? 2 * nonzero : nonzero) + (f.has_zero ? 1 : 0);
  l.decimal_digits = l.precision * 0.30102999566398120;
  // log2(max_finite / min_subnormal) = emax + log2(top significand) - log2(min_subnormal).
  const double top_sig = 1.0 + static_cast<double>(l.max_mantissa) * detail::exp2i(-M);
  l.binades = static_cast<double>(l.emax - min_exp) + detail::log2_unit(top_sig);
  return l;
}

// A named preset: the format and a one-line description of its origin.
struct Preset {
  std::string_view name;
  Format format;
  std::string_view note;
};

// Every preset, in the order `fpscope formats` lists them (NUMERICS.md s1).
std::span<const Preset> presets();

// The preset with this name (aliases accepted), or nullptr.
const Preset* find_preset(std::string_view name);

// Parses a preset name or a spec such as "e5m7" or "e4m3:bias=9:nosub:sat=inf".
// Throws fpscope::Error naming the spec and listing the valid choices.
Format parse_format(std::string_view spec);

// Throws fpscope::Error if the parameters describe no possible format; `what` names it.
void validate(const Format& f, std::string_view what);

// The canonical spec of a format: a preset name when it is one, else eXmY with options.
std::string format_name(const Format& f);

}  // namespace fpscope
