// tests/core/test_format.cpp: presets, derived limits and the spec parser (core/format.h).
#include "core/format.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"

namespace fpscope {
namespace {

struct Expected {
  const char* name;
  int bits;
  double max_finite;
  double min_normal;
  double min_subnormal;
  std::uint64_t finite_count;
};

// NUMERICS.md s1; finite counts from the encodings (e.g. e4m3: 256 - 2 NaN - one of +-0).
TEST(format, preset_limits_match_the_reference_table) {
  const Expected table[] = {
      {"fp64", 64, 1.7976931348623157e308, 0x1p-1022, 0x1p-1074, 0},
      {"fp32", 32, 3.4028234663852886e38, 0x1p-126, 0x1p-149, 0},
      {"tf32", 19, 0x1.ffcp127, 0x1p-126, 0x1p-136, 0},
      {"bf16", 16, 0x1.fep127, 0x1p-126, 0x1p-133, 65536 - 2 * 128 - 1},
      {"fp16", 16, 65504, 0x1p-14, 0x1p-24, 65536 - 2 * 1024 - 1},
      {"e5m2", 8, 57344, 0x1p-14, 0x1p-16, 256 - 2 * 4 - 1},
      {"e4m3", 8, 448, 0x1p-6, 0x1p-9, 253},
      {"e4m3fnuz", 8, 240, 0x1p-7, 0x1p-10, 255},
      {"e5m2fnuz", 8, 57344, 0x1p-15, 0x1p-17, 255},
      {"e3m4", 8, 15.5, 0x1p-2, 0x1p-6, 256 - 2 * 16 - 1},
      {"e2m3", 6, 7.5, 1, 0x1p-3, 63},
      {"e3m2", 6, 28, 0x1p-2, 0x1p-4, 63},
      {"e2m1", 4, 6, 1, 0.5, 15},
      {"e8m0", 8, 0x1p127, 0x1p-127, 0x1p-127, 255},
  };
  for (const Expected& e : table) {
    SCOPED_TRACE(e.name);
    const Preset* p = find_preset(e.name);
    ASSERT_NE(p, nullptr);
    const FormatLimits l = limits(p->format);
    EXPECT_EQ(l.total_bits, e.bits);
    EXPECT_EQ(l.max_finite, e.max_finite);
    EXPECT_EQ(l.min_normal, e.min_normal);
    EXPECT_EQ(l.min_subnormal, e.min_subnormal);
    if (e.finite_count != 0) {
      EXPECT_EQ(l.finite_count, e.finite_count);
    }
    EXPECT_NEAR(l.binades, std::log2(e.max_finite) - std::log2(e.min_subnormal), 1e-9);
  }
}

TEST(format, every_preset_is_valid_and_named_by_itself) {
  for (const Preset& p : presets()) {
    SCOPED_TRACE(std::string(p.name));
    EXPECT_NO_THROW(validate(p.format, p.name));
    EXPECT_EQ(parse_format(p.name), p.format);
    EXPECT_EQ(format_name(p.format), p.name);
  }
}

TEST(format, spec_syntax) {
  const Format f = parse_format("e4m3:bias=9:nosub:sat=inf:specials=ieee");
  EXPECT_EQ(f.exp_bits, 4);
  EXPECT_EQ(f.man_bits, 3);
  EXPECT_EQ(f.bias, 9);
  EXPECT_FALSE(f.subnormals);
  EXPECT_EQ(f.specials, Specials::ieee);
  EXPECT_EQ(f.overflow, Overflow::inf);
  EXPECT_EQ(parse_format(format_name(f)), f);

  const Format g = parse_format("e5m7");
  EXPECT_EQ(g.bias, 15);
  EXPECT_EQ(g.specials, Specials::ieee);
  EXPECT_EQ(format_name(g), "e5m7");
  EXPECT_EQ(parse_format("e4m3fn"), parse_format("e4m3"));
  EXPECT_EQ(parse_format("e4m3:sat").overflow, Overflow::saturate);
}

void expect_error(const char* spec, const char* message_part) {
  try {
    parse_format(spec);
    ADD_FAILURE() << spec << " was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(message_part), std::string::npos)
        << "message: " << e.what();
    EXPECT_NE(std::string(e.what()).find(spec), std::string::npos) << "message: " << e.what();
  }
}

TEST(format, bad_specs_are_clear_errors) {
  expect_error("e9m9x", "not an integer");
  expect_error("fp7", "unknown format; expected a preset (fp64, fp32");
  expect_error("e12m3", "exponent bits must be 1..11");
  expect_error("e4m60", "mantissa bits must be 0..52");
  expect_error("e4m3:sat=inf", "sat=inf needs ieee specials");
  expect_error("e2m1:sat=nan", "sat=nan needs a NaN encoding");
  expect_error("e4m3:colour=red", "unknown option 'colour=red'");
  expect_error("e11m52:bias=0", "exceeds binary64");
  expect_error("e11m52:bias=2000", "below binary64");
  expect_error("e5m0:specials=ieee", "ieee specials need at least one mantissa bit");
  expect_error("", "unknown format");
}

}  // namespace
}  // namespace fpscope
