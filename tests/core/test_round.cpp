// tests/core/test_round.cpp: hand-checked cases of the rounding core (core/round.h).
// The exhaustive checks against MPFR live in test_round_mpfr.cpp.
#include "core/round.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace fpscope {
namespace {

Format fmt(const char* name) { return parse_format(name); }
constexpr Rounding kRne{};

TEST(round, known_encodings) {
  EXPECT_EQ(encode(3.14, fmt("fp16"), kRne).bits, 0x4248u);
  EXPECT_EQ(decode(0x4248, fmt("fp16")), 3.140625);
  EXPECT_EQ(encode(448.0, fmt("e4m3"), kRne).bits, 0x7Eu);
  EXPECT_EQ(encode(-448.0, fmt("e4m3"), kRne).bits, 0xFEu);
  EXPECT_EQ(encode(57344.0, fmt("e5m2"), kRne).bits, 0x7Bu);
  EXPECT_EQ(encode(6.0, fmt("e2m1"), kRne).bits, 0x7u);
  EXPECT_EQ(encode(1.0, fmt("bf16"), kRne).bits, 0x3F80u);
  EXPECT_EQ(encode(1.0, fmt("e8m0"), kRne).bits, 127u);
}

TEST(round, e4m3_overflow_follows_the_policy) {
  // 464 is the midpoint between 448 and the (NaN-reserved) 480: ties to even keeps 448.
  EXPECT_EQ(encode(464.0, fmt("e4m3"), kRne).bits, 0x7Eu);
  const Encoded over = encode(470.0, fmt("e4m3"), kRne);
  EXPECT_EQ(over.bits, 0x7Fu);  // non-saturating: NaN
  EXPECT_EQ(over.flags, kOverflow | kInexact);
  EXPECT_EQ(encode(470.0, fmt("e4m3:sat"), kRne).bits, 0x7Eu);
  EXPECT_EQ(encode(470.0, fmt("e4m3"), Rounding{Mode::rtz}).bits, 0x7Eu);
  EXPECT_EQ(encode(1e9, fmt("e5m2"), kRne).bits, 0x7Cu);                 // inf
  EXPECT_EQ(encode(1e9, fmt("e5m2"), Rounding{Mode::rtz}).bits, 0x7Bu);  // max finite
  EXPECT_EQ(encode(-1e9, fmt("e5m2"), Rounding{Mode::rup}).bits, 0xFBu);
}

TEST(round, subnormals_and_underflow) {
  const Format e4m3 = fmt("e4m3");
  EXPECT_EQ(encode(0x1p-9, e4m3, kRne).bits, 0x01u);
  EXPECT_EQ(encode(0x1p-10, e4m3, kRne).bits, 0x00u);  // tie with 0 goes to even
  const Encoded up = encode(0x1.8p-10, e4m3, kRne);
  EXPECT_EQ(up.bits, 0x01u);
  EXPECT_EQ(up.flags, kInexact | kUnderflow);
  EXPECT_EQ(encode(-0x1p-11, e4m3, kRne).bits, 0x80u);                  // -0
  EXPECT_EQ(encode(-0x1p-11, fmt("e4m3fnuz"), kRne).bits, 0x00u);       // no -0 in fnuz
  const Format nosub = fmt("e4m3:nosub");
  EXPECT_EQ(encode(0x1.2p-7, nosub, kRne).bits, 0x08u);  // above half min normal
  EXPECT_EQ(encode(0x1p-7, nosub, kRne).bits, 0x00u);    // the tie goes to zero
  EXPECT_EQ(encode(0x1p-20, nosub, Rounding{Mode::rup}).bits, 0x08u);
}

TEST(round, directed_modes_and_round_to_odd) {
  const Format f = fmt("e5m2");
  const double between = 1.0625;  // between 1 and 1.25, below the midpoint
  EXPECT_EQ(decode(encode(between, f, Rounding{Mode::rne}).bits, f), 1.0);
  EXPECT_EQ(decode(encode(between, f, Rounding{Mode::rup}).bits, f), 1.25);
  EXPECT_EQ(decode(encode(-between, f, Rounding{Mode::rup}).bits, f), -1.0);
  EXPECT_EQ(decode(encode(-between, f, Rounding{Mode::rdn}).bits, f), -1.25);
  EXPECT_EQ(decode(encode(1.125, f, Rounding{Mode::rto}).bits, f), 1.25);
  EXPECT_EQ(decode(encode(1.625, f, Rounding{Mode::rto}).bits, f), 1.75);
  EXPECT_EQ(decode(encode(1.5, f, Rounding{Mode::rto}).bits, f), 1.5);  // exact stays
  EXPECT_EQ(decode(encode(1.125, f, Rounding{Mode::rna}).bits, f), 1.25);  // the midpoint
  EXPECT_EQ(decode(encode(1.125, f, Rounding{Mode::rne}).bits, f), 1.0);
  EXPECT_EQ(decode(encode(1.125 + 0.0, fmt("e5m3"), Rounding{Mode::rna}).bits, fmt("e5m3")), 1.125);
  EXPECT_EQ(decode(encode(1.0625, fmt("e5m3"), Rounding{Mode::rna}).bits, fmt("e5m3")), 1.125);
  EXPECT_EQ(decode(encode(1.0625, fmt("e5m3"), Rounding{Mode::rne}).bits, fmt("e5m3")), 1.0);
}

TEST(round, stochastic_uses_the_leading_discarded_bits) {
  const Format f = fmt("e5m2");
  const Rounding sr{Mode::sr, 8};
  // 1.0625 is a quarter of the gap above 1.0: up for exactly 64 of the 256 noise values.
  int up = 0;
  for (std::uint32_t noise = 0; noise < 256; ++noise) {
    up += decode(encode(1.0625, f, sr, noise).bits, f) == 1.25 ? 1 : 0;
  }
  EXPECT_EQ(up, 64);
}

TEST(round, specials) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(encode(inf, fmt("fp16"), kRne).bits, 0x7C00u);
  EXPECT_EQ(encode(nan, fmt("fp16"), kRne).bits, 0x7E00u);
  EXPECT_EQ(encode(nan, fmt("e4m3"), kRne).bits, 0x7Fu);
  EXPECT_EQ(encode(-nan, fmt("e4m3fnuz"), kRne).bits, 0x80u);
  EXPECT_EQ(encode(inf, fmt("e4m3:sat"), kRne).bits, 0x7Eu);
  EXPECT_EQ(encode(-inf, fmt("e2m1"), kRne).bits, 0xFu);
  EXPECT_EQ(encode(nan, fmt("e2m1"), kRne).flags, kInvalid);
  EXPECT_TRUE(std::isnan(decode(0x80, fmt("e4m3fnuz"))));
  EXPECT_TRUE(std::isnan(decode(0xFF, fmt("e8m0"))));
  EXPECT_TRUE(std::isinf(decode(0xFC, fmt("e5m2"))));
  EXPECT_EQ(decode(0x00, fmt("e8m0")), 0x1p-127);
}

// sat=finite clamps infinite inputs as well as overflowing finite ones, even in
// a format that has inf: the GPU's satfinite (cuda_fp8.h __NV_SATFINITE, PTX
// cvt .satfinite) turns +-inf into +-max finite, 0x7B/0xFB in e5m2 (core/ORACLES.md).
TEST(round, saturation_clamps_infinity) {
  const double inf = std::numeric_limits<double>::infinity();
  const Encoded up = encode(inf, fmt("e5m2:sat=finite"), kRne);
  EXPECT_EQ(up.bits, 0x7Bu);
  EXPECT_EQ(up.flags, kOverflow);
  EXPECT_EQ(encode(-inf, fmt("e5m2:sat=finite"), kRne).bits, 0xFBu);
  EXPECT_EQ(encode(-inf, fmt("fp16:sat=finite"), Rounding{Mode::rup}).bits, 0xFBFFu);
  // Without saturation inf stays inf in every mode (only finite overflow obeys s7.4's toward-zero rule).
  EXPECT_EQ(encode(inf, fmt("e5m2"), Rounding{Mode::rtz}).bits, 0x7Cu);
  EXPECT_EQ(encode(-inf, fmt("e5m2:sat=nan"), kRne).bits, 0xFCu);
}

// Every finite encoding of every 8-bit-or-less preset decodes and re-encodes to itself.
TEST(round, small_presets_round_trip_every_encoding) {
  for (const Preset& p : presets()) {
    const FormatLimits l = limits(p.format);
    if (l.total_bits > 16) continue;
    SCOPED_TRACE(std::string(p.name));
    for (std::uint64_t bits = 0; bits < (std::uint64_t{1} << l.total_bits); ++bits) {
      const double v = decode(bits, p.format);
      if (std::isnan(v)) continue;
      for (Mode m : {Mode::rne, Mode::rna, Mode::rtz, Mode::rup, Mode::rdn, Mode::rto}) {
        const Encoded e = encode(v, p.format, Rounding{m});
        ASSERT_EQ(e.bits, bits) << "value " << v << " mode " << static_cast<int>(m);
        ASSERT_EQ(e.flags, 0);
      }
    }
  }
}

}  // namespace
}  // namespace fpscope
