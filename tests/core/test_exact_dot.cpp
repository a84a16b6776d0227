// tests/core/test_exact_dot.cpp: the exact long accumulator against MPFR sums, cancellation, subnormal products and specials.
#include "core/exact_dot.h"

#include <gtest/gtest.h>
#include <mpfr.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/format.h"
#include "tests/core/mpfr_oracle.h"

namespace fpscope {
namespace {

using oracle::Real;

// Products of binary64 values span 2^-2148 .. 2^2048: an MPFR sum exact for a
// few hundred of them needs about 4300 bits (plus the count's carries).
constexpr mpfr_prec_t kExactBits = 4400;

// A random double whose exponent is drawn from [lo, hi] (subnormals included when lo < -1022).
double random_double(std::mt19937_64& rng, int lo, int hi) {
  std::uniform_int_distribution<int> e(lo, hi);
  std::uniform_real_distribution<double> m(1.0, 2.0);
  const double x = std::ldexp(m(rng), e(rng));
  return (rng() & 1) ? -x : x;
}

// The oracle's rounding of an exact MPFR value x (of any exponent). MPFR wants
// operands inside the current exponent range, which the oracle narrows to the
// format's; an integer times a power of two has no such limit.
oracle::Expected oracle_round(const oracle::Emulator& e, mpfr_srcptr x, Mode m) {
  if (mpfr_zero_p(x)) {
    const int sign = mpfr_signbit(x) ? -1 : 1;
    return e.round([sign](mpfr_ptr rop, mpfr_rnd_t) { mpfr_set_zero(rop, sign); return 0; }, m);
  }
  mpz_t z;
  mpz_init(z);
  const mpfr_exp_t exp = mpfr_get_z_2exp(z, x);
  const oracle::Expected r =
      e.round([&z, exp](mpfr_ptr rop, mpfr_rnd_t rnd) { return mpfr_set_z_2exp(rop, z, exp, rnd); }, m);
  mpz_clear(z);
  return r;
}

// sum a[i] * b[i] in MPFR, exactly.
void mpfr_exact_dot(mpfr_ptr sum, const std::vector<double>& a, const std::vector<double>& b) {
  oracle::ExponentRangeScope wide(mpfr_get_emin_min(), mpfr_get_emax_max());
  Real product(128);
  mpfr_set_zero(sum, 1);
  for (std::size_t i = 0; i < a.size(); ++i) {
    mpfr_set_d(product, a[i], MPFR_RNDN);
    mpfr_mul_d(product, product, b[i], MPFR_RNDN);  // 106 bits: exact at 128
    ASSERT_EQ(mpfr_add(sum, sum, product, MPFR_RNDN), 0) << "the MPFR sum itself was inexact";
  }
}

TEST(exact_dot, matches_mpfr_rounded_to_binary64_on_random_wide_range_products) {
  std::mt19937_64 rng(20240601);
  for (int trial = 0; trial < 300; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 64);
    // Half the trials across the whole range (subnormal products included), half in a
    // narrow range where cancellation is common.
    const bool wide = trial % 2 == 0;
    std::vector<double> a(n), b(n);
    for (int i = 0; i < n; ++i) {
      a[i] = wide ? random_double(rng, -1074, 1023) : random_double(rng, -30, 30);
      b[i] = wide ? random_double(rng, -1074, 1023) : random_double(rng, -30, 30);
      // Keep products inside the register (below 2^2048, above 2^-2148) and finite.
      if (std::abs(std::ilogb(a[i]) + std::ilogb(b[i])) > 1000) b[i] = std::ldexp(b[i], -std::ilogb(b[i]));
    }
    Real sum(kExactBits);
    mpfr_exact_dot(sum, a, b);
    const double expected = mpfr_get_d(sum, MPFR_RNDN);
    const double got = exact_dot(a, b);
    ASSERT_EQ(std::bit_cast<std::uint64_t>(got), std::bit_cast<std::uint64_t>(expected))
        << "trial " << trial << ": got " << got << ", MPFR " << expected;
  }
}

TEST(exact_dot, rounds_once_to_narrow_formats_in_every_mode_as_the_mpfr_oracle_does) {
  std::mt19937_64 rng(7);
  const Format formats[] = {parse_format("fp32"), parse_format("bf16"), parse_format("fp16"),
                            parse_format("e4m3"), parse_format("e5m2")};
  const Mode modes[] = {Mode::rne, Mode::rtz, Mode::rup, Mode::rdn, Mode::rna, Mode::rto};
  for (int trial = 0; trial < 200; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 16);
    std::vector<double> a(n), b(n);
    for (int i = 0; i < n; ++i) {
      a[i] = random_double(rng, -12, 6);
      b[i] = random_double(rng, -12, 6);
    }
    Real sum(kExactBits);
    mpfr_exact_dot(sum, a, b);
    for (const Format& f : formats) {
      const oracle::Emulator emulator(f);
      for (Mode m : modes) {
        const oracle::Expected want = oracle_round(emulator, sum, m);
        const Encoded got = exact_dot(a, b, f, Rounding{m});
        ASSERT_EQ(got.bits, want.bits) << format_name(f) << " mode " << static_cast<int>(m) << " trial " << trial;
        ASSERT_EQ(got.flags, want.flags) << format_name(f) << " mode " << static_cast<int>(m) << " trial " << trial;
      }
    }
  }
}

TEST(exact_dot, catastrophic_cancellation_leaves_the_small_terms_exactly) {
  const std::vector<double> a{1e300, 1.0, -1e300, 0x1p-1074};
  const std::vector<double> b{1e10, 3.0, 1e10, 0x1p-1074};
  ExactAccumulator acc;
  for (std::size_t i = 0; i < a.size(); ++i) acc.add_product(a[i], b[i]);
  // 3 + 2^-2148 rounds to 3 in binary64 but rounds up in rup.
  EXPECT_EQ(acc.value(), 3.0);
  const Format fp64 = parse_format("fp64");
  EXPECT_EQ(decode(acc.round(fp64, Rounding{Mode::rup}).bits, fp64), std::nextafter(3.0, 4.0));
  EXPECT_EQ(decode(acc.round(fp64, Rounding{Mode::rdn}).bits, fp64), 3.0);
}

TEST(exact_dot, negative_sums_and_sums_that_cross_zero_many_times) {
  ExactAccumulator acc;
  double reference = 0.0;  // small integers: exact in binary64
  std::mt19937_64 rng(3);
  for (int i = 0; i < 10000; ++i) {
    const double x = static_cast<double>(static_cast<int>(rng() % 2001) - 1000);
    acc.add(x);
    reference += x;
    if (i % 97 == 0) {
      ASSERT_EQ(acc.value(), reference) << "after " << i + 1 << " additions";
    }
  }
  // A huge positive and negative pair leaves the reference again (borrow through many limbs).
  acc.add_product(0x1p1000, 0x1p1000);
  acc.add(0x1p-1000);
  acc.add_product(-0x1p1000, 0x1p1000);
  acc.add(-0x1p-1000);
  EXPECT_EQ(acc.value(), reference);
}

TEST(exact_dot, the_smallest_products_are_kept) {
  ExactAccumulator acc;
  acc.add_product(0x1p-1074, 0x1p-1074);  // 2^-2148: bit 0 of the register
  EXPECT_FALSE(acc.is_zero());
  // Rounds to +0 in binary64 (RNE) but to the smallest subnormal upward.
  EXPECT_EQ(acc.value(), 0.0);
  const Format fp64 = parse_format("fp64");
  EXPECT_EQ(decode(acc.round(fp64, Rounding{Mode::rup}).bits, fp64), 0x1p-1074);
  acc.add_product(-0x1p-1074, 0x1p-1074);
  EXPECT_TRUE(acc.is_zero());
  // The largest products (just below 2^2048) are kept too.
  acc.clear();
  const double big = std::numeric_limits<double>::max();
  acc.add_product(big, big);
  acc.add_product(-big, big);
  acc.add(1.5);
  EXPECT_EQ(acc.value(), 1.5);
  acc.add_product(big, big);
  EXPECT_TRUE(std::isinf(acc.value()));  // overflows binary64 when rounded
}

TEST(exact_dot, specials_follow_ieee_754) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(std::isnan(exact_dot(std::vector<double>{inf, 1.0}, std::vector<double>{0.0, 1.0})));
  EXPECT_TRUE(std::isnan(exact_dot(std::vector<double>{inf, -inf}, std::vector<double>{1.0, 1.0})));
  EXPECT_TRUE(std::isnan(exact_dot(std::vector<double>{nan}, std::vector<double>{1.0})));
  EXPECT_EQ(exact_dot(std::vector<double>{inf, 1e308}, std::vector<double>{-2.0, 1e308}), -inf);
  EXPECT_EQ(exact_dot(std::vector<double>{}, std::vector<double>{}, 2.5), 2.5);
}

}  // namespace
}  // namespace fpscope
