// core/arith.h: correctly rounded add, sub, mul, div, sqrt and fma on encodings of one format.
//
// Each operation forms its exact result, or one exact enough to round correctly
// (a wide significand plus a sticky bit), from the operands' sign, exponent and
// significand with unsigned 128-bit integers, and ends in round_pack(), the one
// rounding core (SoftFloat 3 design; STYLE.md convention 2). A binary64
// intermediate would not do: it double-rounds for targets wider than 25 bits
// (Figueroa's p' >= 2p + 2 bound, NUMERICS.md s2), and fp64 itself is a target.
//
// Special cases follow IEEE 754-2019: s7.2 invalid operations (inf - inf,
// 0 * inf, 0 / 0, inf / inf, sqrt of a negative) give the default NaN with
// kInvalid; NaN operands propagate as the format's NaN without a flag (every NaN
// is treated as quiet); s7.3 x / 0 gives an exact infinity with kDivByZero; s6.3
// an exact zero sum is +0, or -0 when rounding toward -inf. A format without an
// infinity or a NaN maps such results exactly as encode() maps +-inf and NaN
// (its overflow policy), so operations and conversions agree.
//
// Stochastic rounding sees the discarded bits that fit round_pack's 64-bit
// significand: all sr_bits of them for targets of up to 32 significand bits;
// for wider targets (fp64: 11 bits) the rest of the exact result only reaches
// the sticky bit, which SR ignores, so P(up) is resolved to 2^-(63 - man_bits).
#pragma once

#include <bit>
#include <cstdint>

#include "core/config.h"
#include "core/format.h"
#include "core/round.h"

namespace fpscope {

// IEEE 754 s7.3 division by zero: an exact infinite result from finite operands.
// Only the operations here raise it, so it is defined beside them; it extends the
// Flag set of core/round.h (1, 2, 4, 8) with the next bit.
inline constexpr std::uint8_t kDivByZero = 16;

namespace detail {

__extension__ typedef unsigned __int128 uint128;  // GCC, Clang and nvcc all provide it

FPSCOPE_HD constexpr int count_leading_zeros128(uint128 x) {
  const auto high = static_cast<std::uint64_t>(x >> 64);
  return high != 0 ? count_leading_zeros(high)
                   : 64 + count_leading_zeros(static_cast<std::uint64_t>(x));
}

// An encoding of format f split into sign, exponent and significand:
// value = (-1)^sign * sig * 2^(exp - 63), sig's top bit set when finite.
// Field-0 codes of a format without subnormals read as zero, as classify() says.
FPSCOPE_HD constexpr Unpacked unpack_bits(std::uint64_t bits, const Format& f) {
  const int M = f.man_bits;
  Unpacked p;
  p.sign = (bits & sign_bit(f)) != 0;
  const std::uint64_t field = (bits >> M) & top_field(f);
  const std::uint64_t mantissa = bits & mantissa_ones(f);
  switch (classify(bits, f)) {
    case Class::nan:
      p.kind = Unpacked::nan;
      break;
    case Class::inf:
      p.kind = Unpacked::inf;
      break;
    case Class::zero:
      p.kind = Unpacked::zero;
      break;
    case Class::subnormal: {
      const int lz = count_leading_zeros(mantissa);
      p.kind = Unpacked::finite;
      p.sig = mantissa << lz;
      p.exp = exponent_range(f).emin - M + (63 - lz);
      break;
    }
    case Class::normal:
      p.kind = Unpacked::finite;
      p.sig = ((std::uint64_t{1} << M) | mantissa) << (63 - M);
      p.exp = static_cast<int>(field) - f.bias;
      break;
  }
  return p;
}

// Rounds sign * mag * 2^scale (mag != 0; sticky = the exact value has non-zero
// bits below mag) by normalising mag to 64 bits plus sticky for round_pack.
FPSCOPE_HD constexpr Encoded round_pack128(bool sign, int scale, uint128 mag, bool sticky,
                                           const Format& f, Rounding r, std::uint32_t random) {
  const int lz = count_leading_zeros128(mag);
  const uint128 normalized = mag << lz;
  const auto sig = static_cast<std::uint64_t>(normalized >> 64);
  sticky = sticky || static_cast<std::uint64_t>(normalized) != 0;
  return round_pack(sign, scale + (127 - lz), sig, sticky, f, r, random);
}

// The results that do not come from rounding a finite value. Zeros, NaNs and the
// infinities of formats without one go through encode(), so a format without
// zero, infinity or NaN applies its policy in one place.
FPSCOPE_HD constexpr Encoded zero_result(bool sign, const Format& f, Rounding r) {
  return encode(sign ? -0.0 : 0.0, f, r);
}

// Special doubles by their bits, as decode() builds them (no <limits> in device code).
inline constexpr std::uint64_t kInfBits = 0x7FF0000000000000;
inline constexpr std::uint64_t kQuietNanBits = 0x7FF8000000000000;

// An exact infinity (an infinite operand, or x / 0) is not an overflow: a format
// with an infinity returns it even under sat=finite, whose clamping applies to
// conversions (CUDA's satfinite) and to finite results beyond max finite.
FPSCOPE_HD constexpr Encoded infinite_result(bool sign, const Format& f, Rounding r) {
  if (f.specials == Specials::ieee && (f.is_signed || !sign)) return Encoded{inf_bits(f, sign), 0};
  return encode(std::bit_cast<double>(kInfBits | (sign ? kHalf : 0)), f, r);
}

// IEEE 754 s7.2: the default NaN, flagged invalid (encode(NaN) gives the NaN, or
// for a format without one its documented stand-in, and kInvalid for that case).
FPSCOPE_HD constexpr Encoded invalid_result(const Format& f, Rounding r) {
  Encoded out = encode(std::bit_cast<double>(kQuietNanBits), f, r);
  out.flags |= kInvalid;
  return out;
}

// IEEE 754 s6.2: an operation on a NaN gives a NaN, quietly. The sign of the
// first NaN operand is kept, as x86 and Arm keep the propagated payload's.
FPSCOPE_HD constexpr Encoded nan_result(const Unpacked& first_nan, const Format& f, Rounding r) {
  return encode(std::bit_cast<double>(kQuietNanBits | (first_nan.sign ? kHalf : 0)), f, r);
}

// A finite non-zero operand as mag * 2^(exp - 125): the top bit of mag at 125
// leaves two bits of headroom for the carry of an addition.
struct Wide {
  bool sign;
  int exp;
  uint128 mag;
};

// x + y for finite non-zero x, y, as SoftFloat's addMags/subMags in one: align
// the smaller operand, jamming the bits shifted out into bit 0. Both magnitudes
// have at most 106 significant bits at the top of 126, so bit 0 of the larger is
// 0 and the jammed result lies strictly between the same two even integers as
// the exact one; round_pack sees the same 64 leading bits and sticky.
FPSCOPE_HD constexpr Encoded add_wide(Wide x, Wide y, const Format& f, Rounding r,
                                      std::uint32_t random) {
  if (y.exp > x.exp || (y.exp == x.exp && y.mag > x.mag)) {
    const Wide t = x;
    x = y;
    y = t;
  }
  const int shift = x.exp - y.exp;
  uint128 aligned = 0;
  if (shift == 0) {
    aligned = y.mag;
  } else if (shift < 128) {
    aligned = (y.mag >> shift) | ((y.mag << (128 - shift)) != 0 ? 1 : 0);
  } else {
    aligned = 1;  // far below: only its sticky contribution remains
  }
  const uint128 sum = x.sign == y.sign ? x.mag + aligned : x.mag - aligned;
  if (sum == 0) {
    // IEEE 754 s6.3: an exact zero sum of opposite operands is +0, -0 toward -inf.
    return zero_result(r.mode == Mode::rdn, f, r);
  }
  return round_pack128(x.sign, x.exp - 125, sum, false, f, r, random);
}

FPSCOPE_HD constexpr Wide widen(const Unpacked& p) {
  return Wide{p.sign, p.exp, static_cast<uint128>(p.sig) << 62};
}

// The sum of two operands after their NaN and infinity cases (shared by add, sub
// and, with the product as the first operand, by fma).
FPSCOPE_HD constexpr Encoded add_finite_or_zero(const Unpacked& x, const Wide& x_wide,
                                                const Unpacked& y, const Format& f, Rounding r,
                                                std::uint32_t random) {
  if (x.kind == Unpacked::zero && y.kind == Unpacked::zero) {
    // IEEE 754 s6.3: equal signs keep theirs; opposite signs give +0, -0 toward -inf.
    return zero_result(x.sign == y.sign ? x.sign : r.mode == Mode::rdn, f, r);
  }
  if (y.kind == Unpacked::zero) {
    return round_pack128(x_wide.sign, x_wide.exp - 125, x_wide.mag, false, f, r, random);
  }
  if (x.kind == Unpacked::zero) return round_pack(y.sign, y.exp, y.sig, false, f, r, random);
  return add_wide(x_wide, widen(y), f, r, random);
}

}  // namespace detail

// a + b, correctly rounded to format f (IEEE 754 s5.4.1 addition).
FPSCOPE_HD constexpr Encoded add(std::uint64_t a, std::uint64_t b, const Format& f, Rounding r,
                                 std::uint32_t random = 0) {
  const Unpacked x = detail::unpack_bits(a, f);
  const Unpacked y = detail::unpack_bits(b, f);
  if (x.kind == Unpacked::nan) return detail::nan_result(x, f, r);
  if (y.kind == Unpacked::nan) return detail::nan_result(y, f, r);
  if (x.kind == Unpacked::inf || y.kind == Unpacked::inf) {
    if (x.kind == y.kind && x.sign != y.sign) return detail::invalid_result(f, r);  // inf - inf
    return detail::infinite_result(x.kind == Unpacked::inf ? x.sign : y.sign, f, r);
  }
  return detail::add_finite_or_zero(x, detail::widen(x), y, f, r, random);
}

// a - b = a + (-b); the sign flip is exact, including for zeros and NaN.
FPSCOPE_HD constexpr Encoded sub(std::uint64_t a, std::uint64_t b, const Format& f, Rounding r,
                                 std::uint32_t random = 0) {
  Unpacked x = detail::unpack_bits(a, f);
  Unpacked y = detail::unpack_bits(b, f);
  if (x.kind == Unpacked::nan) return detail::nan_result(x, f, r);
  if (y.kind == Unpacked::nan) return detail::nan_result(y, f, r);
  y.sign = !y.sign;
  if (x.kind == Unpacked::inf || y.kind == Unpacked::inf) {
    if (x.kind == y.kind && x.sign != y.sign) return detail::invalid_result(f, r);
    return detail::infinite_result(x.kind == Unpacked::inf ? x.sign : y.sign, f, r);
  }
  return detail::add_finite_or_zero(x, detail::widen(x), y, f, r, random);
}

// a * b: the product of two significands of at most 53 bits is exact in 128 bits.
FPSCOPE_HD constexpr Encoded mul(std::uint64_t a, std::uint64_t b, const Format& f, Rounding r,
                                 std::uint32_t random = 0) {
  const Unpacked x = detail::unpack_bits(a, f);
  const Unpacked y = detail::unpack_bits(b, f);
  if (x.kind == Unpacked::nan) return detail::nan_result(x, f, r);
  if (y.kind == Unpacked::nan) return detail::nan_result(y, f, r);
  const bool sign = x.sign != y.sign;
  if (x.kind == Unpacked::inf || y.kind == Unpacked::inf) {
    if (x.kind == Unpacked::zero || y.kind == Unpacked::zero) {
      return detail::invalid_result(f, r);  // 0 * inf
    }
    return detail::infinite_result(sign, f, r);
  }
  if (x.kind == Unpacked::zero || y.kind == Unpacked::zero) return detail::zero_result(sign, f, r);
  const detail::uint128 product = static_cast<detail::uint128>(x.sig) * y.sig;
  return detail::round_pack128(sign, x.exp + y.exp - 126, product, false, f, r, random);
}

// a / b: (sig_a * 2^64) / sig_b has at least 64 significant bits and the
// remainder is the sticky bit, enough for every mode on targets of <= 53 bits.
FPSCOPE_HD constexpr Encoded div(std::uint64_t a, std::uint64_t b, const Format& f, Rounding r,
                                 std::uint32_t random = 0) {
  const Unpacked x = detail::unpack_bits(a, f);
  const Unpacked y = detail::unpack_bits(b, f);
  if (x.kind == Unpacked::nan) return detail::nan_result(x, f, r);
  if (y.kind == Unpacked::nan) return detail::nan_result(y, f, r);
  const bool sign = x.sign != y.sign;
  if (x.kind == Unpacked::inf) {
    if (y.kind == Unpacked::inf) return detail::invalid_result(f, r);  // inf / inf
    return detail::infinite_result(sign, f, r);
  }
  if (y.kind == Unpacked::inf) return detail::zero_result(sign, f, r);
  if (y.kind == Unpacked::zero) {
    if (x.kind == Unpacked::zero) return detail::invalid_result(f, r);  // 0 / 0
    Encoded out = detail::infinite_result(sign, f, r);  // IEEE 754 s7.3
    out.flags |= kDivByZero;
    return out;
  }
  if (x.kind == Unpacked::zero) return detail::zero_result(sign, f, r);
  const detail::uint128 dividend = static_cast<detail::uint128>(x.sig) << 64;
  const detail::uint128 quotient = dividend / y.sig;
  const bool sticky = dividend % y.sig != 0;
  return detail::round_pack128(sign, x.exp - y.exp - 64, quotient, sticky, f, r, random);
}

// sqrt(a): the integer square root of sig_a * 2^63 or * 2^64 (whichever makes
// the exponent even) has 64 bits; a non-zero remainder is the sticky bit.
// IEEE 754 s5.4.1: sqrt(-0) = -0; a negative operand is invalid.
FPSCOPE_HD constexpr Encoded sqrt(std::uint64_t a, const Format& f, Rounding r,
                                  std::uint32_t random = 0) {
  const Unpacked x = detail::unpack_bits(a, f);
  if (x.kind == Unpacked::nan) return detail::nan_result(x, f, r);
  if (x.kind == Unpacked::zero) return detail::zero_result(x.sign, f, r);
  if (x.sign) return detail::invalid_result(f, r);
  if (x.kind == Unpacked::inf) return detail::infinite_result(false, f, r);
  // value = sig * 2^(exp - 63) = (sig << shift) * 2^(exp - 63 - shift), exponent even.
  const int shift = ((x.exp - 63) & 1) != 0 ? 63 : 64;
  detail::uint128 radicand = static_cast<detail::uint128>(x.sig) << shift;
  // Digit-by-digit square root, two radicand bits per result bit.
  detail::uint128 remainder = 0;
  std::uint64_t root = 0;
  for (int i = 0; i < 64; ++i) {
    remainder = (remainder << 2) | (radicand >> 126);
    radicand <<= 2;
    root <<= 1;
    const detail::uint128 trial = (static_cast<detail::uint128>(root) << 1) | 1;
    if (remainder >= trial) {
      remainder -= trial;
      root |= 1;
    }
  }
  return detail::round_pack128(false, (x.exp - 63 - shift) / 2, root, remainder != 0, f, r, random);
}

// a * b + c with a single rounding (IEEE 754 s5.4.1 fusedMultiplyAdd): the exact
// product (at most 106 bits) enters the addition unrounded.
FPSCOPE_HD constexpr Encoded fma(std::uint64_t a, std::uint64_t b, std::uint64_t c,
                                 const Format& f, Rounding r, std::uint32_t random = 0) {
  const Unpacked x = detail::unpack_bits(a, f);
  const Unpacked y = detail::unpack_bits(b, f);
  const Unpacked z = detail::unpack_bits(c, f);
  if (x.kind == Unpacked::nan) return detail::nan_result(x, f, r);
  if (y.kind == Unpacked::nan) return detail::nan_result(y, f, r);
  if (z.kind == Unpacked::nan) return detail::nan_result(z, f, r);
  Unpacked product;
  product.sign = x.sign != y.sign;
  if (x.kind == Unpacked::inf || y.kind == Unpacked::inf) {
    if (x.kind == Unpacked::zero || y.kind == Unpacked::zero) {
      return detail::invalid_result(f, r);  // 0 * inf (s7.2, whatever c is)
    }
    product.kind = Unpacked::inf;
  } else if (x.kind == Unpacked::zero || y.kind == Unpacked::zero) {
    product.kind = Unpacked::zero;
  } else {
    product.kind = Unpacked::finite;
  }
  if (product.kind == Unpacked::inf || z.kind == Unpacked::inf) {
    if (product.kind == z.kind && product.sign != z.sign) return detail::invalid_result(f, r);
    return detail::infinite_result(product.kind == Unpacked::inf ? product.sign : z.sign, f, r);
  }
  detail::Wide product_wide{product.sign, 0, 0};
  if (product.kind == Unpacked::finite) {
    // sig_a * sig_b < 2^128 with at least 22 trailing zero bits (significands of
    // <= 53 bits), so the shift to put its top bit at 125 or 124 drops nothing.
    const detail::uint128 exact = static_cast<detail::uint128>(x.sig) * y.sig;
    product_wide.mag = exact >> 2;
    product_wide.exp = x.exp + y.exp + 1;  // exact * 2^(ea + eb - 126) = mag * 2^(exp - 125)
    if ((product_wide.mag >> 125) == 0) {
      product_wide.mag <<= 1;
      product_wide.exp -= 1;
    }
  }
  return detail::add_finite_or_zero(product, product_wide, z, f, r, random);
}

}  // namespace fpscope
