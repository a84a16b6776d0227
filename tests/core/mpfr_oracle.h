// tests/core/mpfr_oracle.h: an MPFR emulation of a Format, the oracle for the rounding and arithmetic tests.
//
// The emulation is the one NUMERICS.md s2 describes: precision p = man_bits + 1,
// mpfr_set_emin/mpfr_set_emax from the format's limits, the matching MPFR
// rounding mode and mpfr_subnormalize after each operation. It is written from
// the format's definition (NUMERICS.md s1, IEEE 754-2019) and calls nothing in
// core/round.h, so the two can disagree; it takes only the Mode enum from there.
// Round-to-nearest-away and round-to-odd are not MPFR modes and are emulated:
//  - rna: the result of MPFR_RNDN unless the exact value is a midpoint, which is
//    detected by rounding it toward zero to p + 1 bits exactly (one more bit of
//    the same format, subnormals included); a midpoint takes MPFR_RNDA.
//  - rto: MPFR_RNDZ, then, when the ternary value says inexact, the last bit of
//    the format's significand (its subnormal grid below min normal) is set.
// The range policies are the format's: overflow is "the result rounded with an
// unbounded exponent range exceeds max finite" (IEEE 754 s7.4) and gives max
// finite, inf or NaN per the overflow policy, max finite for directed rounding
// toward zero and for rto; a format without subnormals rounds between 0 and min
// normal (tiny values: ties to 0 in rne); a format without zero (e8m0) gives its
// smallest value of the same sign for everything below it, and +2^emin for an
// exact zero; underflow is "tiny before rounding
// and inexact" (IEEE 754 s7.5, the definition core/round.h documents).
#pragma once

#include <mpfr.h>

#include <cmath>
#include <cstdint>
#include <functional>

#include "core/format.h"
#include "core/round.h"  // the Mode enum only

namespace fpscope::oracle {

// The IEEE 754 s7 exception flags, numbered as core/round.h and core/arith.h
// number theirs (the tests static_assert that they agree).
namespace flag {
inline constexpr std::uint8_t inexact = 1;
inline constexpr std::uint8_t underflow = 2;
inline constexpr std::uint8_t overflow = 4;
inline constexpr std::uint8_t invalid = 8;
inline constexpr std::uint8_t div_by_zero = 16;
}  // namespace flag

// What a correctly rounding implementation must return. NaN results compare as a
// class (bits holds the canonical NaN of the format only for information).
struct Expected {
  std::uint64_t bits = 0;
  std::uint8_t flags = 0;
  bool is_nan = false;
};

// An mpfr_t that frees itself.
class Real {
 public:
  explicit Real(mpfr_prec_t precision) { mpfr_init2(x_, precision); }
  ~Real() { mpfr_clear(x_); }
  Real(const Real&) = delete;
  Real& operator=(const Real&) = delete;
  mpfr_ptr get() { return x_; }
  mpfr_srcptr get() const { return x_; }
  operator mpfr_ptr() { return x_; }
  operator mpfr_srcptr() const { return x_; }

 private:
  mpfr_t x_;
};

// Sets MPFR's exponent range for one scope (MPFR's convention: x = 0.1b... * 2^e,
// emin <= e <= emax) and restores the previous one.
class ExponentRangeScope {
 public:
  ExponentRangeScope(mpfr_exp_t emin, mpfr_exp_t emax)
      : old_emin_(mpfr_get_emin()), old_emax_(mpfr_get_emax()) {
    mpfr_set_emin(emin);
    mpfr_set_emax(emax);
  }
  ~ExponentRangeScope() {
    mpfr_set_emin(old_emin_);
    mpfr_set_emax(old_emax_);
  }
  ExponentRangeScope(const ExponentRangeScope&) = delete;
  ExponentRangeScope& operator=(const ExponentRangeScope&) = delete;

 private:
  mpfr_exp_t old_emin_;
  mpfr_exp_t old_emax_;
};

// An operation to emulate: writes its result into rop, rounded in MPFR mode rnd
// to rop's precision in the current exponent range; returns the ternary value.
using Operation = std::function<int(mpfr_ptr rop, mpfr_rnd_t rnd)>;

// The format's limits, derived here from its definition (not from limits()).
struct OracleLimits {
  int precision;               // p: significand bits with the implicit one
  int emin;                    // exponent of the smallest normal value (IEEE convention)
  int emax;                    // exponent of the largest finite value
  std::uint64_t max_mantissa;  // mantissa field of the largest finite value
  bool subnormals;             // values below min normal other than zero exist
  bool has_zero;
  bool has_inf;
  bool has_nan;
  bool has_negative_zero;
};

inline OracleLimits derive_limits(const Format& f) {
  OracleLimits l{};
  const int M = f.man_bits;
  const int top = (1 << f.exp_bits) - 1;
  const std::uint64_t ones = (std::uint64_t{1} << M) - 1;
  l.precision = M + 1;
  l.has_zero = f.has_zero;
  // Without a zero (e8m0) exponent field 0 is the normal value 2^-bias (OCP MX s5.4.1).
  l.emin = (f.has_zero ? 1 : 0) - f.bias;
  l.emax = top - f.bias;
  l.max_mantissa = ones;
  switch (f.specials) {
    case Specials::ieee:  // IEEE 754 s3.4: the all-ones exponent holds inf and NaN
      l.emax = top - 1 - f.bias;
      break;
    case Specials::fn:  // OFP8 s5: only S.1..1.1..1 is NaN (the whole top binade if M = 0)
      if (M == 0) {
        l.emax = top - 1 - f.bias;
      } else {
        l.max_mantissa = ones - 1;
      }
      break;
    case Specials::fnuz:  // the sign bit alone is NaN; every other code is finite
    case Specials::none:
      break;
  }
  l.subnormals = f.subnormals && f.has_zero && M > 0;
  l.has_inf = f.specials == Specials::ieee;
  l.has_nan = f.specials != Specials::none;
  l.has_negative_zero = f.is_signed && f.has_zero && f.specials != Specials::fnuz;
  return l;
}

// The MPFR emulation of one format.
class Emulator {
 public:
  explicit Emulator(const Format& f) : f_(f), l_(derive_limits(f)) {}

  const Format& format() const { return f_; }
  const OracleLimits& limits() const { return l_; }
  int precision() const { return l_.precision; }

  std::uint64_t sign_bit() const {
    return f_.is_signed ? std::uint64_t{1} << (f_.exp_bits + f_.man_bits) : 0;
  }
  int total_bits() const { return f_.exp_bits + f_.man_bits + (f_.is_signed ? 1 : 0); }
  // Every encoding is <= encoding_mask() (all 64 bits for fp64).
  std::uint64_t encoding_mask() const { return ~std::uint64_t{0} >> (64 - total_bits()); }
  // The number of encodings, for formats narrower than 64 bits.
  std::uint64_t encoding_count() const { return std::uint64_t{1} << total_bits(); }

  // The field view of an encoding.
  std::uint64_t field_of(std::uint64_t bits) const {
    return (bits >> f_.man_bits) & ((std::uint64_t{1} << f_.exp_bits) - 1);
  }
  std::uint64_t mantissa_of(std::uint64_t bits) const {
    return bits & ((std::uint64_t{1} << f_.man_bits) - 1);
  }
  bool is_nan(std::uint64_t bits) const {
    const std::uint64_t top = (std::uint64_t{1} << f_.exp_bits) - 1;
    const std::uint64_t ones = (std::uint64_t{1} << f_.man_bits) - 1;
    switch (f_.specials) {
      case Specials::ieee:
        return field_of(bits) == top && mantissa_of(bits) != 0;
      case Specials::fn:
        return field_of(bits) == top && mantissa_of(bits) == ones;
      case Specials::fnuz:
        return bits == sign_bit();
      case Specials::none:
        return false;
    }
    return false;
  }
  bool is_inf(std::uint64_t bits) const {
    const std::uint64_t top = (std::uint64_t{1} << f_.exp_bits) - 1;
    return f_.specials == Specials::ieee && field_of(bits) == top && mantissa_of(bits) == 0;
  }

  // Sets out (precision >= p) to the exact value of an encoding, from its fields:
  // (-1)^s * 2^(field - bias) * 1.mantissa, or 2^(1 - bias) * 0.mantissa for
  // field 0 (read as zero in a format without subnormals). NaN and inf as MPFR's.
  void value(mpfr_ptr out, std::uint64_t bits) const {
    const bool negative = (bits & sign_bit()) != 0;
    const int M = f_.man_bits;
    const long field = static_cast<long>(field_of(bits));
    const unsigned long mantissa = mantissa_of(bits);
    if (is_nan(bits)) {
      mpfr_set_nan(out);
      return;
    }
    if (is_inf(bits)) {
      mpfr_set_inf(out, negative ? -1 : 1);
      return;
    }
    if (field == 0 && f_.has_zero) {
      if (mantissa == 0 || !f_.subnormals) {
        mpfr_set_zero(out, negative ? -1 : 1);
        return;
      }
      mpfr_set_ui_2exp(out, mantissa, 1 - f_.bias - M, MPFR_RNDN);  // exact
    } else {
      mpfr_set_ui_2exp(out, (1UL << M) | mantissa, field - f_.bias - M, MPFR_RNDN);
    }
    if (negative) mpfr_neg(out, out, MPFR_RNDN);
  }

  // The largest finite value (positive), exactly.
  void max_finite(mpfr_ptr out) const {
    mpfr_set_ui_2exp(out, (1UL << f_.man_bits) | l_.max_mantissa, l_.emax - f_.man_bits,
                     MPFR_RNDN);
  }

  // Rounds the result of `op` to the format in mode m (no NaN operands: the
  // callers below give NaN operands their quiet NaN first).
  Expected round(const Operation& op, Mode m) const {
    const int p = l_.precision;
    // The operation in MPFR's full exponent range, toward zero: its class and
    // sign, and tininess (|RZ(x)| < 2^emin exactly when |x| < 2^emin).
    Real wide(p);
    mpfr_clear_flags();
    const int wide_ternary = op(wide, MPFR_RNDZ);
    const bool divided_by_zero = mpfr_divby0_p() != 0;
    if (mpfr_nan_p(wide)) return invalid();
    if (mpfr_inf_p(wide)) {
      Expected e = infinite(mpfr_signbit(wide) != 0);
      if (divided_by_zero) e.flags |= flag::div_by_zero;
      return e;
    }
    if (mpfr_zero_p(wide)) {
      // An exact zero: its sign (IEEE 754 s6.3) depends on the mode, so ask
      // MPFR again in the mode itself (rna and rto are round-to-nearest and
      // toward-zero here, which give +0 like every mode but rdn).
      Real zero(p);
      op(zero, m == Mode::rdn ? MPFR_RNDD : m == Mode::rup ? MPFR_RNDU : MPFR_RNDN);
      return exact_zero(mpfr_signbit(zero) != 0);
    }
    const bool negative = mpfr_signbit(wide) != 0;
    if (negative && !f_.is_signed) return invalid_unsigned();
    Real min_normal(p);
    mpfr_set_ui_2exp(min_normal, 1, l_.emin, MPFR_RNDN);
    const bool tiny = mpfr_cmpabs(wide, min_normal) < 0;
    if (tiny && !f_.has_zero) {  // the smallest value of the same sign
      return Expected{negative ? sign_bit() : 0,
                      static_cast<std::uint8_t>(flag::inexact | flag::underflow), false};
    }
    if (tiny && !l_.subnormals) return round_between_zero_and_min_normal(wide, wide_ternary, negative, m);

    Real result(p);
    int ternary = 0;
    bool overflowed = false;
    switch (m) {
      case Mode::rne:
      case Mode::rtz:
      case Mode::rup:
      case Mode::rdn:
        ternary = emulate(op, result, mpfr_mode(m), &overflowed);
        break;
      case Mode::rna: {
        ternary = emulate(op, result, MPFR_RNDN, &overflowed);
        if (ternary != 0 && !overflowed && is_midpoint(op)) {
          ternary = emulate(op, result, MPFR_RNDA, &overflowed);
        }
        break;
      }
      case Mode::rto:
        ternary = emulate(op, result, MPFR_RNDZ, &overflowed);
        if (ternary != 0 && !overflowed) set_last_bit(result, negative);
        break;
      case Mode::sr:
        break;  // not MPFR-checkable; the callers never ask
    }
    Real top(p + 1);
    max_finite(top);
    if (overflowed || mpfr_cmpabs(result, top) > 0) return overflow(negative, m);
    Expected e;
    if (ternary != 0) e.flags |= flag::inexact;
    if (ternary != 0 && tiny) e.flags |= flag::underflow;
    e.bits = encode_finite(result);
    return e;
  }

  // Conversion of a binary64 / binary32 value (the specials by the documented
  // policy: inf stays inf where the format has one and does not saturate, else
  // NaN with invalid under sat=nan, else max finite with overflow; NaN without a
  // NaN code is +max finite with invalid, as CUDA's fp4/fp6 conversions do).
  Expected from_double(double x, Mode m) const {
    if (std::isnan(x)) return nan_input(std::signbit(x));
    if (std::isinf(x)) return inf_input(std::signbit(x));
    return round([x](mpfr_ptr rop, mpfr_rnd_t rnd) { return mpfr_set_d(rop, x, rnd); }, m);
  }
  Expected from_float(float x, Mode m) const {
    if (std::isnan(x)) return nan_input(std::signbit(x));
    if (std::isinf(x)) return inf_input(std::signbit(x));
    return round([x](mpfr_ptr rop, mpfr_rnd_t rnd) { return mpfr_set_flt(rop, x, rnd); }, m);
  }

  // The operations on encodings.
  Expected add(std::uint64_t a, std::uint64_t b, Mode m) const { return binary(mpfr_add, a, b, m); }
  Expected sub(std::uint64_t a, std::uint64_t b, Mode m) const { return binary(mpfr_sub, a, b, m); }
  Expected mul(std::uint64_t a, std::uint64_t b, Mode m) const { return binary(mpfr_mul, a, b, m); }
  Expected div(std::uint64_t a, std::uint64_t b, Mode m) const { return binary(mpfr_div, a, b, m); }
  Expected sqrt(std::uint64_t a, Mode m) const {
    if (is_nan(a)) return quiet_nan();
    Real x(l_.precision);
    value(x, a);
    return round([&x](mpfr_ptr rop, mpfr_rnd_t rnd) { return mpfr_sqrt(rop, x, rnd); }, m);
  }
  Expected fma(std::uint64_t a, std::uint64_t b, std::uint64_t c, Mode m) const {
    if (is_nan(a) || is_nan(b) || is_nan(c)) return quiet_nan();
    Real x(l_.precision), y(l_.precision), z(l_.precision);
    value(x, a);
    value(y, b);
    value(z, c);
    return round(
        [&](mpfr_ptr rop, mpfr_rnd_t rnd) { return mpfr_fma(rop, x, y, z, rnd); }, m);
  }

 private:
  using BinaryFunction = int (*)(mpfr_ptr, mpfr_srcptr, mpfr_srcptr, mpfr_rnd_t);

  Expected binary(BinaryFunction fn, std::uint64_t a, std::uint64_t b, Mode m) const {
    if (is_nan(a) || is_nan(b)) return quiet_nan();
    Real x(l_.precision), y(l_.precision);
    value(x, a);
    value(y, b);
    return round([&](mpfr_ptr rop, mpfr_rnd_t rnd) { return fn(rop, x, y, rnd); }, m);
  }

  static mpfr_rnd_t mpfr_mode(Mode m) {
    switch (m) {
      case Mode::rtz:
        return MPFR_RNDZ;
      case Mode::rup:
        return MPFR_RNDU;
      case Mode::rdn:
        return MPFR_RNDD;
      default:
        return MPFR_RNDN;
    }
  }

  // MPFR's exponent range for this format at precision `bits` (p, or p + 1 for
  // the midpoint test): the smallest subnormal 2^(emin - M') is 0.1 * 2^(emin - M' + 1).
  mpfr_exp_t mpfr_emin(int bits) const {
    return l_.subnormals ? l_.emin - (bits - 1) + 1 : l_.emin + 1;
  }
  mpfr_exp_t mpfr_emax() const { return l_.emax + 1; }

  // The operation at result's precision in the format's exponent range, then
  // mpfr_subnormalize; *overflowed says MPFR's range was exceeded.
  int emulate(const Operation& op, mpfr_ptr result, mpfr_rnd_t rnd, bool* overflowed) const {
    const ExponentRangeScope range(mpfr_emin(static_cast<int>(mpfr_get_prec(result))), mpfr_emax());
    mpfr_clear_flags();
    int ternary = op(result, rnd);
    if (l_.subnormals) ternary = mpfr_subnormalize(result, ternary, rnd);
    *overflowed = mpfr_overflow_p() != 0;
    return ternary;
  }

  // True when the exact result lies halfway between two neighbours: it is
  // representable with one more significand bit but not with p bits.
  bool is_midpoint(const Operation& op) const {
    Real finer(l_.precision + 1);
    bool overflowed = false;
    return emulate(op, finer, MPFR_RNDZ, &overflowed) == 0 && !overflowed;
  }

  // Round to odd after MPFR_RNDZ: make the last significand bit 1 by moving one
  // ulp away from zero when it is 0 (the value then has no carry to propagate).
  void set_last_bit(mpfr_ptr result, bool negative) const {
    const int M = f_.man_bits;
    long ulp_exp = l_.emin - M;  // the subnormal grid, and the grid of a zero result
    if (!mpfr_zero_p(result)) {
      const long exponent = static_cast<long>(mpfr_get_exp(result)) - 1;  // IEEE convention
      if (exponent >= l_.emin) ulp_exp = exponent - M;
    }
    Real units(l_.precision + 2);
    mpfr_mul_2si(units, result, -ulp_exp - 1, MPFR_RNDN);  // result / (2 ulp), exact
    if (!mpfr_integer_p(units)) return;                    // already odd
    Real ulp(2);
    mpfr_set_ui_2exp(ulp, 1, ulp_exp, MPFR_RNDN);
    if (negative) mpfr_neg(ulp, ulp, MPFR_RNDN);
    mpfr_add(result, result, ulp, MPFR_RNDN);  // exact: fits p bits
    if (mpfr_zero_p(result)) mpfr_set_zero(result, negative ? -1 : 1);
  }

  // A format without subnormals: tiny non-zero values round between 0 and min
  // normal, whose midpoint is 2^(emin - 1); min normal counts as odd (a single
  // step of the grid {0, min normal}), so rne's tie goes to 0 and rto gives min normal.
  Expected round_between_zero_and_min_normal(mpfr_srcptr wide, int wide_ternary, bool negative,
                                             Mode m) const {
    Real half(l_.precision);
    mpfr_set_ui_2exp(half, 1, l_.emin - 1, MPFR_RNDN);
    const int against_half = mpfr_cmpabs(wide, half);
    const bool below = against_half < 0;
    const bool tie = against_half == 0 && wide_ternary == 0;
    bool up = false;  // magnitude rounds up to min normal
    switch (m) {
      case Mode::rne:
        up = !below && !tie;
        break;
      case Mode::rna:
        up = !below;
        break;
      case Mode::rtz:
        up = false;
        break;
      case Mode::rup:
        up = !negative;
        break;
      case Mode::rdn:
        up = negative;
        break;
      case Mode::rto:
      case Mode::sr:
        up = true;
        break;
    }
    Expected e;
    e.flags = flag::inexact | flag::underflow;
    if (up) {
      Real min_normal(l_.precision);
      mpfr_set_ui_2exp(min_normal, 1, l_.emin, MPFR_RNDN);
      if (negative) mpfr_neg(min_normal, min_normal, MPFR_RNDN);
      e.bits = encode_finite(min_normal);
    } else {
      e.bits = zero_bits(negative);
    }
    return e;
  }

  // A finite value of the format (already rounded) to its encoding.
  std::uint64_t encode_finite(mpfr_srcptr v) const {
    const bool negative = mpfr_signbit(v) != 0;
    if (mpfr_zero_p(v)) return zero_bits(negative);
    const int M = f_.man_bits;
    const std::uint64_t sign = negative ? sign_bit() : 0;
    const long exponent = static_cast<long>(mpfr_get_exp(v)) - 1;  // v = 1.f * 2^exponent
    Real scaled(64);
    if (exponent < l_.emin) {  // subnormal: an integer multiple of 2^(emin - M)
      mpfr_mul_2si(scaled, v, -(l_.emin - M), MPFR_RNDN);
      mpfr_abs(scaled, scaled, MPFR_RNDN);
      return sign | static_cast<std::uint64_t>(mpfr_get_d(scaled, MPFR_RNDN));
    }
    mpfr_mul_2si(scaled, v, -(exponent - M), MPFR_RNDN);
    mpfr_abs(scaled, scaled, MPFR_RNDN);
    const auto significand = static_cast<std::uint64_t>(mpfr_get_d(scaled, MPFR_RNDN));
    const auto field = static_cast<std::uint64_t>(exponent + f_.bias);
    return sign | (field << M) | (significand - (std::uint64_t{1} << M));
  }

  std::uint64_t zero_bits(bool negative) const {
    return negative && l_.has_negative_zero ? sign_bit() : 0;
  }

  std::uint64_t nan_bits(bool negative) const {
    const std::uint64_t top = (std::uint64_t{1} << f_.exp_bits) - 1;
    const int M = f_.man_bits;
    const std::uint64_t sign = negative ? sign_bit() : 0;
    switch (f_.specials) {
      case Specials::ieee:
        return sign | (top << M) | (std::uint64_t{1} << (M - 1));
      case Specials::fn:
        return sign | (top << M) | ((std::uint64_t{1} << M) - 1);
      case Specials::fnuz:
        return sign_bit();
      case Specials::none:
        break;
    }
    return 0;
  }

  std::uint64_t max_finite_bits(bool negative) const {
    return (negative ? sign_bit() : 0) |
           (static_cast<std::uint64_t>(l_.emax + f_.bias) << f_.man_bits) | l_.max_mantissa;
  }

  Expected quiet_nan() const { return Expected{nan_bits(false), 0, true}; }

  // IEEE 754 s7.2; a format without NaN gives +max finite (the conversion policy).
  Expected invalid() const {
    if (l_.has_nan) return Expected{nan_bits(false), flag::invalid, true};
    return Expected{max_finite_bits(false), flag::invalid, false};
  }

  // A negative non-zero result in an unsigned format.
  Expected invalid_unsigned() const {
    if (l_.has_nan) return Expected{nan_bits(false), flag::invalid, true};
    return Expected{0, flag::invalid, false};
  }

  // An exact zero; without a zero (e8m0) it becomes +2^emin whatever its sign
  // (round.h's encode(+-0) policy), tiny non-zero values keep theirs.
  Expected exact_zero(bool negative) const {
    if (!f_.has_zero) return Expected{0, static_cast<std::uint8_t>(flag::inexact | flag::underflow), false};
    if (!f_.is_signed) return Expected{0, 0, false};
    return Expected{zero_bits(negative), 0, false};
  }

  // An exact infinity (an infinite operand, or x / 0): not an overflow, so a
  // format with an infinity keeps it whatever its overflow policy.
  Expected infinite(bool negative) const {
    if (l_.has_inf && (f_.is_signed || !negative)) return Expected{inf_bits(negative), 0, false};
    return inf_input(negative);
  }

  std::uint64_t inf_bits(bool negative) const { return max_finite_bits(negative) + 1; }  // S.1..1.0..0

  // A conversion's infinite input: sat=finite clamps it (CUDA's satfinite).
  Expected inf_input(bool negative) const {
    if (negative && !f_.is_signed) return invalid_unsigned();
    if (l_.has_inf && f_.overflow != Overflow::saturate) return Expected{inf_bits(negative), 0, false};
    if (f_.overflow == Overflow::nan) return Expected{nan_bits(negative), flag::invalid, true};
    return Expected{max_finite_bits(negative), flag::overflow, false};
  }

  Expected nan_input(bool negative) const {
    if (l_.has_nan) return Expected{nan_bits(negative && f_.is_signed), 0, true};
    return Expected{max_finite_bits(false), flag::invalid, false};
  }

  // IEEE 754 s7.4: round-to-nearest goes to inf, directed rounding toward zero
  // (and rto, which truncates) stops at max finite; then the format's policy.
  Expected overflow(bool negative, Mode m) const {
    const bool toward_zero = m == Mode::rtz || m == Mode::rto || (m == Mode::rup && negative) ||
                             (m == Mode::rdn && !negative);
    Expected e;
    e.flags = flag::overflow | flag::inexact;
    if (toward_zero || f_.overflow == Overflow::saturate) {
      e.bits = max_finite_bits(negative);
    } else if (f_.overflow == Overflow::inf) {
      e.bits = inf_bits(negative);
    } else {
      e.bits = nan_bits(negative);
      e.is_nan = true;
    }
    return e;
  }

  Format f_;
  OracleLimits l_;
};

}  // namespace fpscope::oracle
