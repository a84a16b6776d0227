// tests/core/test_rounding_spec.cpp: rounding-mode specs parse, print back, and fail with clear messages.
#include "core/rounding_spec.h"

#include <gtest/gtest.h>

#include <string>

#include "core/error.h"

namespace {

using fpscope::Mode;
using fpscope::Rounding;

std::string error_of(std::string_view spec) {
  try {
    fpscope::parse_rounding(spec);
  } catch (const fpscope::Error& e) {
    return e.what();
  }
  return "(no error)";
}

const std::string kChoices =
    "valid modes: rne, rna, rtz, rup, rdn, rto, sr, sr:N (N = 1..32 random bits)";

TEST(rounding_spec, every_mode) {
  EXPECT_EQ(fpscope::parse_rounding("rne"), Rounding{Mode::rne});
  EXPECT_EQ(fpscope::parse_rounding("rna"), Rounding{Mode::rna});
  EXPECT_EQ(fpscope::parse_rounding("rtz"), Rounding{Mode::rtz});
  EXPECT_EQ(fpscope::parse_rounding("rup"), Rounding{Mode::rup});
  EXPECT_EQ(fpscope::parse_rounding("rdn"), Rounding{Mode::rdn});
  EXPECT_EQ(fpscope::parse_rounding("rto"), Rounding{Mode::rto});
  EXPECT_EQ(fpscope::parse_rounding("sr"), (Rounding{Mode::sr, 32}));
  EXPECT_EQ(fpscope::parse_rounding("sr:1"), (Rounding{Mode::sr, 1}));
  EXPECT_EQ(fpscope::parse_rounding("sr:13"), (Rounding{Mode::sr, 13}));
  EXPECT_EQ(fpscope::parse_rounding("sr:32"), (Rounding{Mode::sr, 32}));
}

TEST(rounding_spec, names_read_back) {
  for (const char* spec : {"rne", "rna", "rtz", "rup", "rdn", "rto", "sr", "sr:1", "sr:16"}) {
    EXPECT_EQ(fpscope::rounding_name(fpscope::parse_rounding(spec)), spec);
  }
  EXPECT_EQ(fpscope::rounding_name(Rounding{Mode::sr, 32}), "sr");
}

TEST(rounding_spec, errors_name_the_spec_and_list_the_modes) {
  EXPECT_EQ(error_of("nearest"), "rounding mode 'nearest': unknown; " + kChoices);
  EXPECT_EQ(error_of(""), "rounding mode '': empty; " + kChoices);
  EXPECT_EQ(error_of("RNE"), "rounding mode 'RNE': unknown; " + kChoices);
  EXPECT_EQ(error_of("rne:3"), "rounding mode 'rne:3': only sr takes a number of random bits; " + kChoices);
  const std::string bad_bits = "the number of random bits must be an integer from 1 to 32; " + kChoices;
  EXPECT_EQ(error_of("sr:0"), "rounding mode 'sr:0': " + bad_bits);
  EXPECT_EQ(error_of("sr:33"), "rounding mode 'sr:33': " + bad_bits);
  EXPECT_EQ(error_of("sr:"), "rounding mode 'sr:': " + bad_bits);
  EXPECT_EQ(error_of("sr:8x"), "rounding mode 'sr:8x': " + bad_bits);
  EXPECT_EQ(error_of("sr:-1"), "rounding mode 'sr:-1': " + bad_bits);
  EXPECT_EQ(error_of("sr:99999999999"), "rounding mode 'sr:99999999999': " + bad_bits);
}

TEST(rounding_spec, lists) {
  const auto list = fpscope::parse_rounding_list("rne,sr:13,rtz");
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0], Rounding{Mode::rne});
  EXPECT_EQ(list[1], (Rounding{Mode::sr, 13}));
  EXPECT_EQ(list[2], Rounding{Mode::rtz});
  EXPECT_THROW(fpscope::parse_rounding_list("rne,,rtz"), fpscope::Error);
  EXPECT_THROW(fpscope::parse_rounding_list("rne,"), fpscope::Error);
}

}  // namespace
