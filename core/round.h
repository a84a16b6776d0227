// core/round.h: the one rounding core (round_pack) and encode/decode/quantize built on it.
//
// Every conversion and arithmetic operation reduces its exact result to a sign,
// an exponent and a 64-bit significand with a sticky bit, then calls
// round_pack(), which applies the rounding mode, the format's exponent range,
// subnormals, overflow policy and special values, and reports IEEE 754 flags
// (the SoftFloat 3 "round and pack" design). Host and device code share it.
#pragma once

#include <bit>
#include <cstdint>

#include "core/config.h"
#include "core/format.h"

namespace fpscope {

// Rounding directions (IEEE 754-2019 s4.3) plus round-to-odd and stochastic rounding.
enum class Mode : std::uint8_t {
  rne,  // to nearest, ties to even
  rna,  // to nearest, ties away from zero
  rtz,  // toward zero
  rup,  // toward +inf
  rdn,  // toward -inf
  rto,  // to odd: truncate, then set the last bit if inexact (avoids double rounding)
  sr,   // stochastic: round away from zero with probability = distance / gap
};

// A rounding mode with its stochastic-rounding width: SR adds `sr_bits` random
// bits to the same number of leading discarded bits and keeps the carry, as
// hardware SR does (NUMERICS.md s2), so P(up) = floor(frac * 2^sr_bits) / 2^sr_bits.
struct Rounding {
  Mode mode = Mode::rne;
  int sr_bits = 32;  // 1..32, used only by Mode::sr

  friend constexpr bool operator==(const Rounding&, const Rounding&) = default;
};

// IEEE 754 exception flags, part of every result (STYLE.md convention 3).
enum Flag : std::uint8_t {
  kInexact = 1,
  kUnderflow = 2,  // tiny (below min normal before rounding) and inexact
  kOverflow = 4,   // the rounded result exceeded max finite, or inf went to a finite format
  kInvalid = 8,    // no meaningful result: NaN into a NaN-less format, negative into unsigned, inf - inf, ...
};

struct Encoded {
  std::uint64_t bits = 0;
  std::uint8_t flags = 0;
};

namespace detail {

inline constexpr std::uint64_t kHalf = std::uint64_t{1} << 63;

FPSCOPE_HD constexpr std::uint64_t sign_bit(const Format& f) {
  return f.is_signed ? std::uint64_t{1} << (f.exp_bits + f.man_bits) : 0;
}

FPSCOPE_HD constexpr std::uint64_t mantissa_ones(const Format& f) {
  return (std::uint64_t{1} << f.man_bits) - 1;
}

FPSCOPE_HD constexpr std::uint64_t top_field(const Format& f) {
  return (std::uint64_t{1} << f.exp_bits) - 1;
}

// The NaN this library produces: ieee keeps the sign and sets the quiet bit;
// fn is S.1..1.1..1; fnuz is the sign bit alone. Implementation-defined NaN
// encodings live here and nowhere else.
FPSCOPE_HD constexpr std::uint64_t nan_bits(const Format& f, bool sign) {
  const std::uint64_t s = sign ? sign_bit(f) : 0;
  switch (f.specials) {
    case Specials::ieee:
      return s | (top_field(f) << f.man_bits) | (std::uint64_t{1} << (f.man_bits - 1));
    case Specials::fn:
      return s | (top_field(f) << f.man_bits) | mantissa_ones(f);
    case Specials::fnuz:
      return sign_bit(f);
    case Specials::none:
      break;
  }
  return 0;  // unreachable: callers check has_nan first
}

FPSCOPE_HD constexpr std::uint64_t inf_bits(const Format& f, bool sign) {
  return (sign ? sign_bit(f) : 0) | (top_field(f) << f.man_bits);
}

FPSCOPE_HD constexpr std::uint64_t max_finite_bits(const Format& f, bool sign) {
  const ExponentRange r = exponent_range(f);
  return (sign ? sign_bit(f) : 0) |
         (static_cast<std::uint64_t>(r.emax + f.bias) << f.man_bits) | r.max_mantissa;
}

FPSCOPE_HD constexpr std::uint64_t zero_bits(const Format& f, bool sign) {
  return (sign && f.specials != Specials::fnuz) ? sign_bit(f) : 0;
}

// The result of an overflow: IEEE 754 s7.4 for inf/NaN policies (directed
// rounding toward zero stops at max finite), saturation otherwise.
FPSCOPE_HD constexpr std::uint64_t overflow_bits(const Format& f, bool sign, Mode mode) {
  const bool toward_zero = mode == Mode::rtz || mode == Mode::rto ||
                           (mode == Mode::rup && sign) || (mode == Mode::rdn && !sign);
  if (f.overflow == Overflow::saturate || toward_zero) return max_finite_bits(f, sign);
  if (f.overflow == Overflow::inf) return inf_bits(f, sign);
  return nan_bits(f, sign);
}

// x * 2^k, exact whenever the result is representable in double (normal or subnormal).
FPSCOPE_HD constexpr double ldexp_exact(double x, int k) {
  auto pow2 = [](int e) {  // 2^e for e in [-1022, 1023]
    return std::bit_cast<double>(static_cast<std::uint64_t>(e + 1023) << 52);
  };
  while (k > 1023) {
    x *= pow2(1023);
    k -= 1023;
  }
  while (k < -1022) {
    x *= pow2(-1022);
    k += 1022;
  }
  return x * pow2(k);
}

}  // namespace detail

// Rounds sign * sig * 2^(exp - 63) (sig != 0, top bit set; sticky = non-zero bits
// below sig) to format f. `random` supplies the bits for Mode::sr. Requires
// f.man_bits <= 52, so at least 11 discarded bits lie inside sig.
FPSCOPE_HD constexpr Encoded round_pack(bool sign, int exp, std::uint64_t sig, bool sticky,
                                        const Format& f, Rounding r, std::uint32_t random = 0) {
  const ExponentRange range = exponent_range(f);
  const int M = f.man_bits;
  Encoded out;
  if (sign && !f.is_signed) {
    out.flags = kInvalid;
    out.bits = f.specials != Specials::none ? detail::nan_bits(f, false)
                                            : (f.has_zero ? 0 : std::uint64_t{0});
    return out;
  }
  const bool tiny = exp < range.emin;
  int ulp_exp;  // exponent of the gap between representable values at this magnitude
  if (!tiny) {
    ulp_exp = exp - M;
  } else if (!f.has_zero) {
    // Nothing lies below the smallest normal value (e8m0): every mode gives it.
    out.bits = (sign ? detail::sign_bit(f) : 0);
    out.flags = kInexact | kUnderflow;
    return out;
  } else if (f.subnormals) {
    ulp_exp = range.emin - M;
  } else {
    ulp_exp = range.emin;  // representable: 0 and min normal; round between them
  }
  const int shift = ulp_exp - exp + 63;  // bit index of the ulp inside sig; >= 11
  std::uint64_t kept = 0;
  std::uint64_t frac = 0;  // discarded part as a left-aligned fraction of one ulp
  if (shift < 64) {
    kept = sig >> shift;
    frac = sig << (64 - shift);
  } else if (shift == 64) {
    frac = sig;
  } else if (shift < 128) {
    frac = sig >> (shift - 64);
    sticky = sticky || (sig << (128 - shift)) != 0;
  } else {
    sticky = true;
  }
  const bool inexact = frac != 0 || sticky;
  switch (r.mode) {
    case Mode::rne:
      kept += (frac > detail::kHalf || (frac == detail::kHalf && (sticky || (kept & 1)))) ? 1 : 0;
      break;
    case Mode::rna:
      kept += frac >= detail::kHalf ? 1 : 0;
      break;
    case Mode::rtz:
      break;
    case Mode::rup:
      kept += (inexact && !sign) ? 1 : 0;
      break;
    case Mode::rdn:
      kept += (inexact && sign) ? 1 : 0;
      break;
    case Mode::rto:
      kept |= inexact ? 1 : 0;
      break;
    case Mode::sr: {
      const int bits = r.sr_bits;
      const std::uint64_t lead = frac >> (64 - bits);
      const std::uint64_t noise = random & ((std::uint64_t{1} << bits) - 1);
      kept += (lead + noise) >> bits;
      break;
    }
  }
  if (inexact) out.flags |= kInexact;
  if (inexact && tiny) out.flags |= kUnderflow;
  if (kept == 0) {
    out.bits = detail::zero_bits(f, sign);
    return out;
  }
  const int lead_bit = 63 - detail::count_leading_zeros(kept);
  const int result_exp = ulp_exp + lead_bit;
  std::uint64_t bits = sign ? detail::sign_bit(f) : 0;
  if (result_exp < range.emin) {
    bits |= kept;  // subnormal: exponent field 0, mantissa = multiples of the min subnormal
  } else {
    const std::uint64_t mantissa =
        (lead_bit >= M ? kept >> (lead_bit - M) : kept << (M - lead_bit)) & detail::mantissa_ones(f);
    if (result_exp > range.emax || (result_exp == range.emax && mantissa > range.max_mantissa)) {
      out.bits = detail::overflow_bits(f, sign, r.mode);
      out.flags |= kOverflow | kInexact;
      return out;
    }
    bits |= (static_cast<std::uint64_t>(result_exp + f.bias) << M) | mantissa;
  }
  out.bits = bits;
  return out;
}

// A binary64 value split into its parts: value = (-1)^sign * sig * 2^(exp - 63).
struct Unpacked {
  enum Kind : std::uint8_t { zero, finite, inf, nan };
  Kind kind = zero;
  bool sign = false;
  int exp = 0;
  std::uint64_t sig = 0;  // top bit set when finite
};

FPSCOPE_HD constexpr Unpacked unpack(double x) {
  const std::uint64_t u = std::bit_cast<std::uint64_t>(x);
  Unpacked p;
  p.sign = (u >> 63) != 0;
  const int field = static_cast<int>((u >> 52) & 0x7FF);
  const std::uint64_t man = u & ((std::uint64_t{1} << 52) - 1);
  if (field == 0x7FF) {
    p.kind = man == 0 ? Unpacked::inf : Unpacked::nan;
  } else if (field == 0) {
    if (man != 0) {
      const int lz = detail::count_leading_zeros(man);
      p.kind = Unpacked::finite;
      p.sig = man << lz;
      p.exp = -1022 - (lz - 11);
    }
  } else {
    p.kind = Unpacked::finite;
    p.sig = ((std::uint64_t{1} << 52) | man) << 11;
    p.exp = field - 1023;
  }
  return p;
}

// Encodes a binary64 (or binary32, exactly widened) value in format f.
FPSCOPE_HD constexpr Encoded encode(double x, const Format& f, Rounding r, std::uint32_t random = 0) {
  const Unpacked p = unpack(x);
  Encoded out;
  switch (p.kind) {
    case Unpacked::finite:
      return round_pack(p.sign, p.exp, p.sig, false, f, r, random);
    case Unpacked::zero:
      if (!f.has_zero) {
        out.bits = 0;  // no zero (e8m0): the smallest value
        out.flags = kInexact | kUnderflow;
      } else if (p.sign && !f.is_signed) {
        out.bits = 0;
      } else {
        out.bits = detail::zero_bits(f, p.sign);
      }
      return out;
    case Unpacked::inf:
      if (p.sign && !f.is_signed) {
        out.flags = kInvalid;
        out.bits = f.specials != Specials::none ? detail::nan_bits(f, false) : 0;
      } else if (f.specials == Specials::ieee && f.overflow != Overflow::saturate) {
        // Saturation clamps infinities too: sat=finite is the GPU's satfinite
        // (cuda_fp8.h __NV_SATFINITE, PTX cvt .satfinite; core/ORACLES.md).
        out.bits = detail::inf_bits(f, p.sign);
      } else if (f.overflow == Overflow::nan) {
        out.bits = detail::nan_bits(f, p.sign);
        out.flags = kInvalid;
      } else {
        out.bits = detail::max_finite_bits(f, p.sign);
        out.flags = kOverflow;
      }
      return out;
    case Unpacked::nan:
      if (f.specials != Specials::none) {
        out.bits = detail::nan_bits(f, p.sign && f.is_signed);
      } else {
        out.bits = detail::max_finite_bits(f, false);  // as CUDA's fp4/fp6 conversions do
        out.flags = kInvalid;
      }
      return out;
  }
  return out;
}

// Classification of an encoding of format f.
enum class Class : std::uint8_t { zero, subnormal, normal, inf, nan };

FPSCOPE_HD constexpr Class classify(std::uint64_t bits, const Format& f) {
  const int M = f.man_bits;
  const std::uint64_t field = (bits >> M) & detail::top_field(f);
  const std::uint64_t mantissa = bits & detail::mantissa_ones(f);
  switch (f.specials) {
    case Specials::ieee:
      if (field == detail::top_field(f)) return mantissa == 0 ? Class::inf : Class::nan;
      break;
    case Specials::fn:
      if (field == detail::top_field(f) && mantissa == detail::mantissa_ones(f)) return Class::nan;
      break;
    case Specials::fnuz:
      if ((bits & ~detail::sign_bit(f)) == 0 && (bits & detail::sign_bit(f)) != 0) return Class::nan;
      break;
    case Specials::none:
      break;
  }
  if (field == 0 && f.has_zero) {
    // Without subnormals, field-0 codes with a mantissa read as zero (denormals-are-zero).
    return (mantissa == 0 || !f.subnormals) ? Class::zero : Class::subnormal;
  }
  return Class::normal;
}

// The exact value of an encoding (every format value fits binary64 exactly).
FPSCOPE_HD constexpr double decode(std::uint64_t bits, const Format& f) {
  const int M = f.man_bits;
  const bool sign = (bits & detail::sign_bit(f)) != 0;
  const std::uint64_t field = (bits >> M) & detail::top_field(f);
  const std::uint64_t mantissa = bits & detail::mantissa_ones(f);
  double magnitude = 0.0;
  switch (classify(bits, f)) {
    case Class::nan:
      return std::bit_cast<double>(std::uint64_t{0x7FF8000000000000} | (sign ? detail::kHalf : 0));
    case Class::inf:
      magnitude = std::bit_cast<double>(std::uint64_t{0x7FF0000000000000});
      break;
    case Class::zero:
      magnitude = 0.0;
      break;
    case Class::subnormal:
      magnitude = detail::ldexp_exact(static_cast<double>(mantissa), 1 - f.bias - M);
      break;
    case Class::normal:
      magnitude = detail::ldexp_exact(static_cast<double>((std::uint64_t{1} << M) | mantissa),
                                      static_cast<int>(field) - f.bias - M);
      break;
  }
  return sign ? -magnitude : magnitude;
}

// Rounds x to format f and back: the value a tensor would hold in that format.
FPSCOPE_HD constexpr double quantize(double x, const Format& f, Rounding r, std::uint32_t random = 0) {
  return decode(encode(x, f, r, random).bits, f);
}

}  // namespace fpscope
