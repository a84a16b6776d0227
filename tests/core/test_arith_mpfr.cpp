// tests/core/test_arith_mpfr.cpp: add, sub, mul, div, sqrt and fma (core/arith.h) against the MPFR emulation of each format.
//
// Built twice: the unit program checks every pair of the 6- and 4-bit formats,
// a fixed seventeenth of the pairs of each 8-bit format, every sqrt of the 8-bit
// formats and fp16, every fma of e2m1 and a few thousand random operands of the
// wider formats; the exhaustive program (FPSCOPE_MPFR_EXHAUSTIVE, ctest label
// `exhaustive`) checks all pairs of every 8-bit format, every sqrt of bf16 and
// e6m9 too, every fma triple of the 6-bit formats, 200,000 random pairs per
// operation for bf16, fp16 and e6m9 and 50,000 for the wider formats. Every
// deterministic mode each.
#include "core/arith.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/rounding_spec.h"
#include "tests/core/mpfr_oracle.h"

namespace fpscope {
namespace {

static_assert(oracle::flag::inexact == kInexact && oracle::flag::underflow == kUnderflow &&
              oracle::flag::overflow == kOverflow && oracle::flag::invalid == kInvalid &&
              oracle::flag::div_by_zero == kDivByZero);

#ifdef FPSCOPE_MPFR_EXHAUSTIVE
constexpr bool kExhaustive = true;
constexpr int kPairStride = 1;          // every pair of the 8-bit formats
constexpr int kRandomPairs16 = 200'000;  // per operation, bf16 and fp16
constexpr int kRandomPairsWide = 50'000;
constexpr int kRandomTriples = 200'000;
#else
constexpr bool kExhaustive = false;
constexpr int kPairStride = 17;
constexpr int kRandomPairs16 = 3'000;
constexpr int kRandomPairsWide = 1'000;
constexpr int kRandomTriples = 3'000;
#endif

constexpr std::array kModes{Mode::rne, Mode::rna, Mode::rtz, Mode::rup, Mode::rdn, Mode::rto};

// A fixed seed per format (FNV-1a of its spec), the same on every platform.
std::uint64_t seed_of(const std::string& spec) {
  std::uint64_t h = 0xcbf29ce484222325;
  for (char c : spec) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3;
  return h;
}

enum class Op { add, sub, mul, div };
constexpr std::array kBinaryOps{Op::add, Op::sub, Op::mul, Op::div};
const char* op_name(Op op) {
  constexpr std::array names{"add", "sub", "mul", "div"};
  return names[static_cast<int>(op)];
}

// Runs an operation through core/arith.h and through the oracle, counts
// mismatches (NaN compared as a class, flags exactly) and reports the first few.
class Checker {
 public:
  explicit Checker(const std::string& spec) : spec_(spec), f_(parse_format(spec)), oracle_(f_) {}

  void binary(Op op, std::uint64_t a, std::uint64_t b, Mode m) {
    const Rounding r{m};
    Encoded got;
    oracle::Expected want;
    switch (op) {
      case Op::add:
        got = add(a, b, f_, r);
        want = oracle_.add(a, b, m);
        break;
      case Op::sub:
        got = sub(a, b, f_, r);
        want = oracle_.sub(a, b, m);
        break;
      case Op::mul:
        got = mul(a, b, f_, r);
        want = oracle_.mul(a, b, m);
        break;
      case Op::div:
        got = div(a, b, f_, r);
        want = oracle_.div(a, b, m);
        break;
    }
    compare(got, want, m, op_name(op), {a, b});
  }
  void square_root(std::uint64_t a, Mode m) {
    compare(sqrt(a, f_, Rounding{m}), oracle_.sqrt(a, m), m, "sqrt", {a});
  }
  void fused(std::uint64_t a, std::uint64_t b, std::uint64_t c, Mode m) {
    compare(fma(a, b, c, f_, Rounding{m}), oracle_.fma(a, b, c, m), m, "fma", {a, b, c});
  }

  const Format& format() const { return f_; }
  const oracle::Emulator& oracle() const { return oracle_; }
  long checked() const { return checked_; }
  long mismatches() const { return mismatches_; }

 private:
  void compare(const Encoded& got, const oracle::Expected& want, Mode m, const char* what,
               std::initializer_list<std::uint64_t> operands) {
    ++checked_;
    const bool bits_match = want.is_nan ? oracle_.is_nan(got.bits) : got.bits == want.bits;
    if (bits_match && got.flags == want.flags) return;
    if (++mismatches_ > 10) return;
    std::string args;
    for (std::uint64_t x : operands) {
      char buffer[32];
      std::snprintf(buffer, sizeof buffer, "%s0x%llx", args.empty() ? "" : ", ",
                    static_cast<unsigned long long>(x));
      args += buffer;
    }
    char line[320];
    std::snprintf(line, sizeof line, "%s %s(%s) %s: arith gives 0x%llx flags %d, MPFR 0x%llx%s flags %d",
                  spec_.c_str(), what, args.c_str(), rounding_name(Rounding{m}).c_str(),
                  static_cast<unsigned long long>(got.bits), got.flags,
                  static_cast<unsigned long long>(want.bits), want.is_nan ? " (NaN)" : "", want.flags);
    ADD_FAILURE() << line;
  }

  std::string spec_;
  Format f_;
  oracle::Emulator oracle_;
  long checked_ = 0;
  long mismatches_ = 0;
};

// Random operands: half uniform encodings (specials, far-apart exponents), half
// with exponent fields near a reference field so that sums cancel and round.
class OperandSource {
 public:
  OperandSource(const Format& f, std::uint64_t seed) : f_(f), rng_(seed) {}

  std::uint64_t any() {
    const int bits = f_.exp_bits + f_.man_bits + (f_.is_signed ? 1 : 0);
    return rng_() & (~std::uint64_t{0} >> (64 - bits));  // all 64 bits for fp64
  }
  std::uint64_t field_of(std::uint64_t bits) const {
    return (bits >> f_.man_bits) & ((std::uint64_t{1} << f_.exp_bits) - 1);
  }
  // An encoding whose exponent field is within a few binades of `field`.
  std::uint64_t near(long field) {
    const long top = (1L << f_.exp_bits) - 1;
    const long shifted = field + static_cast<long>(rng_() % 9) - 4 -
                         ((rng_() & 7) == 0 ? static_cast<long>(rng_() % 64) : 0);
    const auto e = static_cast<std::uint64_t>(shifted < 0 ? 0 : shifted > top ? top : shifted);
    const std::uint64_t mantissa = rng_() & ((std::uint64_t{1} << f_.man_bits) - 1);
    const std::uint64_t sign =
        f_.is_signed && (rng_() & 1) != 0 ? std::uint64_t{1} << (f_.exp_bits + f_.man_bits) : 0;
    return sign | (e << f_.man_bits) | mantissa;
  }
  std::uint64_t pick(bool uniform, long field) { return uniform ? any() : near(field); }
  bool coin() { return (rng_() & 1) != 0; }

 private:
  Format f_;
  std::mt19937_64 rng_;
};

// Every pair of encodings (every `stride`-th pair), every operation, every mode.
void check_all_pairs(Checker& checker, int stride) {
  const std::uint64_t n = checker.oracle().encoding_count();
  std::uint64_t index = 0;
  for (std::uint64_t a = 0; a < n; ++a) {
    for (std::uint64_t b = 0; b < n; ++b, ++index) {
      if (index % static_cast<std::uint64_t>(stride) != 0) continue;
      for (Op op : kBinaryOps) {
        for (Mode m : kModes) checker.binary(op, a, b, m);
      }
    }
  }
}

void check_random_pairs(Checker& checker, int pairs_per_op, std::uint64_t seed) {
  OperandSource source(checker.format(), seed);
  for (Op op : kBinaryOps) {
    for (int i = 0; i < pairs_per_op; ++i) {
      const bool uniform = i % 2 == 0;
      const std::uint64_t a = source.any();
      const long field = static_cast<long>(source.field_of(a));
      // Quotients and products land near the difference and sum of the fields;
      // sums cancel and round when the fields are close.
      const std::uint64_t b = source.pick(uniform, op == Op::add || op == Op::sub
                                                       ? field
                                                       : checker.format().bias +
                                                             (source.coin() ? 1 : -1) *
                                                                 (field - checker.format().bias) / 4);
      for (Mode m : kModes) checker.binary(op, a, b, m);
    }
  }
}

void check_random_triples(Checker& checker, int triples, std::uint64_t seed) {
  OperandSource source(checker.format(), seed);
  const long bias = checker.format().bias;
  for (int i = 0; i < triples; ++i) {
    const std::uint64_t a = source.any();
    const std::uint64_t b = source.pick(i % 3 == 0, bias);
    // c near the product's binade, so that it cancels against the exact product.
    const long product_field =
        static_cast<long>(source.field_of(a)) + static_cast<long>(source.field_of(b)) - bias;
    const std::uint64_t c = source.pick(i % 3 == 1, product_field);
    for (Mode m : kModes) checker.fused(a, b, c, m);
  }
}

void report(const Checker& checker, const std::string& what) {
  EXPECT_EQ(checker.mismatches(), 0) << what << ": " << checker.mismatches() << " of "
                                     << checker.checked() << " differ";
  std::printf("%-16s %ld results checked\n", what.c_str(), checker.checked());
}

// The 8-bit presets, their custom variants, and the 6- and 4-bit presets.
const std::vector<std::string> kEightBit = {"e5m2", "e4m3", "e4m3fnuz", "e5m2fnuz", "e3m4",
                                            "e8m0", "e4m3:nosub", "e4m3:sat=finite"};
const std::vector<std::string> kSmall = {"e2m3",       "e3m2", "e2m1", "e3m2:bias=5",
                                         "e2m3:nosub", "e1m2", "e2m0", "e3m3:bias=-2",
                                         "e4m2:specials=fn", "e5m1:unsigned"};

TEST(arith_mpfr, all_pairs_of_the_6_and_4_bit_formats) {
  for (const std::string& spec : kSmall) {
    Checker checker(spec);
    check_all_pairs(checker, 1);
    report(checker, spec);
  }
}

TEST(arith_mpfr, pairs_of_the_8_bit_formats) {
  for (const std::string& spec : kEightBit) {
    Checker checker(spec);
    check_all_pairs(checker, kPairStride);
    report(checker, spec);
  }
}

TEST(arith_mpfr, sqrt_of_every_encoding) {
  for (const char* spec : {"e5m2", "e4m3", "e4m3fnuz", "e5m2fnuz", "e3m4", "e8m0", "e2m3", "e3m2",
                           "e2m1", "e4m3:nosub", "fp16", "bf16", "e6m9"}) {
    if (!kExhaustive && (spec == std::string("bf16") || spec == std::string("e6m9"))) continue;
    Checker checker(spec);
    for (std::uint64_t a = 0; a < checker.oracle().encoding_count(); ++a) {
      for (Mode m : kModes) checker.square_root(a, m);
    }
    report(checker, spec);
  }
}

TEST(arith_mpfr, sqrt_of_random_wide_encodings) {
  for (const char* spec : {"fp32", "tf32", "fp64", "e11m40"}) {
    Checker checker(spec);
    OperandSource source(checker.format(), 7);
    for (int i = 0; i < kRandomPairsWide; ++i) {
      const std::uint64_t a = source.any();
      for (Mode m : kModes) checker.square_root(a, m);
    }
    report(checker, spec);
  }
}

TEST(arith_mpfr, fma_of_every_e2m1_triple) {
  Checker checker("e2m1");
  const std::uint64_t n = checker.oracle().encoding_count();
  for (std::uint64_t a = 0; a < n; ++a) {
    for (std::uint64_t b = 0; b < n; ++b) {
      for (std::uint64_t c = 0; c < n; ++c) {
        for (Mode m : kModes) checker.fused(a, b, c, m);
      }
    }
  }
  report(checker, "e2m1");
}

#ifdef FPSCOPE_MPFR_EXHAUSTIVE  // 2 x 262,144 triples x 6 modes
TEST(arith_mpfr, fma_of_every_6_bit_triple) {
  for (const char* spec : {"e2m3", "e3m2"}) {
    Checker checker(spec);
    const std::uint64_t n = checker.oracle().encoding_count();
    for (std::uint64_t a = 0; a < n; ++a) {
      for (std::uint64_t b = 0; b < n; ++b) {
        for (std::uint64_t c = 0; c < n; ++c) {
          for (Mode m : kModes) checker.fused(a, b, c, m);
        }
      }
    }
    report(checker, spec);
  }
}
#endif

TEST(arith_mpfr, fma_of_random_triples) {
  for (const char* spec : {"e5m2", "e4m3", "e4m3fnuz", "e5m2fnuz", "e3m4", "e8m0", "bf16",
                                  "fp16", "tf32", "fp32", "fp64", "e11m40", "e4m3:nosub"}) {
    Checker checker(spec);
    check_random_triples(checker, kRandomTriples, seed_of(spec));
    report(checker, spec);
  }
}

TEST(arith_mpfr, random_pairs_of_the_16_bit_formats) {
  for (const char* spec : {"bf16", "fp16", "e6m9"}) {
    Checker checker(spec);
    check_random_pairs(checker, kRandomPairs16, seed_of(spec));
    report(checker, spec);
  }
}

TEST(arith_mpfr, random_pairs_of_the_wide_formats) {
  for (const char* spec : {"fp32", "tf32", "fp64", "e11m40", "e8m30:nosub", "e11m52:nosub",
                           "e8m23:sat=finite", "e5m10:nozero"}) {
    Checker checker(spec);
    check_random_pairs(checker, kRandomPairsWide, seed_of(spec));
    report(checker, spec);
  }
}

}  // namespace
}  // namespace fpscope
