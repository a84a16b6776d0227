// tests/core/test_arith.cpp: hand-checked cases of the correctly rounded operations (core/arith.h).
// The exhaustive and random checks against MPFR live in test_arith_mpfr.cpp.
#include "core/arith.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace fpscope {
namespace {

Format fmt(const char* name) { return parse_format(name); }
constexpr Rounding kRne{};
constexpr Rounding kRna{Mode::rna};
constexpr Rounding kRtz{Mode::rtz};
constexpr Rounding kRup{Mode::rup};
constexpr Rounding kRdn{Mode::rdn};
constexpr Rounding kRto{Mode::rto};

// fp64 and fp32 operands by their IEEE bits (the formats are binary64/binary32).
std::uint64_t d(double x) { return std::bit_cast<std::uint64_t>(x); }
double as_double(std::uint64_t bits) { return std::bit_cast<double>(bits); }
std::uint64_t s(float x) { return std::bit_cast<std::uint32_t>(x); }

const Format kFp64 = fmt("fp64");
const Format kFp32 = fmt("fp32");
const Format kFp16 = fmt("fp16");
const Format kE4m3 = fmt("e4m3");
const Format kE2m1 = fmt("e2m1");

// fp16 encodings used below (IEEE 754 binary16: 1 sign, 5 exponent, 10 mantissa bits).
constexpr std::uint64_t kH1 = 0x3C00;       // 1.0
constexpr std::uint64_t kHm1 = 0xBC00;      // -1.0
constexpr std::uint64_t kH2 = 0x4000;       // 2.0
constexpr std::uint64_t kH0 = 0x0000;       // +0
constexpr std::uint64_t kHm0 = 0x8000;      // -0
constexpr std::uint64_t kHinf = 0x7C00;     // +inf
constexpr std::uint64_t kHminf = 0xFC00;    // -inf
constexpr std::uint64_t kHnan = 0x7E00;     // quiet NaN
constexpr std::uint64_t kHmax = 0x7BFF;     // 65504
constexpr std::uint64_t kHminN = 0x0400;    // 2^-14, min normal
constexpr std::uint64_t kHminS = 0x0001;    // 2^-24, min subnormal

bool is_fp16_nan(std::uint64_t bits) { return (bits & 0x7C00) == 0x7C00 && (bits & 0x3FF) != 0; }

TEST(arith, signed_zeros_follow_ieee_754_section_6_3) {
  // x + (-x) and x - x are +0 in every mode but toward -inf, which gives -0.
  for (Rounding r : {kRne, kRna, kRtz, kRup, kRto}) {
    EXPECT_EQ(add(kH1, kHm1, kFp16, r).bits, kH0);
    EXPECT_EQ(sub(kH2, kH2, kFp16, r).bits, kH0);
    EXPECT_EQ(add(kH0, kHm0, kFp16, r).bits, kH0);
  }
  EXPECT_EQ(add(kH1, kHm1, kFp16, kRdn).bits, kHm0);
  EXPECT_EQ(sub(kH2, kH2, kFp16, kRdn).bits, kHm0);
  EXPECT_EQ(add(kH0, kHm0, kFp16, kRdn).bits, kHm0);
  // Zeros of the same sign keep it; x + 0 is x exactly.
  EXPECT_EQ(add(kHm0, kHm0, kFp16, kRne).bits, kHm0);
  EXPECT_EQ(sub(kHm0, kH0, kFp16, kRne).bits, kHm0);
  EXPECT_EQ(add(kH0, kH0, kFp16, kRdn).bits, kH0);
  EXPECT_EQ(add(kHm0, kHm1, kFp16, kRne).bits, kHm1);
  // Products and quotients take the exclusive or of the signs.
  EXPECT_EQ(mul(kHm0, kH1, kFp16, kRne).bits, kHm0);
  EXPECT_EQ(mul(kHm0, kHm1, kFp16, kRne).bits, kH0);
  EXPECT_EQ(div(kH0, kHm1, kFp16, kRne).bits, kHm0);
  EXPECT_EQ(div(kHm1, kHinf, kFp16, kRne).bits, kHm0);
  EXPECT_EQ(sqrt(kHm0, kFp16, kRne).bits, kHm0);  // IEEE 754 s5.4.1: sqrt(-0) = -0
  // fma: the exact product's zero adds to c's zero by the same rule.
  EXPECT_EQ(fma(kH0, kHm1, kH0, kFp16, kRne).bits, kH0);
  EXPECT_EQ(fma(kH0, kHm1, kH0, kFp16, kRdn).bits, kHm0);
  EXPECT_EQ(fma(kHm0, kH1, kHm0, kFp16, kRne).bits, kHm0);
  // An exact product cancelled by c: +0 (rdn: -0).
  EXPECT_EQ(fma(kH2, kH1, 0xC000, kFp16, kRne).bits, kH0);
  EXPECT_EQ(fma(kH2, kH1, 0xC000, kFp16, kRdn).bits, kHm0);
  // A tiny non-zero result keeps its sign when it rounds to zero.
  const Encoded tiny = mul(kHminS, 0xB800 /* -0.5 */, kFp16, kRne);
  EXPECT_EQ(tiny.bits, kHm0);
  EXPECT_EQ(tiny.flags, kInexact | kUnderflow);
}

TEST(arith, invalid_operations_give_nan_with_the_invalid_flag) {
  const Encoded inf_minus_inf = add(kHinf, kHminf, kFp16, kRne);
  EXPECT_TRUE(is_fp16_nan(inf_minus_inf.bits));
  EXPECT_EQ(inf_minus_inf.flags, kInvalid);
  EXPECT_TRUE(is_fp16_nan(sub(kHinf, kHinf, kFp16, kRne).bits));
  EXPECT_EQ(sub(kHinf, kHinf, kFp16, kRne).flags, kInvalid);
  EXPECT_EQ(mul(kH0, kHinf, kFp16, kRne).flags, kInvalid);
  EXPECT_EQ(div(kH0, kHm0, kFp16, kRne).flags, kInvalid);
  EXPECT_EQ(div(kHinf, kHminf, kFp16, kRne).flags, kInvalid);
  EXPECT_EQ(sqrt(kHm1, kFp16, kRne).flags, kInvalid);
  EXPECT_EQ(sqrt(kHminf, kFp16, kRne).flags, kInvalid);
  EXPECT_EQ(fma(kHinf, kH0, kH1, kFp16, kRne).flags, kInvalid);
  EXPECT_EQ(fma(kHinf, kH1, kHminf, kFp16, kRne).flags, kInvalid);
  EXPECT_TRUE(is_fp16_nan(fma(kHinf, kH1, kHminf, kFp16, kRne).bits));
  // Infinities that do not meet their opposite are exact.
  EXPECT_EQ(add(kHinf, kHmax, kFp16, kRne).bits, kHinf);
  EXPECT_EQ(add(kHinf, kHmax, kFp16, kRne).flags, 0);
  EXPECT_EQ(mul(kHminf, kHm1, kFp16, kRtz).bits, kHinf);
  EXPECT_EQ(sqrt(kHinf, kFp16, kRne).bits, kHinf);
  EXPECT_EQ(fma(kH1, kH1, kHminf, kFp16, kRne).bits, kHminf);
}

TEST(arith, nan_operands_propagate_quietly) {
  for (const Encoded e : {add(kHnan, kH1, kFp16, kRne), sub(kH1, kHnan, kFp16, kRne),
                          mul(kHnan, kHinf, kFp16, kRne), div(kH0, kHnan, kFp16, kRne),
                          sqrt(kHnan, kFp16, kRne), fma(kH0, kHinf, kHnan, kFp16, kRne)}) {
    EXPECT_TRUE(is_fp16_nan(e.bits));
    EXPECT_EQ(e.flags, 0);
  }
  EXPECT_EQ(add(0x7F, 0x38, kE4m3, kRne).bits, 0x7Fu);        // e4m3 NaN = S.1111.111
  EXPECT_EQ(mul(0x80, 0x38, fmt("e4m3fnuz"), kRne).bits, 0x80u);  // fnuz NaN = 0x80
}

TEST(arith, division_by_zero_is_an_exact_infinity_with_its_flag) {
  const Encoded pos = div(kH1, kH0, kFp16, kRne);
  EXPECT_EQ(pos.bits, kHinf);
  EXPECT_EQ(pos.flags, kDivByZero);
  EXPECT_EQ(div(kH1, kHm0, kFp16, kRne).bits, kHminf);
  EXPECT_EQ(div(kHm1, kH0, kFp16, kRtz).bits, kHminf);  // exact: no rounding toward zero
  EXPECT_EQ(div(kHinf, kH0, kFp16, kRne).flags, 0);      // inf / 0 is not a division by zero
  // A saturating format with an infinity still returns it: the infinity is exact.
  EXPECT_EQ(div(kH1, kH0, fmt("fp16:sat=finite"), kRne).bits, kHinf);
  // No infinity: the result is what encode() makes of inf (NaN under sat=nan, else max finite).
  const Encoded e4m3 = div(0x38 /* 1 */, 0x00, kE4m3, kRne);
  EXPECT_EQ(e4m3.bits, 0x7Fu);
  EXPECT_EQ(e4m3.flags, kInvalid | kDivByZero);
  const Encoded e2m1 = div(0x2 /* 1 */, 0x8 /* -0 */, kE2m1, kRne);
  EXPECT_EQ(e2m1.bits, 0xFu);  // -6
  EXPECT_EQ(e2m1.flags, kOverflow | kDivByZero);
}

TEST(arith, formats_without_nan_give_what_encode_gives_for_nan) {
  // OCP MX FP4 has no NaN; encode(NaN) is +max finite (0x7 = 6) with invalid.
  const Encoded zero_by_zero = div(0x0, 0x0, kE2m1, kRne);
  EXPECT_EQ(zero_by_zero.bits, 0x7u);
  EXPECT_EQ(zero_by_zero.flags, kInvalid);
  EXPECT_EQ(sqrt(0xA /* -1 */, kE2m1, kRne).bits, 0x7u);
  EXPECT_EQ(sqrt(0xA, kE2m1, kRne).flags, kInvalid);
}

TEST(arith, overflow_follows_the_format_policy) {
  const Encoded inf = add(kHmax, kHmax, kFp16, kRne);
  EXPECT_EQ(inf.bits, kHinf);
  EXPECT_EQ(inf.flags, kOverflow | kInexact);
  EXPECT_EQ(add(kHmax, kHmax, kFp16, kRtz).bits, kHmax);  // IEEE 754 s7.4
  EXPECT_EQ(add(0xFBFF, 0xFBFF, kFp16, kRup).bits, 0xFBFFu);
  // 65504 + 16 = 65520, the midpoint to 2^16: ties to even overflows, rtz does not.
  EXPECT_EQ(add(kHmax, 0x4C00 /* 16 */, kFp16, kRne).bits, kHinf);
  EXPECT_EQ(add(kHmax, 0x4C00, kFp16, kRtz).bits, kHmax);
  EXPECT_EQ(add(kHmax, 0x4B00 /* 14 */, kFp16, kRne).bits, kHmax);
  // e4m3 (OFP8): 448 + 448 overflows to NaN; saturating e4m3 stays at 448 = 0x7E.
  const Encoded e4m3 = add(0x7E, 0x7E, kE4m3, kRne);
  EXPECT_EQ(e4m3.bits, 0x7Fu);
  EXPECT_EQ(e4m3.flags, kOverflow | kInexact);
  EXPECT_EQ(add(0x7E, 0x7E, fmt("e4m3:sat"), kRne).bits, 0x7Eu);
  // 448 + 16 = 464 is the midpoint to the NaN-reserved 480: ties to even keeps 448,
  // ties away reaches 480, which does not exist, so it overflows.
  EXPECT_EQ(add(0x7E, 0x58 /* 16 */, kE4m3, kRne).bits, 0x7Eu);
  EXPECT_EQ(add(0x7E, 0x58, kE4m3, kRna).bits, 0x7Fu);
  EXPECT_EQ(add(0x7E, 0x58, kE4m3, kRna).flags, kOverflow | kInexact);
  // Round to odd would set the last bit of 448 = 0b0'1111'110, which is the NaN code.
  EXPECT_EQ(add(0x7E, 0x50 /* 8 */, kE4m3, kRto).bits, 0x7Eu);
  EXPECT_EQ(add(0x7E, 0x50, kE4m3, kRto).flags, kOverflow | kInexact);
  EXPECT_EQ(mul(0x7, 0x7, kE2m1, kRne).bits, 0x7u);  // 36 saturates to 6
}

TEST(arith, exact_cancellation_and_subnormal_results) {
  // (1 + 2^-10) - 1 = 2^-10 exactly (Sterbenz): no flags.
  const Encoded diff = sub(0x3C01, kH1, kFp16, kRne);
  EXPECT_EQ(diff.bits, 0x1400u);
  EXPECT_EQ(diff.flags, 0);
  // min normal - min subnormal: the largest subnormal, exact (no underflow flag).
  const Encoded sub_result = sub(kHminN, kHminS, kFp16, kRne);
  EXPECT_EQ(sub_result.bits, 0x03FFu);
  EXPECT_EQ(sub_result.flags, 0);
  // 2^-14 * 2^-11 = 2^-25 is half the min subnormal: a tie with 0, to even.
  const Encoded half_min = mul(kHminN, 0x1000 /* 2^-11 */, kFp16, kRne);
  EXPECT_EQ(half_min.bits, kH0);
  EXPECT_EQ(half_min.flags, kInexact | kUnderflow);
  EXPECT_EQ(mul(kHminN, 0x1000, kFp16, kRna).bits, kHminS);
  EXPECT_EQ(mul(kHminN, 0x1000, kFp16, kRto).bits, kHminS);
  EXPECT_EQ(mul(kHminN, 0x1000, kFp16, kRup).bits, kHminS);
  EXPECT_EQ(div(kHminS, kH2, kFp16, kRdn).bits, kH0);
  // A format without subnormals rounds between 0 and min normal (2^-6 for e4m3:nosub).
  const Format nosub = fmt("e4m3:nosub");
  EXPECT_EQ(mul(0x08 /* 2^-6 */, 0x30 /* 0.5 */, nosub, kRne).bits, 0x00u);  // the tie
  EXPECT_EQ(mul(0x08, 0x34 /* 0.75 */, nosub, kRne).bits, 0x08u);
  EXPECT_EQ(mul(0x08, 0x34, nosub, kRne).flags, kInexact | kUnderflow);
  EXPECT_EQ(sub(0x09, 0x08, nosub, kRne).bits, 0x00u);  // 2^-9: far below half of 2^-6
}

TEST(arith, sqrt_and_division_are_correctly_rounded) {
  // sqrt(2) = 0x1.6a09e667f3bcc908b2...p0: rne and rup round up, rtz and rdn down.
  const std::uint64_t two = d(2.0);
  EXPECT_EQ(sqrt(two, kFp64, kRne).bits, 0x3FF6A09E667F3BCDu);
  EXPECT_EQ(sqrt(two, kFp64, kRup).bits, 0x3FF6A09E667F3BCDu);
  EXPECT_EQ(sqrt(two, kFp64, kRtz).bits, 0x3FF6A09E667F3BCCu);
  EXPECT_EQ(sqrt(two, kFp64, kRdn).bits, 0x3FF6A09E667F3BCCu);
  EXPECT_EQ(sqrt(two, kFp64, kRto).bits, 0x3FF6A09E667F3BCDu);
  EXPECT_EQ(sqrt(d(0x1p-1074), kFp64, kRne).bits, d(0x1p-537));  // exact, from a subnormal
  EXPECT_EQ(sqrt(d(0x1p-1074), kFp64, kRne).flags, 0);
  EXPECT_EQ(sqrt(d(9.0), kFp64, kRne).bits, d(3.0));
  // 1/3 = 0x1.5555...p-2: the discarded bits start 0101..., below the midpoint.
  const std::uint64_t third_down = 0x3FD5555555555555;
  EXPECT_EQ(div(d(1.0), d(3.0), kFp64, kRne).bits, third_down);
  EXPECT_EQ(div(d(1.0), d(3.0), kFp64, kRdn).bits, third_down);
  EXPECT_EQ(div(d(1.0), d(3.0), kFp64, kRup).bits, third_down + 1);
  EXPECT_EQ(div(d(-1.0), d(3.0), kFp64, kRdn).bits, (third_down + 1) | (std::uint64_t{1} << 63));
  EXPECT_EQ(div(d(1.0), d(3.0), kFp64, kRne).flags, kInexact);
  // Results whose first 11 discarded bits are all zero: only the remainder
  // (the sticky bit) says they are inexact (values from MPFR at 200 bits).
  // sqrt(0x1.06bd0fb74b2abp+1) = 0x1.6ec5c790bac25|00172336...p+0
  const std::uint64_t radicand = d(0x1.06bd0fb74b2abp+1);
  EXPECT_EQ(sqrt(radicand, kFp64, kRtz).bits, d(0x1.6ec5c790bac25p+0));
  EXPECT_EQ(sqrt(radicand, kFp64, kRtz).flags, kInexact);
  EXPECT_EQ(sqrt(radicand, kFp64, kRup).bits, d(0x1.6ec5c790bac26p+0));
  // 0x1.1aefd14ebfc9dp0 / 0x1.45f9807c525bep0: 0x3FEBC66CE0AED38E, then 11 zero bits, then more.
  const std::uint64_t dividend = d(0x1.1aefd14ebfc9dp0);
  const std::uint64_t divisor = d(0x1.45f9807c525bep0);
  EXPECT_EQ(div(dividend, divisor, kFp64, kRtz).bits, 0x3FEBC66CE0AED38Eu);
  EXPECT_EQ(div(dividend, divisor, kFp64, kRtz).flags, kInexact);
  EXPECT_EQ(div(dividend, divisor, kFp64, kRup).bits, 0x3FEBC66CE0AED38Fu);
  EXPECT_EQ(div(dividend, divisor, kFp64, kRto).bits, 0x3FEBC66CE0AED38Fu);
  // fp32 1/3 = 0x3EAAAAAB (discarded bits 1010...: above the midpoint).
  EXPECT_EQ(div(s(1.0f), s(3.0f), kFp32, kRne).bits, 0x3EAAAAABu);
  EXPECT_EQ(div(s(1.0f), s(3.0f), kFp32, kRtz).bits, 0x3EAAAAAAu);
}

// Cases where computing in binary64 and then rounding to the target would be
// wrong: the target is binary64 itself (a directed or ties-away mode needs the
// bits the binary64 rounding threw away), or an fma whose separate product
// rounding lands on a midpoint.
TEST(arith, fp64_results_that_a_binary64_intermediate_gets_wrong) {
  const std::uint64_t one = d(1.0);
  const std::uint64_t tiny = d(0x1p-60);
  // 1 + 2^-60: binary64 addition gives exactly 1, so a later rup would keep 1.
  EXPECT_EQ(add(one, tiny, kFp64, kRup).bits, d(0x1.0000000000001p0));
  EXPECT_EQ(add(one, tiny, kFp64, kRup).flags, kInexact);
  EXPECT_EQ(add(one, tiny, kFp64, kRne).bits, one);
  EXPECT_EQ(add(one, tiny, kFp64, kRto).bits, d(0x1.0000000000001p0));
  EXPECT_EQ(sub(one, tiny, kFp64, kRdn).bits, d(0x1.fffffffffffffp-1));
  EXPECT_EQ(sub(one, tiny, kFp64, kRtz).bits, d(0x1.fffffffffffffp-1));
  EXPECT_EQ(sub(one, tiny, kFp64, kRne).bits, one);
  // 1 + 2^-53 is the midpoint of 1 and 1 + 2^-52: ties away goes up, even stays.
  const std::uint64_t half_ulp = d(0x1p-53);
  EXPECT_EQ(add(one, half_ulp, kFp64, kRna).bits, d(0x1.0000000000001p0));
  EXPECT_EQ(add(one, half_ulp, kFp64, kRne).bits, one);
  // ... but just above the midpoint (by 2^-106, far below binary64) rne goes up.
  EXPECT_EQ(add(one, d(0x1.0000000000001p-53), kFp64, kRne).bits, d(0x1.0000000000001p0));
  // fma: (1 + 2^-27)^2 - (2^-26 - 2^-53) = 1 + 2^-53 + 2^-54, above the midpoint.
  // Rounding the product first gives 1 + 2^-26, then 1 + 2^-53: a tie, to 1.
  const std::uint64_t a = d(0x1.0000002p0);  // 1 + 2^-27
  const std::uint64_t c = d(-0x1.ffffffcp-27);  // -(2^-26 - 2^-53)
  EXPECT_EQ(fma(a, a, c, kFp64, kRne).bits, d(0x1.0000000000001p0));
  EXPECT_EQ(fma(a, a, c, kFp64, kRne).bits, d(std::fma(0x1.0000002p0, 0x1.0000002p0, -0x1.ffffffcp-27)));
  // (1 + 2^-30)(1 - 2^-30) - 1 = -2^-60 exactly; separate rounding gives 0.
  const Encoded residual = fma(d(0x1.00000004p0), d(0x1.fffffff8p-1), d(-1.0), kFp64, kRne);
  EXPECT_EQ(residual.bits, d(-0x1p-60));
  EXPECT_EQ(residual.flags, 0);
  // The exact product's low half decides an fp32 fma too: (1 + 2^-12)^2 - 1 = 2^-11 + 2^-24.
  EXPECT_EQ(fma(s(0x1.001p0f), s(0x1.001p0f), s(-1.0f), kFp32, kRne).bits, s(0x1.0008p-11f));
  // Subnormal binary64 results: 2^-1074 * 0.5 ties to 0; rup keeps the min subnormal.
  EXPECT_EQ(mul(d(0x1p-1074), d(0.5), kFp64, kRne).bits, d(0.0));
  EXPECT_EQ(mul(d(0x1p-1074), d(0.5), kFp64, kRup).bits, d(0x1p-1074));
  EXPECT_EQ(mul(d(0x1p-1074), d(0.5), kFp64, kRup).flags, kInexact | kUnderflow);
  EXPECT_EQ(as_double(mul(d(0x1p-1000), d(0x1.8p-70), kFp64, kRne).bits), 0x1.8p-1070);
}

// A target between binary32 and binary64 (p = 41 bits): the exact sum
// 1 + 2^-41 + 2^-60 is just above a midpoint, but rounding it to binary64 first
// drops the 2^-60 and leaves an exact tie, which ties-to-even takes down.
TEST(arith, double_rounding_through_binary64_is_avoided_for_wide_custom_formats) {
  const Format p41 = fmt("e11m40");
  const std::uint64_t one = std::uint64_t{1023} << 40;
  // 2^-41 * (1 + 2^-19): exponent field 1023 - 41, mantissa 2^(40 - 19).
  const std::uint64_t b = (std::uint64_t{1023 - 41} << 40) | (std::uint64_t{1} << 21);
  EXPECT_EQ(add(one, b, p41, kRne).bits, one + 1);
  EXPECT_EQ(add(one, b & ~(std::uint64_t{1} << 21), p41, kRne).bits, one);  // the exact tie
}

TEST(arith, e8m0_products_of_powers_of_two_are_exact) {
  const Format e8m0 = fmt("e8m0");
  EXPECT_EQ(mul(127 + 3, 127 + 4, e8m0, kRne).bits, 127u + 7);
  EXPECT_EQ(mul(127 + 3, 127 + 4, e8m0, kRne).flags, 0);
  EXPECT_EQ(div(127, 127 + 5, e8m0, kRne).bits, 127u - 5);
  EXPECT_EQ(add(127, 127, e8m0, kRne).bits, 128u);  // 1 + 1 = 2
  EXPECT_EQ(sqrt(127 + 6, e8m0, kRne).bits, 127u + 3);
  // Unsigned: a negative difference is invalid, NaN = 0xFF.
  const Encoded negative = sub(127, 128, e8m0, kRne);
  EXPECT_EQ(negative.bits, 0xFFu);
  EXPECT_EQ(negative.flags, kInvalid);
  // No zero: x - x gives the smallest value 2^-127, like encode(0).
  const Encoded zero = sub(127, 127, e8m0, kRne);
  EXPECT_EQ(zero.bits, 0u);
  EXPECT_EQ(zero.flags, kInexact | kUnderflow);
}

TEST(arith, stochastic_rounding_uses_the_exact_result) {
  // 1 + 2^-12 lies a quarter of the fp16 gap (2^-10) above 1: with 8 random bits
  // it rounds up for exactly 64 of the 256 noise values. A sum rounded to fp16
  // first would be 1 and never round up.
  const Rounding sr{Mode::sr, 8};
  int up = 0;
  for (std::uint32_t noise = 0; noise < 256; ++noise) {
    const Encoded e = add(kH1, 0x0C00 /* 2^-12 */, kFp16, sr, noise);
    EXPECT_TRUE(e.bits == kH1 || e.bits == 0x3C01u);
    EXPECT_EQ(e.flags, kInexact);
    up += e.bits == 0x3C01u ? 1 : 0;
  }
  EXPECT_EQ(up, 64);
  // An exact result does not move whatever the noise.
  EXPECT_EQ(mul(kH2, kH2, kFp16, sr, 255).bits, 0x4400u);
}

TEST(arith, usable_in_constant_expressions) {
  constexpr Format f = Format{.exp_bits = 5, .man_bits = 10, .bias = 15};
  static_assert(add(0x3C00, 0x3C00, f, Rounding{}).bits == 0x4000);
  static_assert(sqrt(0x4400, f, Rounding{}).bits == 0x4000);
  static_assert(fma(0x4000, 0x4000, 0xBC00, f, Rounding{}).bits == 0x4200);
  static_assert(div(0x3C00, 0x0000, f, Rounding{}).flags == kDivByZero);
}

}  // namespace
}  // namespace fpscope
