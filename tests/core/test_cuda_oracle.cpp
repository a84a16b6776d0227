// tests/core/test_cuda_oracle.cpp: encode() against the CUDA headers' host conversions (cuda_oracle.h), bit for bit.
//
// Every CUDA float32 conversion is paired with the format and rounding mode
// that should reproduce it. Results must be identical, except for the
// differences core/ORACLES.md documents, each of which is checked exactly here
// (the CUDA bits and our bits both pinned), never waved through as a class.
// Built twice: the unit program (a strided sweep, every rounding boundary,
// special inputs) and, with FPSCOPE_CUDA_ORACLE_EXHAUSTIVE, the sweep over all
// 2^32 float32 bit patterns (ctest label `exhaustive`).
#include "tests/core/cuda_oracle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "core/format.h"
#include "core/round.h"

namespace fpscope {
namespace {

// One CUDA conversion and what reproduces it. The NaN fields are the
// documented NaN difference (ORACLES.md "NaN encodings"): CUDA gives one NaN
// encoding for every NaN input; we keep the sign and give the quiet NaN.
struct Conversion {
  const char* name;
  std::uint32_t (*cuda)(float);
  const char* format;  // our spec
  Mode mode;
  std::uint32_t cuda_nan;           // CUDA's result for every NaN input
  std::uint32_t our_nan_positive;   // ours for a NaN with the sign bit clear
  std::uint32_t our_nan_negative;   // ... and set
  bool cuda_converts_magnitude;     // e8m0: CUDA rounds |x| (ORACLES.md "e8m0 and negative inputs")
};

namespace cuda = cuda_oracle;

// NaN bytes: e4m3 S.1111.111 (OFP8 s5.2); e5m2 quiet NaN S.11111.10; fp6/fp4
// have no NaN and both sides give +max; e8m0's NaN is 0xFF (OCP MX s5.4.1).
constexpr std::array kConversions{
    Conversion{"e4m3_satfinite", cuda::e4m3_satfinite, "e4m3:sat=finite", Mode::rne, 0x7F, 0x7F, 0xFF, false},
    Conversion{"e4m3_nosat", cuda::e4m3_nosat, "e4m3", Mode::rne, 0x7F, 0x7F, 0xFF, false},
    Conversion{"e5m2_satfinite", cuda::e5m2_satfinite, "e5m2:sat=finite", Mode::rne, 0x7F, 0x7E, 0xFE, false},
    Conversion{"e5m2_nosat", cuda::e5m2_nosat, "e5m2", Mode::rne, 0x7F, 0x7E, 0xFE, false},
    Conversion{"e2m3_rn", cuda::e2m3_rn, "e2m3", Mode::rne, 0x1F, 0x1F, 0x1F, false},
    Conversion{"e2m3_rz", cuda::e2m3_rz, "e2m3", Mode::rtz, 0x1F, 0x1F, 0x1F, false},
    Conversion{"e3m2_rn", cuda::e3m2_rn, "e3m2", Mode::rne, 0x1F, 0x1F, 0x1F, false},
    Conversion{"e3m2_rz", cuda::e3m2_rz, "e3m2", Mode::rtz, 0x1F, 0x1F, 0x1F, false},
    Conversion{"e2m1_rn", cuda::e2m1_rn, "e2m1", Mode::rne, 0x7, 0x7, 0x7, false},
    Conversion{"e2m1_rz", cuda::e2m1_rz, "e2m1", Mode::rtz, 0x7, 0x7, 0x7, false},
    Conversion{"e8m0_rz_satfinite", cuda::e8m0_rz_satfinite, "e8m0:sat=finite", Mode::rtz, 0xFF, 0xFF, 0xFF, true},
    Conversion{"e8m0_rz_nosat", cuda::e8m0_rz_nosat, "e8m0", Mode::rtz, 0xFF, 0xFF, 0xFF, true},
    Conversion{"e8m0_ru_satfinite", cuda::e8m0_ru_satfinite, "e8m0:sat=finite", Mode::rup, 0xFF, 0xFF, 0xFF, true},
    Conversion{"e8m0_ru_nosat", cuda::e8m0_ru_nosat, "e8m0", Mode::rup, 0xFF, 0xFF, 0xFF, true},
    Conversion{"bf16_rn", cuda::bf16_rn, "bf16", Mode::rne, 0x7FFF, 0x7FC0, 0xFFC0, false},
    Conversion{"bf16_rz", cuda::bf16_rz, "bf16", Mode::rtz, 0x7FFF, 0x7FC0, 0xFFC0, false},
    Conversion{"bf16_ru", cuda::bf16_ru, "bf16", Mode::rup, 0x7FFF, 0x7FC0, 0xFFC0, false},
    Conversion{"bf16_rd", cuda::bf16_rd, "bf16", Mode::rdn, 0x7FFF, 0x7FC0, 0xFFC0, false},
    Conversion{"fp16_rn", cuda::fp16_rn, "fp16", Mode::rne, 0x7FFF, 0x7E00, 0xFE00, false},
    Conversion{"fp16_rz", cuda::fp16_rz, "fp16", Mode::rtz, 0x7FFF, 0x7E00, 0xFE00, false},
    Conversion{"fp16_ru", cuda::fp16_ru, "fp16", Mode::rup, 0x7FFF, 0x7E00, 0xFE00, false},
    Conversion{"fp16_rd", cuda::fp16_rd, "fp16", Mode::rdn, 0x7FFF, 0x7E00, 0xFE00, false},
};

// How one input compared. Only `mismatch` fails; the other two are the
// documented differences, recognised by their exact bits.
enum Outcome : int { same, nan_encoding, e8m0_negative_input, mismatch, kOutcomes };

struct Tally {
  std::array<std::uint64_t, kOutcomes> count{};
  std::vector<std::string> first_mismatches;  // at most a few, for the failure message

  void merge(const Tally& other) {
    for (int i = 0; i < kOutcomes; ++i) count[i] += other.count[i];
    for (const std::string& s : other.first_mismatches) {
      if (first_mismatches.size() < 8) first_mismatches.push_back(s);
    }
  }
  std::uint64_t total() const {
    std::uint64_t t = 0;
    for (std::uint64_t c : count) t += c;
    return t;
  }
};

// A Conversion with its format parsed once.
struct Checker {
  const Conversion& c;
  Format format;

  explicit Checker(const Conversion& conversion) : c(conversion), format(parse_format(conversion.format)) {}

  Outcome compare(float x, std::uint32_t* cuda_bits, std::uint64_t* our_bits) const {
    const std::uint32_t theirs = c.cuda(x);
    const Encoded ours = encode(x, format, Rounding{c.mode});
    *cuda_bits = theirs;
    *our_bits = ours.bits;
    if (ours.bits == theirs) return same;
    if (std::isnan(x)) {
      const std::uint32_t our_nan = std::signbit(x) ? c.our_nan_negative : c.our_nan_positive;
      return theirs == c.cuda_nan && ours.bits == our_nan ? nan_encoding : mismatch;
    }
    if (c.cuda_converts_magnitude && std::signbit(x)) {
      // CUDA gives the encoding of |x|; we call a negative input invalid (NaN).
      const bool cuda_is_magnitude = theirs == encode(-x, format, Rounding{c.mode}).bits;
      const bool ours_is_invalid_nan = ours.bits == 0xFF && ours.flags == kInvalid;
      return cuda_is_magnitude && ours_is_invalid_nan ? e8m0_negative_input : mismatch;
    }
    return mismatch;
  }

  void check(float x, Tally& tally) const {
    std::uint32_t theirs = 0;
    std::uint64_t ours = 0;
    const Outcome o = compare(x, &theirs, &ours);
    ++tally.count[o];
    if (o == mismatch && tally.first_mismatches.size() < 8) {
      char line[160];
      std::snprintf(line, sizeof line, "input 0x%08X (%a): CUDA 0x%X, ours 0x%llX",
                    std::bit_cast<std::uint32_t>(x), static_cast<double>(x), theirs,
                    static_cast<unsigned long long>(ours));
      tally.first_mismatches.emplace_back(line);
    }
  }
};

std::string describe(const Tally& t) {
  std::string s = std::to_string(t.count[mismatch]) + " mismatches in " + std::to_string(t.total()) +
                  " inputs (documented: " + std::to_string(t.count[nan_encoding]) + " NaN encodings, " +
                  std::to_string(t.count[e8m0_negative_input]) + " negative e8m0 inputs)";
  for (const std::string& m : t.first_mismatches) s += "\n  " + m;
  return s;
}

float from_bits(std::uint32_t u) { return std::bit_cast<float>(u); }

// gtest prints the parameter by name in test lists and failures.
void PrintTo(const Conversion& c, std::ostream* os) { *os << c.name; }

class cuda_conversion : public ::testing::TestWithParam<Conversion> {};

std::string conversion_name(const ::testing::TestParamInfo<Conversion>& info) { return info.param.name; }

#if !defined(FPSCOPE_CUDA_ORACLE_EXHAUSTIVE)

// Every rounding boundary of format f reachable from float32: each
// representable value, each midpoint between neighbours (and the one above
// max finite, the overflow threshold), and the float neighbours of all of
// them, both signs.
std::vector<float> rounding_boundaries(const Format& f) {
  const FormatLimits l = limits(f);
  std::vector<double> values;
  for (std::uint64_t bits = 0; bits < (std::uint64_t{1} << l.total_bits); ++bits) {
    const double v = decode(bits, f);
    if (std::isfinite(v) && !std::signbit(v)) values.push_back(v);
  }
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  // One gap above max finite: where overflow begins for round-to-nearest.
  values.push_back(l.max_finite + std::ldexp(1.0, l.emax - (l.precision - 1)));
  std::vector<double> points;
  for (std::size_t i = 0; i < values.size(); ++i) {
    points.push_back(values[i]);
    if (i + 1 < values.size()) points.push_back((values[i] + values[i + 1]) / 2);
  }
  std::vector<float> inputs;
  constexpr double kFloatMax = std::numeric_limits<float>::max();
  for (double p : points) {
    if (p > kFloatMax) continue;
    const float x = static_cast<float>(p);  // exact: every boundary of a <= 16-bit format fits float
    for (float y : {x, std::nextafter(x, 0.0f), std::nextafter(x, std::numeric_limits<float>::infinity())}) {
      inputs.push_back(y);
      inputs.push_back(-y);
    }
  }
  return inputs;
}

// Inputs every conversion gets: zeros, infinities, NaNs with several payloads,
// float32 subnormals (a stride plus both ends), the extremes of float32.
std::vector<float> special_inputs() {
  std::vector<std::uint32_t> bits = {
      0x00000000, 0x7F800000,  // +0, +inf
      0x7FC00000, 0x7F800001, 0x7FFFFFFF, 0x7FA00000, 0x7FC00001,  // quiet and signalling NaNs
      0x00000001, 0x00000002, 0x007FFFFF, 0x00400000, 0x00400001, 0x003FFFFF,  // subnormals, 2^-127 +-
      0x00800000, 0x00800001, 0x7F7FFFFF, 0x7F7FFFFE, 0x7F000000, 0x7EFFFFFF,  // min normal, max
  };
  for (std::uint32_t u = 3; u < 0x00800000; u += 7919) bits.push_back(u);  // a stride through the subnormals
  std::vector<float> inputs;
  for (std::uint32_t u : bits) {
    inputs.push_back(from_bits(u));
    inputs.push_back(from_bits(u | 0x80000000u));
  }
  return inputs;
}

// Every 65537th bit pattern: 65536 inputs spread over every exponent, sign and NaN payload.
TEST_P(cuda_conversion, strided_float32_sweep) {
  const Checker checker(GetParam());
  Tally tally;
  for (std::uint64_t u = 0; u <= 0xFFFFFFFFu; u += 65537) checker.check(from_bits(static_cast<std::uint32_t>(u)), tally);
  EXPECT_EQ(tally.count[mismatch], 0u) << describe(tally);
  EXPECT_GE(tally.total(), 65536u);
}

TEST_P(cuda_conversion, every_rounding_boundary) {
  const Checker checker(GetParam());
  Tally tally;
  for (float x : rounding_boundaries(checker.format)) checker.check(x, tally);
  EXPECT_EQ(tally.count[mismatch], 0u) << describe(tally);
  EXPECT_EQ(tally.count[nan_encoding], 0u);  // no NaN among the boundaries
}

TEST_P(cuda_conversion, zeros_infinities_nans_and_float_subnormals) {
  const Checker checker(GetParam());
  Tally tally;
  for (float x : special_inputs()) checker.check(x, tally);
  EXPECT_EQ(tally.count[mismatch], 0u) << describe(tally);
}

INSTANTIATE_TEST_SUITE_P(conversions, cuda_conversion, ::testing::ValuesIn(kConversions), conversion_name);

// The documented NaN difference, pinned: CUDA gives one NaN encoding for every
// NaN input, sign dropped; we keep the sign. Both are NaN in the format (or,
// for the NaN-less fp6/fp4, both the same +max).
TEST(cuda_oracle, nan_encodings_are_pinned) {
  const std::array<std::uint32_t, 6> nans{0x7FC00000, 0x7F800001, 0x7FFFFFFF, 0xFFC00000, 0xFF800001, 0xFFFFFFFF};
  for (const Conversion& c : kConversions) {
    SCOPED_TRACE(c.name);
    const Format f = parse_format(c.format);
    for (std::uint32_t u : nans) {
      const float x = from_bits(u);
      EXPECT_EQ(c.cuda(x), c.cuda_nan);
      const std::uint64_t ours = encode(x, f, Rounding{c.mode}).bits;
      EXPECT_EQ(ours, (u >> 31) != 0 ? c.our_nan_negative : c.our_nan_positive);
      if (limits(f).has_nan) {
        EXPECT_EQ(classify(c.cuda_nan, f), Class::nan);
        EXPECT_EQ(classify(ours, f), Class::nan);
      }
    }
  }
  // The bytes themselves, independent of the table above.
  EXPECT_EQ(cuda::e4m3_nosat(-std::numeric_limits<float>::quiet_NaN()), 0x7Fu);
  EXPECT_EQ(encode(-std::numeric_limits<double>::quiet_NaN(), parse_format("e4m3"), Rounding{}).bits, 0xFFu);
  EXPECT_EQ(cuda::fp16_rn(std::numeric_limits<float>::quiet_NaN()), 0x7FFFu);
  EXPECT_EQ(cuda::bf16_rn(std::numeric_limits<float>::quiet_NaN()), 0x7FFFu);
}

// The documented e8m0 difference, pinned: CUDA rounds |x| ("Input number's
// absolute value is rounded", cuda_fp8.h); a negative value has no e8m0
// encoding, so we return NaN with the invalid flag (as ml_dtypes does).
TEST(cuda_oracle, e8m0_negative_inputs_are_pinned) {
  const Format e8m0 = parse_format("e8m0");
  EXPECT_EQ(cuda::e8m0_ru_nosat(-3.0f), 0x81u);  // 4 = 2^2
  EXPECT_EQ(cuda::e8m0_rz_nosat(-3.0f), 0x80u);  // 2 = 2^1
  EXPECT_EQ(cuda::e8m0_rz_satfinite(-std::numeric_limits<float>::infinity()), 0xFEu);
  const Encoded ours = encode(-3.0, e8m0, Rounding{Mode::rup});
  EXPECT_EQ(ours.bits, 0xFFu);
  EXPECT_EQ(ours.flags, kInvalid);
  // -0 is not negative for this purpose: both give the smallest value, 2^-127.
  EXPECT_EQ(cuda::e8m0_rz_nosat(-0.0f), 0x00u);
  EXPECT_EQ(encode(-0.0, e8m0, Rounding{Mode::rtz}).bits, 0x00u);
}

// Agreements worth stating because another tool (or an earlier version of
// round.h) disagrees; each is the CUDA result, checked against a hand value.
TEST(cuda_oracle, hand_checked_agreements) {
  // NUMERICS.md s3: 464 is the tie between 448 and 480 (not representable): even keeps 448.
  EXPECT_EQ(cuda::e4m3_satfinite(464.0f), 0x7Eu);
  EXPECT_EQ(cuda::e4m3_nosat(464.0001f), 0x7Fu);
  EXPECT_EQ(cuda::e4m3_satfinite(464.0001f), 0x7Eu);
  // satfinite clamps infinities too (PTX cvt .satfinite); round.h follows since ORACLES.md's fix.
  EXPECT_EQ(cuda::e5m2_satfinite(std::numeric_limits<float>::infinity()), 0x7Bu);
  EXPECT_EQ(cuda::e5m2_satfinite(-std::numeric_limits<float>::infinity()), 0xFBu);
  EXPECT_EQ(encode(std::numeric_limits<double>::infinity(), parse_format("e5m2:sat=finite"), Rounding{}).bits, 0x7Bu);
  // e8m0 has no zero: 0 and every tiny value give 2^-127 in both modes.
  EXPECT_EQ(cuda::e8m0_ru_nosat(0.0f), 0x00u);
  EXPECT_EQ(cuda::e8m0_ru_nosat(0x1p-149f), 0x00u);
  EXPECT_EQ(cuda::e8m0_ru_nosat(0x1.000004p-127f), 0x01u);  // 2^-127 + 2^-149
  // fp6/fp4 NaN is +max, and -0 keeps its sign.
  EXPECT_EQ(cuda::e2m1_rn(-std::numeric_limits<float>::quiet_NaN()), 0x7u);
  EXPECT_EQ(cuda::e2m1_rn(-0.0f), 0x8u);
}

#else  // FPSCOPE_CUDA_ORACLE_EXHAUSTIVE

// All 2^32 float32 bit patterns, split between two threads.
TEST_P(cuda_conversion, every_float32) {
  const Checker checker(GetParam());
  constexpr int kThreads = 2;
  std::array<Tally, kThreads> tallies;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::uint64_t begin = (std::uint64_t{1} << 32) / kThreads * static_cast<std::uint64_t>(t);
      const std::uint64_t end = (std::uint64_t{1} << 32) / kThreads * static_cast<std::uint64_t>(t + 1);
      for (std::uint64_t u = begin; u < end; ++u) checker.check(from_bits(static_cast<std::uint32_t>(u)), tallies[t]);
    });
  }
  for (std::thread& t : threads) t.join();
  Tally tally;
  for (const Tally& t : tallies) tally.merge(t);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ sweep    ] %-18s %6.1f s  %s\n", GetParam().name, seconds, describe(tally).c_str());
  EXPECT_EQ(tally.total(), std::uint64_t{1} << 32);
  EXPECT_EQ(tally.count[mismatch], 0u) << describe(tally);
}

INSTANTIATE_TEST_SUITE_P(conversions, cuda_conversion, ::testing::ValuesIn(kConversions), conversion_name);

#endif  // FPSCOPE_CUDA_ORACLE_EXHAUSTIVE

}  // namespace
}  // namespace fpscope
