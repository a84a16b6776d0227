// core/exact_dot.h: an exact long fixed-point accumulator for sums of products of doubles, the reference for every dot product.
//
// Kulisch's idea: a fixed-point register wide enough for every product of two
// binary64 values (bits 2^-2148 .. 2^2047) plus 64 carry bits, so a sum of up
// to 2^64 products is exact; the one rounding happens at the end through
// round_pack (core/round.h), in any format and any mode. Used as the exact
// reference of the accumulation models (core/accumulate.h, NUMERICS.md s4).
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>

#include "core/config.h"
#include "core/format.h"
#include "core/round.h"

namespace fpscope {

namespace detail {
__extension__ typedef unsigned __int128 uint128;  // the same typedef as core/arith.h
}  // namespace detail

class ExactAccumulator {
 public:
  // Bit 0 of the register weighs 2^kLowExp: the product of the two smallest subnormals.
  static constexpr int kLowExp = -2148;
  // Products reach below 2^2048; 64 more bits hold the carries of 2^64 additions
  // and the two's-complement sign.
  static constexpr int kLimbs = (2048 - kLowExp + 64 + 63) / 64;

  ExactAccumulator() { clear(); }

  void clear() {
    // Only limbs written since the last clear can be non-zero.
    for (int i = lowest_; i <= highest_; ++i) limbs_[i] = 0;
    lowest_ = kLimbs;
    highest_ = -1;
    nan_ = false;
    pos_inf_ = false;
    neg_inf_ = false;
  }

  // Adds a * b exactly (IEEE special cases: 0 * inf and any NaN give NaN; inf - inf too).
  void add_product(double a, double b) {
    const Unpacked pa = unpack(a);
    const Unpacked pb = unpack(b);
    if (pa.kind == Unpacked::nan || pb.kind == Unpacked::nan) {
      nan_ = true;
      return;
    }
    if (pa.kind == Unpacked::inf || pb.kind == Unpacked::inf) {
      if (pa.kind == Unpacked::zero || pb.kind == Unpacked::zero) {
        nan_ = true;
      } else {
        (pa.sign != pb.sign ? neg_inf_ : pos_inf_) = true;
      }
      return;
    }
    if (pa.kind == Unpacked::zero || pb.kind == Unpacked::zero) return;
    // Each significand as an integer m with value = m * 2^lsb, lsb >= -1074 (unpack()
    // normalises subnormals; their low bits are zero and shift out exactly).
    auto integer = [](const Unpacked& p, int& lsb) {
      std::uint64_t m = p.sig >> 11;
      lsb = p.exp - 52;
      if (lsb < -1074) {
        m >>= -1074 - lsb;
        lsb = -1074;
      }
      return m;
    };
    int lsb_a = 0;
    int lsb_b = 0;
    const std::uint64_t ma = integer(pa, lsb_a);
    const std::uint64_t mb = integer(pb, lsb_b);
    add_magnitude(static_cast<detail::uint128>(ma) * mb, lsb_a + lsb_b - kLowExp, pa.sign != pb.sign);
  }

  // Adds x exactly.
  void add(double x) { add_product(x, 1.0); }

  // Adds +-m * 2^lsb_exp exactly (lsb_exp >= kLowExp, result below 2^2048).
  void add_scaled(detail::uint128 m, int lsb_exp, bool negative) {
    if (m != 0) add_magnitude(m, lsb_exp - kLowExp, negative);
  }

  bool is_nan() const { return nan_ || (pos_inf_ && neg_inf_); }
  bool is_inf() const { return !is_nan() && (pos_inf_ || neg_inf_); }
  bool is_zero() const {
    if (nan_ || pos_inf_ || neg_inf_) return false;
    for (int i = lowest_; i <= highest_; ++i) {
      if (limbs_[i] != 0) return false;
    }
    return true;
  }

  // The sum rounded once to format f (an exact zero sum is +0, as IEEE 754 s6.3
  // gives x + (-x) in every mode but rdn; callers needing -0 handle it).
  Encoded round(const Format& f, Rounding r, std::uint32_t random = 0) const {
    if (is_nan()) return encode(std::numeric_limits<double>::quiet_NaN(), f, r);
    if (is_inf()) return encode(pos_inf_ ? std::numeric_limits<double>::infinity()
                                         : -std::numeric_limits<double>::infinity(), f, r);
    std::array<std::uint64_t, kLimbs> mag = limbs_;
    const bool negative = (mag[kLimbs - 1] >> 63) != 0;
    if (negative) {
      // Two's complement negation.
      std::uint64_t carry = 1;
      for (auto& limb : mag) {
        limb = ~limb + carry;
        carry = (carry != 0 && limb == 0) ? 1 : 0;
      }
    }
    int top = kLimbs - 1;
    while (top >= 0 && mag[top] == 0) --top;
    if (top < 0) return encode(0.0, f, r);
    const int lz = detail::count_leading_zeros(mag[top]);
    const int top_bit = top * 64 + 63 - lz;  // index of the leading one
    // The 64 bits from the leading one down, and whether anything below them is non-zero.
    std::uint64_t sig = mag[top] << lz;
    bool sticky = false;
    if (top > 0) {
      if (lz > 0) {
        sig |= mag[top - 1] >> (64 - lz);
        sticky = (mag[top - 1] << lz) != 0;
      } else {
        sticky = mag[top - 1] != 0;
      }
      for (int i = top - 2; i >= 0 && !sticky; --i) sticky = mag[i] != 0;
    }
    return round_pack(negative, top_bit + kLowExp, sig, sticky, f, r, random);
  }

  // The sum correctly rounded to binary64 (RNE).
  double value() const {
    static constexpr Format kFp64{.exp_bits = 11, .man_bits = 52, .bias = 1023};
    return decode(round(kFp64, Rounding{}).bits, kFp64);
  }

 private:
  // Adds (or subtracts) m * 2^offset (offset in register bits, >= 0).
  void add_magnitude(detail::uint128 m, int offset, bool negative) {
    FPSCOPE_ASSERT(offset >= 0 && offset < kLimbs * 64);
    const int limb = offset / 64;
    const int shift = offset % 64;
    const auto lo = static_cast<std::uint64_t>(m);
    const auto hi = static_cast<std::uint64_t>(m >> 64);
    std::uint64_t words[3] = {lo << shift, shift == 0 ? hi : (hi << shift) | (lo >> (64 - shift)),
                              shift == 0 ? 0 : hi >> (64 - shift)};
    int count = words[2] != 0 ? 3 : (words[1] != 0 ? 2 : 1);
    if (limb + count > kLimbs) count = kLimbs - limb;  // only zero words fall off
    if (limb < lowest_) lowest_ = limb;
    if (!negative) {
      unsigned carry = 0;
      int i = limb;
      for (int w = 0; w < count; ++w, ++i) {
        const std::uint64_t before = limbs_[i];
        const std::uint64_t sum = before + words[w];
        const unsigned c1 = sum < before ? 1u : 0u;
        limbs_[i] = sum + carry;
        carry = c1 | (limbs_[i] < sum ? 1u : 0u);
      }
      for (; carry != 0 && i < kLimbs; ++i) carry = (++limbs_[i] == 0) ? 1u : 0u;
      if (i - 1 > highest_) highest_ = i - 1;
    } else {
      unsigned borrow = 0;
      int i = limb;
      for (int w = 0; w < count; ++w, ++i) {
        const std::uint64_t before = limbs_[i];
        const std::uint64_t diff = before - words[w];
        const unsigned b1 = before < words[w] ? 1u : 0u;
        limbs_[i] = diff - borrow;
        borrow = b1 | (diff < borrow ? 1u : 0u);
      }
      for (; borrow != 0 && i < kLimbs; ++i) borrow = (limbs_[i]-- == 0) ? 1u : 0u;
      // A borrow that runs to the top leaves every limb above all ones (a negative sum).
      if (i - 1 > highest_) highest_ = i - 1;
    }
  }

  std::array<std::uint64_t, kLimbs> limbs_{};
  int lowest_ = kLimbs;  // lowest limb ever written since clear()
  int highest_ = -1;     // highest limb ever written since clear()
  bool nan_ = false;
  bool pos_inf_ = false;
  bool neg_inf_ = false;
};

// sum_i a[i] * b[i] + c, rounded once to format f (sizes must match).
inline Encoded exact_dot(std::span<const double> a, std::span<const double> b, const Format& f,
                         Rounding r = {}, double c = 0.0) {
  FPSCOPE_ASSERT(a.size() == b.size());
  ExactAccumulator acc;
  for (std::size_t i = 0; i < a.size(); ++i) acc.add_product(a[i], b[i]);
  acc.add(c);
  return acc.round(f, r);
}

// sum_i a[i] * b[i] + c correctly rounded to binary64.
inline double exact_dot(std::span<const double> a, std::span<const double> b, double c = 0.0) {
  FPSCOPE_ASSERT(a.size() == b.size());
  ExactAccumulator acc;
  for (std::size_t i = 0; i < a.size(); ++i) acc.add_product(a[i], b[i]);
  acc.add(c);
  return acc.value();
}

}  // namespace fpscope
