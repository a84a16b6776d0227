// tests/analysis/test_validate.cpp: the hardware-conversion validator: classifier, sweep driver, fake and real CPU targets.
//
// Built twice: the unit program (hand-classified mismatches, fake targets that
// misbehave in one known way each, strided and boundary sweeps of the CPU's own
// conversions) and, with FPSCOPE_VALIDATE_EXHAUSTIVE, the full 2^32 sweeps of
// F16C vcvtps2ph and AVX512-BF16 vcvtneps2bf16 (label exhaustive). The
// expected counts are derived here from Intel's documented semantics
// (SDM: VCVTPS2PH keeps the top 10 NaN payload bits and sets the quiet bit;
// VCVTNEPS2BF16's convert_fp32_to_bfloat16 flushes denormal inputs to signed
// zero and returns src[31:16] | 0x40 for NaN), not from the code under test.
#include "analysis/validate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/format.h"
#include "core/round.h"

namespace fpscope {
namespace {

[[maybe_unused]] constexpr std::uint32_t kSignBit = 0x8000'0000u;

// A fake hardware conversion: encode() with the input (or result) changed by `tamper`.
template <class Tamper>
ConversionTarget fake_target(std::string_view spec, Mode mode, Tamper tamper) {
  ConversionTarget t;
  t.name = "fake";
  t.format_spec = std::string(spec);
  t.format = parse_format(spec);
  t.rounding = Rounding{mode};
  t.convert = [f = t.format, r = t.rounding, tamper](std::span<const float> in, std::span<std::uint16_t> out) {
    for (std::size_t i = 0; i < in.size(); ++i) {
      out[i] = tamper(std::bit_cast<std::uint32_t>(in[i]), f, r);
    }
  };
  return t;
}

[[maybe_unused]] std::uint16_t reference(std::uint32_t x, const Format& f, Rounding r) {
  return static_cast<std::uint16_t>(encode(static_cast<double>(std::bit_cast<float>(x)), f, r).bits);
}

[[maybe_unused]] bool is_float_subnormal(std::uint32_t x) { return (x & 0x7F80'0000u) == 0 && (x & 0x007F'FFFFu) != 0; }

[[maybe_unused]] const ConversionTarget* find_cpu_target(const std::vector<ConversionTarget>& targets, std::string_view prefix,
                                        Mode mode) {
  for (const ConversionTarget& t : targets) {
    if (t.name.starts_with(prefix) && t.rounding.mode == mode) return &t;
  }
  return nullptr;
}

[[maybe_unused]] ValidateOptions two_threads() {
  ValidateOptions o;
  o.threads = 2;
  return o;
}

#ifndef FPSCOPE_VALIDATE_EXHAUSTIVE

TEST(validate, class_names_round_trip) {
  for (int c = 0; c < kMismatchClasses; ++c) {
    const auto cls = static_cast<MismatchClass>(c);
    EXPECT_EQ(parse_mismatch_class(mismatch_class_name(cls), "--allow"), cls);
  }
  EXPECT_EQ(parse_mismatch_class("nan-payload", "--allow"), MismatchClass::nan_encoding);
  EXPECT_EQ(mismatch_class_name(MismatchClass::subnormal_input_flushed), "subnormal-input-flushed");
}

TEST(validate, unknown_class_message_names_option_and_choices) {
  try {
    parse_mismatch_class("nan", "--allow");
    FAIL() << "no exception";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("--allow: unknown mismatch class 'nan'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("subnormal-input-flushed"), std::string::npos) << msg;
  }
}

// One hand-made mismatch per class (bit patterns from the format tables of NUMERICS.md s1).
TEST(validate, classifier_hand_cases) {
  const Format fp16 = parse_format("fp16");
  const Format bf16 = parse_format("bf16");
  const Format e4m3sat = parse_format("e4m3:sat=finite");
  const Format e5m2 = parse_format("e5m2");
  const Rounding rne{Mode::rne};
  // qNaN with a payload: fpscope 0x7E00, F16C keeps payload bits 0x7E01.
  EXPECT_EQ(classify_mismatch(0x7FC0'2000u, 0x7E00, 0x7E01, fp16, rne), MismatchClass::nan_encoding);
  // NaN in, a number out: not a NaN-encoding difference.
  EXPECT_EQ(classify_mismatch(0x7FC0'0000u, 0x7E00, 0x7BFF, fp16, rne), MismatchClass::other);
  // -1e-30 to fp16 is -0 (0x8000); +0 is a sign difference.
  EXPECT_EQ(classify_mismatch(std::bit_cast<std::uint32_t>(-1e-30f), 0x8000, 0x0000, fp16, rne),
            MismatchClass::sign_of_zero);
  // Float32 subnormal 0x007F0000 to bf16 is 0x007F; DAZ hardware gives 0.
  EXPECT_EQ(classify_mismatch(0x007F'0000u, 0x007F, 0x0000, bf16, rne), MismatchClass::subnormal_input_flushed);
  EXPECT_EQ(classify_mismatch(0x807F'0000u, 0x807F, 0x8000, bf16, rne), MismatchClass::subnormal_input_flushed);
  // 1e6 into e5m2: inf (0x7C) without saturation; 0x7B = 57344 is max finite.
  EXPECT_EQ(classify_mismatch(std::bit_cast<std::uint32_t>(1e6f), 0x7C, 0x7B, e5m2, rne),
            MismatchClass::saturation_vs_inf);
  EXPECT_EQ(classify_mismatch(std::bit_cast<std::uint32_t>(-1e6f), 0xFE, 0xF8, e4m3sat, rne),
            MismatchClass::other);  // -256 (0xF8) instead of -448 (0xFE): not a neighbour
  // 2^-20 into fp16 is the subnormal 0x0010; FTZ gives 0.
  EXPECT_EQ(classify_mismatch(std::bit_cast<std::uint32_t>(0x1p-20f), 0x0010, 0x0000, fp16, rne),
            MismatchClass::subnormal_output_flushed);
  // 1 + 2^-11 is the tie between 1 (0x3C00) and 1 + 2^-10 (0x3C01): the other neighbour.
  const std::uint32_t tie = std::bit_cast<std::uint32_t>(1.0f + 0x1p-11f);
  EXPECT_EQ(classify_mismatch(tie, 0x3C00, 0x3C01, fp16, rne), MismatchClass::rounding_direction);
  // Two ulps away is not a rounding-direction mismatch.
  EXPECT_EQ(classify_mismatch(tie, 0x3C00, 0x3C02, fp16, rne), MismatchClass::other);
  // e4m3 464 (the tie below the NaN code): 448 = 0x7E expected; 0x7F is NaN, not a neighbour value.
  EXPECT_EQ(classify_mismatch(std::bit_cast<std::uint32_t>(464.0f), 0x7E, 0x7F, e4m3sat, rne),
            MismatchClass::other);
}

TEST(validate, boundary_inputs_hold_the_rounding_boundaries) {
  const std::vector<std::uint32_t> e4m3 = boundary_inputs(parse_format("e4m3"));
  EXPECT_TRUE(std::is_sorted(e4m3.begin(), e4m3.end()));
  const auto has = [&](float x) {
    return std::binary_search(e4m3.begin(), e4m3.end(), std::bit_cast<std::uint32_t>(x));
  };
  EXPECT_TRUE(has(448.0f));
  EXPECT_TRUE(has(464.0f));   // the overflow midpoint
  EXPECT_TRUE(has(-464.0f));
  EXPECT_TRUE(has(std::nextafter(464.0f, 0.0f)));
  EXPECT_TRUE(has(0x1p-9f));  // the smallest subnormal
  EXPECT_TRUE(has(0x1p-10f));  // half of it: the tie with zero
  EXPECT_TRUE(std::binary_search(e4m3.begin(), e4m3.end(), 0x0000'0001u));  // a float32 subnormal
  // fp16 has 31743 non-negative finite values: each, its midpoints, neighbours, both signs.
  EXPECT_GT(boundary_inputs(parse_format("fp16")).size(), 300'000u);
}

TEST(validate, exact_fake_target_has_no_mismatch) {
  for (std::string_view spec : {"fp16", "bf16", "e4m3:sat=finite", "e5m2", "e2m1", "e8m0"}) {
    const ConversionTarget t = fake_target(spec, Mode::rne, reference);
    const ValidationResult r = validate_inputs(t, boundary_inputs(t.format), two_threads());
    EXPECT_EQ(r.total_mismatches(), 0u) << spec;
    EXPECT_EQ(r.inputs_checked, boundary_inputs(t.format).size()) << spec;
    const ValidationResult s = validate_sweep(t, SweepRange{0, std::uint64_t{1} << 32, 65537}, two_threads());
    EXPECT_EQ(s.total_mismatches(), 0u) << spec;
    EXPECT_EQ(s.inputs_checked, 65536u) << spec;  // ceil(2^32 / 65537)
  }
}

// The AVX512-BF16 behaviour, faked so that the test runs (and can fail) on any CPU:
// denormal inputs are replaced by a zero of their sign before rounding.
TEST(validate, flushed_denormals_are_classified_as_subnormal_input_flushed) {
  const auto daz = [](std::uint32_t x, const Format& f, Rounding r) {
    return reference(is_float_subnormal(x) ? (x & kSignBit) : x, f, r);
  };
  const ConversionTarget t = fake_target("bf16", Mode::rne, daz);
  for (std::uint32_t sign : {0u, kSignBit}) {
    // Every 251st float32 subnormal of this sign. A bf16 RNE result of the
    // subnormal with mantissa m is round(m / 2^16), zero iff m <= 0x8000 (the
    // tie at 0x8000 goes to the even 0): only m > 0x8000 can show the flush.
    const SweepRange range{sign, 0x0080'0000u, 251};
    std::uint64_t predicted = 0;
    for (std::uint64_t m = 0; m < 0x0080'0000u; m += 251) predicted += m > 0x8000 ? 1 : 0;
    const ValidationResult r = validate_sweep(t, range, two_threads());
    EXPECT_EQ(r.mismatches[static_cast<int>(MismatchClass::subnormal_input_flushed)], predicted);
    EXPECT_EQ(r.total_mismatches(), predicted);
    ASSERT_FALSE(r.examples[static_cast<int>(MismatchClass::subnormal_input_flushed)].empty());
    const MismatchExample first = r.examples[static_cast<int>(MismatchClass::subnormal_input_flushed)][0];
    EXPECT_EQ(first.actual, sign >> 16);  // the signed zero
    EXPECT_GT(first.input & 0x7F'FFFFu, 0x8000u);
  }
}

TEST(validate, fake_misbehaviours_land_in_their_class) {
  struct Case {
    const char* spec;
    Mode mode;
    std::uint16_t (*tamper)(std::uint32_t, const Format&, Rounding);
    MismatchClass expected;
  };
  const Case cases[] = {
      // Canonical NaN for every NaN input (as the CUDA host path does).
      {"fp16", Mode::rne,
       [](std::uint32_t x, const Format& f, Rounding r) -> std::uint16_t {
         return (x & 0x7FFF'FFFFu) > 0x7F80'0000u ? 0x7FFF : reference(x, f, r);
       },
       MismatchClass::nan_encoding},
      // Ties away from zero instead of to even (truncation would also clamp overflow).
      {"bf16", Mode::rne,
       [](std::uint32_t x, const Format& f, Rounding) { return reference(x, f, Rounding{Mode::rna}); },
       MismatchClass::rounding_direction},
      // Overflow clamps instead of going to inf.
      {"e5m2", Mode::rne,
       [](std::uint32_t x, const Format&, Rounding r) { return reference(x, parse_format("e5m2:sat=finite"), r); },
       MismatchClass::saturation_vs_inf},
      // Subnormal results flushed to zero.
      {"fp16", Mode::rne,
       [](std::uint32_t x, const Format& f, Rounding r) -> std::uint16_t {
         const std::uint16_t e = reference(x, f, r);
         return classify(e, f) == Class::subnormal ? static_cast<std::uint16_t>(e & 0x8000) : e;
       },
       MismatchClass::subnormal_output_flushed},
      // Every zero positive.
      {"fp16", Mode::rne,
       [](std::uint32_t x, const Format& f, Rounding r) -> std::uint16_t {
         const std::uint16_t e = reference(x, f, r);
         return e == 0x8000 ? 0 : e;
       },
       MismatchClass::sign_of_zero},
  };
  for (const Case& c : cases) {
    const ConversionTarget t = fake_target(c.spec, c.mode, c.tamper);
    const ValidationResult r = validate_inputs(t, boundary_inputs(t.format), two_threads());
    const auto k = static_cast<std::size_t>(c.expected);
    EXPECT_GT(r.mismatches[k], 0u) << c.spec << " " << mismatch_class_name(c.expected);
    EXPECT_EQ(r.total_mismatches(), r.mismatches[k]) << c.spec << " " << mismatch_class_name(c.expected);
    const MismatchClass allowed[] = {c.expected};
    EXPECT_EQ(r.disallowed_mismatches(allowed), 0u);
    EXPECT_EQ(r.disallowed_mismatches({}), r.mismatches[k]);
    ASSERT_FALSE(r.examples[k].empty());
    for (const MismatchExample& m : r.examples[k]) {
      EXPECT_EQ(m.expected, reference(m.input, t.format, t.rounding));
      EXPECT_NE(m.expected, m.actual);
    }
  }
}

TEST(validate, results_do_not_depend_on_threads) {
  const ConversionTarget t = fake_target("bf16", Mode::rne, [](std::uint32_t x, const Format& f, Rounding) {
    return reference(x, f, Rounding{Mode::rtz});
  });
  const SweepRange range{0x3F80'0000u, 1u << 20, 3};
  ValidateOptions one;
  one.threads = 1;
  one.max_examples = 3;
  ValidateOptions three = one;
  three.threads = 3;
  const ValidationResult a = validate_sweep(t, range, one);
  const ValidationResult b = validate_sweep(t, range, three);
  EXPECT_EQ(a.mismatches, b.mismatches);
  EXPECT_EQ(a.examples, b.examples);
  const auto& ex = a.examples[static_cast<int>(MismatchClass::rounding_direction)];
  ASSERT_EQ(ex.size(), 3u);
  EXPECT_TRUE(std::is_sorted(ex.begin(), ex.end(), [](auto& p, auto& q) { return p.input < q.input; }));
}

TEST(validate, unusable_targets_and_ranges_are_errors) {
  ConversionTarget t = fake_target("fp16", Mode::rne, reference);
  t.name = "missing unit";
  t.unavailable = "CPU lacks avx512_bf16";
  try {
    validate_sweep(t, SweepRange{}, two_threads());
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "validate: conversion 'missing unit' is not available here: CPU lacks avx512_bf16");
  }
  const ConversionTarget ok = fake_target("fp16", Mode::rne, reference);
  EXPECT_THROW(validate_sweep(ok, SweepRange{0, 10, 0}, two_threads()), Error);
  EXPECT_THROW(validate_sweep(ok, SweepRange{std::uint64_t{1} << 32, 10, 1}, two_threads()), Error);
  EXPECT_THROW(boundary_inputs(parse_format("fp32")), Error);
}

// The CPU's own conversions on every rounding boundary and a strided sweep.
TEST(validate_cpu, hardware_conversions_on_boundaries) {
  const std::vector<ConversionTarget> targets = cpu_conversion_targets();
  ASSERT_FALSE(targets.empty());
  int ran = 0;
  for (const ConversionTarget& t : targets) {
    if (!t.unavailable.empty()) {
      std::printf("skipped: %s (%s)\n", t.name.c_str(), t.unavailable.c_str());
      continue;
    }
    ++ran;
    ValidationResult r = validate_inputs(t, boundary_inputs(t.format), two_threads());
    merge(r, validate_sweep(t, SweepRange{0, std::uint64_t{1} << 32, 4099}, two_threads()), 4);
    // What Intel documents: NaN payloads are kept (both units); vcvtneps2bf16
    // also flushes denormal inputs. Nothing else may differ.
    std::vector<MismatchClass> allowed = {MismatchClass::nan_encoding};
    if (t.name.starts_with("avx512bf16")) {
      allowed.push_back(MismatchClass::subnormal_input_flushed);
      EXPECT_GT(r.mismatches[static_cast<int>(MismatchClass::subnormal_input_flushed)], 0u) << t.name;
    }
    EXPECT_EQ(r.disallowed_mismatches(allowed), 0u) << t.name;
    for (const auto& ex : r.examples[static_cast<int>(MismatchClass::other)]) {
      ADD_FAILURE() << t.name << " input " << std::hex << ex.input << " expected " << ex.expected << " actual "
                    << ex.actual;
    }
  }
  if (ran == 0) GTEST_SKIP() << "skipped: this CPU has none of f16c, avx512_fp16, avx512_bf16";
}

#else  // FPSCOPE_VALIDATE_EXHAUSTIVE

// Every float32 pattern through F16C vcvtps2ph (RNE). The only mismatches are NaNs
// whose payload bits 13..21 are not all zero: F16C returns sign | 0x7E00 | (payload >> 13),
// fpscope sign | 0x7E00. Per sign: 2^23 - 1 NaN mantissas, 2^14 - 1 of them with
// bits 13..21 zero.
TEST(validate_exhaustive, f16c_rne_full_sweep) {
  const std::vector<ConversionTarget> targets = cpu_conversion_targets();
  const ConversionTarget* t = find_cpu_target(targets, "f16c", Mode::rne);
  ASSERT_NE(t, nullptr);
  if (!t->unavailable.empty()) GTEST_SKIP() << "skipped: " << t->unavailable;
  const ValidationResult r = validate_sweep(*t, SweepRange{}, ValidateOptions{});
  std::printf("%s: %.2f s for 2^32 inputs\n", t->name.c_str(), r.seconds);
  EXPECT_EQ(r.inputs_checked, std::uint64_t{1} << 32);
  const std::uint64_t per_sign = (std::uint64_t{1} << 23) - (std::uint64_t{1} << 14);
  EXPECT_EQ(r.mismatches[static_cast<int>(MismatchClass::nan_encoding)], 2 * per_sign);
  EXPECT_EQ(r.total_mismatches(), 2 * per_sign);
}

// Every float32 pattern through AVX512-BF16 vcvtneps2bf16. Subnormal inputs with
// mantissa > 0x8000 give a non-zero bf16 under RNE but 0 from the hardware
// (0x7FFFFF - 0x8000 per sign); NaNs give src[31:16] | 0x40, which differs from
// fpscope's sign | 0x7FC0 unless mantissa bits 16..21 are zero (2^17 - 1 per sign).
TEST(validate_exhaustive, avx512bf16_full_sweep) {
  const std::vector<ConversionTarget> targets = cpu_conversion_targets();
  const ConversionTarget* t = find_cpu_target(targets, "avx512bf16", Mode::rne);
  ASSERT_NE(t, nullptr);
  if (!t->unavailable.empty()) GTEST_SKIP() << "skipped: " << t->unavailable;
  const ValidationResult r = validate_sweep(*t, SweepRange{}, ValidateOptions{});
  std::printf("%s: %.2f s for 2^32 inputs\n", t->name.c_str(), r.seconds);
  const std::uint64_t flushed_per_sign = 0x7F'FFFFu - 0x8000u;
  const std::uint64_t nan_per_sign = (std::uint64_t{1} << 23) - (std::uint64_t{1} << 17);
  EXPECT_EQ(r.mismatches[static_cast<int>(MismatchClass::subnormal_input_flushed)], 2 * flushed_per_sign);
  EXPECT_EQ(r.mismatches[static_cast<int>(MismatchClass::nan_encoding)], 2 * nan_per_sign);
  EXPECT_EQ(r.total_mismatches(), 2 * (flushed_per_sign + nan_per_sign));
}

#endif  // FPSCOPE_VALIDATE_EXHAUSTIVE

}  // namespace
}  // namespace fpscope
