// tests/core/test_round_mpfr.cpp: decode and encode (core/round.h) against the MPFR emulation of every format.
//
// Built twice: the unit program checks every boundary of the 8-bit-and-smaller
// formats, a sample of the 16-bit ones and 20,000 random inputs per format; the
// exhaustive program (FPSCOPE_MPFR_EXHAUSTIVE, ctest label `exhaustive`) checks
// every boundary of every format of 16 bits or less and 1,000,000 random inputs
// per format. The oracle itself is checked on hand cases first.
#include "core/round.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "tests/core/mpfr_oracle.h"

namespace fpscope {
namespace {

static_assert(oracle::flag::inexact == kInexact && oracle::flag::underflow == kUnderflow &&
              oracle::flag::overflow == kOverflow && oracle::flag::invalid == kInvalid);

#ifdef FPSCOPE_MPFR_EXHAUSTIVE
constexpr bool kExhaustive = true;
constexpr int kRandomInputs = 1'000'000;
#else
constexpr bool kExhaustive = false;
constexpr int kRandomInputs = 20'000;
#endif

constexpr std::array kModes{Mode::rne, Mode::rna, Mode::rtz, Mode::rup, Mode::rdn, Mode::rto};

// A fixed seed per format (FNV-1a of its spec), the same on every platform.
std::uint64_t seed_of(const std::string& spec) {
  std::uint64_t h = 0xcbf29ce484222325;
  for (char c : spec) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3;
  return h;
}

const char* mode_name(Mode m) {
  constexpr std::array names{"rne", "rna", "rtz", "rup", "rdn", "rto", "sr"};
  return names[static_cast<int>(m)];
}

// Every preset, and custom specs that exercise each option: wider and narrower
// mantissas, no subnormals, a moved bias, saturation, unsigned, no NaN at all.
std::vector<std::string> format_specs() {
  std::vector<std::string> specs;
  for (const Preset& p : presets()) specs.emplace_back(p.name);
  for (const char* custom :
       {"e5m7", "e4m3:nosub", "e3m2:bias=5", "e6m9", "e4m3:sat=finite", "e5m2:sat=finite",
        "e5m2:nosub", "e4m3:unsigned", "e3m4:sat=nan", "e4m0", "e2m3:nosub", "e4m3:specials=none",
        "e5m2:specials=fnuz", "e8m7:nosub", "e8m0:sat=finite", "e11m40", "e1m2", "e2m0",
        "e1m0", "e5m2:bias=1", "e3m3:bias=-2", "e4m2:specials=fn", "e6m1:specials=fnuz",
        "e5m3:unsigned", "e4m3:unsigned:specials=none", "e5m10:nozero", "e8m23:sat=finite",
        "e11m52:nosub"}) {
    specs.emplace_back(custom);
  }
  return specs;
}

std::string hex(double x) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%a", x);
  return buffer;
}

// Counts mismatches between encode() and the oracle; reports the first few.
class Checker {
 public:
  Checker(const std::string& spec, const Format& f) : spec_(spec), f_(f), oracle_(f) {}

  void check_double(double x, Mode m) {
    compare(encode(x, f_, Rounding{m}), oracle_.from_double(x, m), hex(x), m);
  }
  // A binary32 input: encode() takes it exactly widened to binary64.
  void check_float(float x, Mode m) {
    compare(encode(static_cast<double>(x), f_, Rounding{m}), oracle_.from_float(x, m),
            hex(x) + "f", m);
  }
  // Both signs, every mode, as binary64 and (when exact) binary32.
  void check_point(double x) {
    for (double v : {x, -x}) {
      const auto as_float = static_cast<float>(v);
      const bool is_float = static_cast<double>(as_float) == v;
      for (Mode m : kModes) {
        check_double(v, m);
        if (is_float) check_float(as_float, m);
      }
    }
  }
  // The point and its binary64 neighbours, and its binary32 neighbours when it is a float.
  void check_neighbourhood(double x) {
    check_point(x);
    check_point(std::nextafter(x, -HUGE_VAL));
    check_point(std::nextafter(x, HUGE_VAL));
    const auto as_float = static_cast<float>(x);
    if (static_cast<double>(as_float) == x) {
      check_point(static_cast<double>(std::nextafter(as_float, -HUGE_VALF)));
      check_point(static_cast<double>(std::nextafter(as_float, HUGE_VALF)));
    }
  }

  long checked() const { return checked_; }
  long mismatches() const { return mismatches_; }
  const oracle::Emulator& oracle() const { return oracle_; }

 private:
  void compare(const Encoded& got, const oracle::Expected& want, const std::string& input, Mode m) {
    ++checked_;
    const bool bits_match = want.is_nan ? oracle_.is_nan(got.bits) : got.bits == want.bits;
    if (bits_match && got.flags == want.flags) return;
    if (++mismatches_ <= 10) {
      char line[256];
      std::snprintf(line, sizeof line,
                    "%s %s input %s: encode gives 0x%llx flags %d, MPFR 0x%llx%s flags %d",
                    spec_.c_str(), mode_name(m), input.c_str(),
                    static_cast<unsigned long long>(got.bits), got.flags,
                    static_cast<unsigned long long>(want.bits), want.is_nan ? " (NaN)" : "",
                    want.flags);
      ADD_FAILURE() << line;
    }
  }

  std::string spec_;
  Format f_;
  oracle::Emulator oracle_;
  long checked_ = 0;
  long mismatches_ = 0;
};

double to_double(mpfr_srcptr x) { return mpfr_get_d(x, MPFR_RNDN); }  // exact for format values

// The positive finite values of a format, ascending, zero first when it has one.
std::vector<double> positive_values(const oracle::Emulator& em) {
  std::vector<double> values;
  oracle::Real v(64);
  for (std::uint64_t bits = 0; bits < em.encoding_count(); ++bits) {
    if ((bits & em.sign_bit()) != 0) continue;
    em.value(v, bits);
    if (mpfr_nan_p(v) || mpfr_inf_p(v)) continue;
    values.push_back(to_double(v));
  }
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

// For formats too wide to list: consecutive values in a sample of binades (the
// subnormals, the first normal binade, a few middle ones, the last), at the
// start and end of each binade and at random places inside.
std::vector<double> sampled_values(const oracle::Emulator& em, std::mt19937_64& rng) {
  const oracle::OracleLimits& l = em.limits();
  const int M = em.format().man_bits;
  std::vector<double> values;
  auto add_run = [&](int exponent, std::uint64_t first, int count, bool subnormal) {
    for (int i = 0; i < count; ++i) {
      const std::uint64_t k = first + static_cast<std::uint64_t>(i);
      if (k >= (std::uint64_t{1} << M)) break;
      const double significand = subnormal ? static_cast<double>(k)
                                           : static_cast<double>((std::uint64_t{1} << M) | k);
      values.push_back(std::ldexp(significand, exponent - M));
    }
  };
  const std::uint64_t last = (std::uint64_t{1} << M) - 1;
  const int run = kExhaustive ? 200 : 24;
  if (l.subnormals) {
    add_run(l.emin, 0, run, true);
    add_run(l.emin, last - run + 1, run, true);
  }
  std::vector<int> binades = {l.emin, l.emin + 1, -1, 0, 1, 10, l.emax - 1, l.emax};
  if (l.emax > 100) binades.insert(binades.end(), {-60, 100});
  for (int e : binades) {
    if (e < l.emin || e > l.emax) continue;
    add_run(e, 0, run, false);
    add_run(e, last - run + 1, run, false);
    for (int i = 0; i < run; ++i) add_run(e, rng() & last, 2, false);
  }
  // Keep only finite values of the format (the top binade of fn formats is short).
  oracle::Real top(64);
  em.max_finite(top);
  const double max = to_double(top);
  std::erase_if(values, [&](double v) { return v > max; });
  values.push_back(0.0);
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

bool narrow_enough_to_list(const Format& f) { return limits(f).total_bits <= 16; }

// Every encoding of every format of 16 bits or less decodes to the exact value
// MPFR computes from its fields; wider formats are sampled.
TEST(round_mpfr, decode_is_the_exact_value_of_the_fields) {
  std::mt19937_64 rng(20260401);
  for (const std::string& spec : format_specs()) {
    SCOPED_TRACE(spec);
    const Format f = parse_format(spec);
    const oracle::Emulator em(f);
    std::vector<std::uint64_t> encodings;
    if (narrow_enough_to_list(f)) {
      for (std::uint64_t bits = 0; bits < em.encoding_count(); ++bits) encodings.push_back(bits);
    } else {
      const std::uint64_t mask = em.encoding_mask();
      for (int i = 0; i < 100'000; ++i) encodings.push_back(rng() & mask);
      for (std::uint64_t bits = 0; bits < 1000; ++bits) {
        encodings.push_back(bits);                        // zero and the smallest subnormals
        encodings.push_back(mask - bits);                 // negative NaNs and the top
        encodings.push_back((em.sign_bit() - 1) - bits);  // positive NaNs, inf, max finite
      }
    }
    long mismatches = 0;
    oracle::Real exact(64);
    for (std::uint64_t bits : encodings) {
      em.value(exact, bits);
      const double got = decode(bits, f);
      const bool ok = mpfr_nan_p(exact) ? std::isnan(got)
                                        : (mpfr_cmp_d(exact, got) == 0 && !std::isnan(got) &&
                                           (mpfr_signbit(exact) != 0) == std::signbit(got));
      if (!ok && ++mismatches <= 10) {
        ADD_FAILURE() << spec << " 0x" << std::hex << bits << " decodes to " << hex(got)
                      << ", MPFR from the fields gives " << hex(to_double(exact));
      }
    }
    EXPECT_EQ(mismatches, 0);
  }
}

// The oracle's limits, derived from the format's definition, agree with limits().
TEST(round_mpfr, oracle_limits_match_format_limits) {
  for (const std::string& spec : format_specs()) {
    SCOPED_TRACE(spec);
    const Format f = parse_format(spec);
    const FormatLimits l = limits(f);
    const oracle::Emulator em(f);
    oracle::Real max(64);
    em.max_finite(max);
    EXPECT_EQ(to_double(max), l.max_finite);
    EXPECT_EQ(std::ldexp(1.0, em.limits().emin), l.min_normal);
    EXPECT_EQ(em.limits().precision, l.precision);
    EXPECT_EQ(em.limits().has_inf, l.has_inf);
    EXPECT_EQ(em.limits().has_nan, l.has_nan);
    EXPECT_EQ(em.limits().has_negative_zero, l.has_negative_zero);
  }
  // And agree with NUMERICS.md s1 where it gives numbers.
  EXPECT_EQ(limits(parse_format("e4m3")).max_finite, 448.0);
  EXPECT_EQ(limits(parse_format("e4m3fnuz")).max_finite, 240.0);
  EXPECT_EQ(limits(parse_format("e3m4")).max_finite, 15.5);
  EXPECT_EQ(limits(parse_format("e8m0")).max_finite, 0x1p127);
}

// Conversion at every rounding boundary: each value, each midpoint between
// neighbours, the binary64 and binary32 neighbours of both, the overflow
// threshold and the underflow-to-zero threshold, both signs, every mode.
TEST(round_mpfr, conversion_at_every_rounding_boundary) {
  std::mt19937_64 rng(20260402);
  long total = 0;
  for (const std::string& spec : format_specs()) {
    SCOPED_TRACE(spec);
    const Format f = parse_format(spec);
    Checker checker(spec, f);
    const oracle::Emulator& em = checker.oracle();
    const std::vector<double> values =
        narrow_enough_to_list(f) ? positive_values(em) : sampled_values(em, rng);
    const bool midpoints_exact = em.precision() < 53;  // else the midpoint is not a double
    const std::size_t n = values.size();
    for (std::size_t i = 0; i < n; ++i) {
      // The unit run samples the 16-bit formats: their ends, and every 53rd value.
      if (!kExhaustive && n > 300 && i > 150 && i + 150 < n && i % 53 != 0) continue;
      checker.check_neighbourhood(values[i]);
      if (i + 1 < n && midpoints_exact) {
        checker.check_neighbourhood(values[i] + (values[i + 1] - values[i]) / 2);
      }
    }
    // Overflow: max finite, the midpoint above it (toward the next value the
    // exponent or the NaN code takes away), the next value, and far beyond.
    const int M = f.man_bits;
    oracle::Real top(64);
    em.max_finite(top);
    const double max = to_double(top);
    const double ulp = std::ldexp(1.0, em.limits().emax - M);
    for (double x : {max, max + ulp / 2, max + ulp, max + ulp * 1.5, 2 * max, max * 1e10}) {
      if (std::isfinite(x)) checker.check_neighbourhood(x);
    }
    for (double x : {DBL_MAX, static_cast<double>(FLT_MAX), HUGE_VAL, DBL_MIN, 0x1p-1074, 0.0,
                     std::nan("")}) {
      checker.check_point(x);
    }
    // Underflow: half the smallest non-zero value (min normal without subnormals).
    const double min_nonzero = em.limits().subnormals ? std::ldexp(1.0, em.limits().emin - M)
                                                      : std::ldexp(1.0, em.limits().emin);
    for (double x : {min_nonzero / 2, min_nonzero / 4, min_nonzero * 0.75, min_nonzero,
                     min_nonzero * 1.5}) {
      checker.check_neighbourhood(x);
    }
    EXPECT_EQ(checker.mismatches(), 0) << "of " << checker.checked();
    total += checker.checked();
  }
  std::printf("conversions checked: %ld\n", total);
}

// Random inputs: binary64 and binary32 bit patterns, and values log-uniform
// across the format's range, each in every mode (seeded, deterministic).
TEST(round_mpfr, conversion_of_random_inputs) {
  long total = 0;
  for (const std::string& spec : format_specs()) {
    SCOPED_TRACE(spec);
    const Format f = parse_format(spec);
    Checker checker(spec, f);
    const oracle::Emulator& em = checker.oracle();
    std::mt19937_64 rng(seed_of(spec));
    const int M = f.man_bits;
    const double low = std::log2(em.limits().subnormals ? std::ldexp(1.0, em.limits().emin - M)
                                                        : std::ldexp(1.0, em.limits().emin));
    const double high = em.limits().emax + 1.0;
    std::uniform_real_distribution<double> log2_magnitude(low - 2, high + 1);
    for (int i = 0; i < kRandomInputs; ++i) {
      double x = 0;
      bool as_float = false;
      switch (i % 3) {
        case 0:
          x = std::bit_cast<double>(rng());
          break;
        case 1:
          x = static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(rng())));
          as_float = true;
          break;
        default:
          x = std::exp2(log2_magnitude(rng)) * ((rng() & 1) != 0 ? -1 : 1);
          break;
      }
      const Mode m = kModes[static_cast<std::size_t>(i / 3) % kModes.size()];
      if (as_float) {
        checker.check_float(static_cast<float>(x), m);
      } else {
        checker.check_double(x, m);
      }
      if (i % 3 == 2) checker.check_float(static_cast<float>(x), m);
    }
    EXPECT_EQ(checker.mismatches(), 0) << "of " << checker.checked();
    total += checker.checked();
  }
  std::printf("random conversions checked: %ld\n", total);
}

// The oracle's emulations of rna and rto (not MPFR modes), its no-subnormal and
// no-zero rounding and its overflow policies, on cases worked by hand.
TEST(mpfr_oracle, emulated_modes_on_hand_cases) {
  const oracle::Emulator e5m2(parse_format("e5m2"));  // values near 1: 1, 1.25, 1.5, 1.75
  // 1.125 is the midpoint of 1 and 1.25: rna goes away, rne to even (1 = 0x3C).
  EXPECT_EQ(e5m2.from_double(1.125, Mode::rna).bits, 0x3Du);
  EXPECT_EQ(e5m2.from_double(1.125, Mode::rne).bits, 0x3Cu);
  EXPECT_EQ(e5m2.from_double(-1.125, Mode::rna).bits, 0xBDu);
  EXPECT_EQ(e5m2.from_double(1.375, Mode::rna).bits, 0x3Eu);  // midpoint of 1.25, 1.5
  EXPECT_EQ(e5m2.from_double(1.124, Mode::rna).bits, 0x3Cu);  // not a midpoint
  EXPECT_EQ(e5m2.from_double(1.126, Mode::rna).bits, 0x3Du);
  // rto: truncate, then make the last bit 1 if anything was dropped.
  EXPECT_EQ(e5m2.from_double(1.125, Mode::rto).bits, 0x3Du);  // 1 -> 1.25
  EXPECT_EQ(e5m2.from_double(1.3, Mode::rto).bits, 0x3Du);    // 1.25 is already odd
  EXPECT_EQ(e5m2.from_double(1.6, Mode::rto).bits, 0x3Fu);    // 1.5 -> 1.75
  EXPECT_EQ(e5m2.from_double(1.5, Mode::rto).bits, 0x3Eu);    // exact stays
  EXPECT_EQ(e5m2.from_double(1.5, Mode::rto).flags, 0);
  EXPECT_EQ(e5m2.from_double(-1.6, Mode::rto).bits, 0xBFu);
  // Subnormals (min 2^-16): a tie with zero, and rto from zero.
  EXPECT_EQ(e5m2.from_double(0x1p-17, Mode::rne).bits, 0x00u);
  EXPECT_EQ(e5m2.from_double(0x1p-17, Mode::rna).bits, 0x01u);
  EXPECT_EQ(e5m2.from_double(0x1p-17, Mode::rna).flags, oracle::flag::inexact | oracle::flag::underflow);
  EXPECT_EQ(e5m2.from_double(0x1p-20, Mode::rto).bits, 0x01u);
  EXPECT_EQ(e5m2.from_double(0x1.8p-16, Mode::rna).bits, 0x02u);  // 1.5 subnormal ulps: tie
  EXPECT_EQ(e5m2.from_double(0x1.8p-16, Mode::rne).bits, 0x02u);
  EXPECT_EQ(e5m2.from_double(0x1.4p-15, Mode::rto).bits, 0x03u);  // 2.5 ulps -> 3
  EXPECT_EQ(e5m2.from_double(0x1p-15, Mode::rto).bits, 0x02u);    // exact
  EXPECT_EQ(e5m2.from_double(0x1.8p-15, Mode::rna).bits, 0x03u);  // 3 ulps, exact
  EXPECT_EQ(e5m2.from_double(0x1.8p-15, Mode::rna).flags, 0);
  // Across the top: 57344 is max; 61440 the midpoint to 65536 (ties to even: up).
  EXPECT_EQ(e5m2.from_double(61440, Mode::rne).bits, 0x7Cu);
  EXPECT_EQ(e5m2.from_double(61440, Mode::rne).flags, oracle::flag::overflow | oracle::flag::inexact);
  EXPECT_EQ(e5m2.from_double(61439, Mode::rna).bits, 0x7Bu);
  EXPECT_EQ(e5m2.from_double(61440, Mode::rna).bits, 0x7Cu);
  EXPECT_EQ(e5m2.from_double(1e6, Mode::rto).bits, 0x7Bu);
  EXPECT_EQ(e5m2.from_double(-1e6, Mode::rup).bits, 0xFBu);

  // e4m3 (OFP8): 464 is the midpoint of 448 and the NaN-reserved 480.
  const oracle::Emulator e4m3(parse_format("e4m3"));
  EXPECT_EQ(e4m3.from_double(464, Mode::rne).bits, 0x7Eu);
  EXPECT_TRUE(e4m3.from_double(464, Mode::rna).is_nan);
  EXPECT_EQ(e4m3.from_double(450, Mode::rto).bits, 0x7Eu);  // odd would be 480
  EXPECT_EQ(e4m3.from_double(450, Mode::rto).flags, oracle::flag::overflow | oracle::flag::inexact);
  EXPECT_EQ(e4m3.from_double(-1e9, Mode::rdn).is_nan, true);
  EXPECT_EQ(oracle::Emulator(parse_format("e4m3:sat")).from_double(1e9, Mode::rne).bits, 0x7Eu);

  // Without subnormals (min normal 2^-6): ties to 0, rna and rto to min normal.
  const oracle::Emulator nosub(parse_format("e4m3:nosub"));
  EXPECT_EQ(nosub.from_double(0x1p-7, Mode::rne).bits, 0x00u);
  EXPECT_EQ(nosub.from_double(0x1p-7, Mode::rna).bits, 0x08u);
  EXPECT_EQ(nosub.from_double(0x1.2p-7, Mode::rne).bits, 0x08u);
  EXPECT_EQ(nosub.from_double(0x1p-30, Mode::rto).bits, 0x08u);
  EXPECT_EQ(nosub.from_double(-0x1p-30, Mode::rup).bits, 0x80u);
  EXPECT_EQ(nosub.from_double(-0x1p-30, Mode::rdn).bits, 0x88u);
  EXPECT_EQ(nosub.from_double(0x1.fp-7, Mode::rtz).flags, oracle::flag::inexact | oracle::flag::underflow);

  // e8m0: no zero (everything below 2^-127 gives 2^-127), unsigned (negatives invalid).
  const oracle::Emulator e8m0(parse_format("e8m0"));
  EXPECT_EQ(e8m0.from_double(0.0, Mode::rne).bits, 0u);
  EXPECT_EQ(e8m0.from_double(0.0, Mode::rne).flags, oracle::flag::inexact | oracle::flag::underflow);
  EXPECT_EQ(e8m0.from_double(0x1p-200, Mode::rtz).bits, 0u);
  EXPECT_EQ(e8m0.from_double(3.0, Mode::rtz).bits, 128u);  // 2
  EXPECT_EQ(e8m0.from_double(3.0, Mode::rup).bits, 129u);  // 4
  EXPECT_EQ(e8m0.from_double(2.9, Mode::rne).bits, 128u);  // below the midpoint 3
  EXPECT_EQ(e8m0.from_double(3.1, Mode::rne).bits, 129u);
  EXPECT_TRUE(e8m0.from_double(-1.0, Mode::rne).is_nan);
  EXPECT_EQ(e8m0.from_double(-1.0, Mode::rne).flags, oracle::flag::invalid);

  // fp32: the midpoint 1 + 2^-24, and just above it; half the min subnormal.
  const oracle::Emulator fp32(parse_format("fp32"));
  EXPECT_EQ(fp32.from_double(1.0 + 0x1p-24, Mode::rna).bits, 0x3F800001u);
  EXPECT_EQ(fp32.from_double(1.0 + 0x1p-24, Mode::rne).bits, 0x3F800000u);
  EXPECT_EQ(fp32.from_double(1.0 + 0x1p-24 + 0x1p-40, Mode::rne).bits, 0x3F800001u);
  EXPECT_EQ(fp32.from_double(0x1p-150, Mode::rna).bits, 0x00000001u);
  EXPECT_EQ(fp32.from_double(0x1p-150, Mode::rne).bits, 0x00000000u);
}

}  // namespace
}  // namespace fpscope
