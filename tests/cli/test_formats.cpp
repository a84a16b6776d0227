// tests/cli/test_formats.cpp: `fpscope formats`: the table lists every preset; --json parses and holds exact limits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "core/format.h"
#include "tests/cli/run_fpscope.h"

namespace {

using fpscope::test::lines_of;
using fpscope::test::run_fpscope;

TEST(cli_formats, table_lists_every_preset) {
  const auto r = run_fpscope({"formats"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const auto lines = lines_of(r.out);
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(lines[0].starts_with("name ")) << lines[0];
  for (const char* column : {"bits", "max finite", "min normal", "min subnormal", "epsilon", "digits", "binades",
                             "inf", "NaN", "-0", "overflow"}) {
    EXPECT_NE(lines[0].find(column), std::string::npos) << column;
  }
  for (const fpscope::Preset& p : fpscope::presets()) {
    bool found = false;
    for (const std::string& line : lines) found = found || line.starts_with(std::string(p.name) + " ");
    EXPECT_TRUE(found) << p.name;
  }
}

TEST(cli_formats, table_values_from_the_specs) {
  // Rows checked against NUMERICS.md s1 (OFP8 rev 1.0, OCP MX v1.0), not against the code.
  const auto lines = lines_of(run_fpscope({"formats"}).out);
  auto row = [&](const std::string& name) {
    for (const std::string& line : lines) {
      if (line.starts_with(name + " ")) return line;
    }
    return std::string();
  };
  EXPECT_NE(row("fp16").find(" 65504 "), std::string::npos) << row("fp16");
  EXPECT_NE(row("fp16").find(" 2^-24 "), std::string::npos) << row("fp16");
  EXPECT_NE(row("e4m3").find(" 448 "), std::string::npos) << row("e4m3");
  EXPECT_NE(row("e4m3fnuz").find(" 240 "), std::string::npos) << row("e4m3fnuz");
  EXPECT_NE(row("e2m1").find(" 6 "), std::string::npos) << row("e2m1");
  EXPECT_NE(row("e8m0").find(" 2^127 "), std::string::npos) << row("e8m0");
}

TEST(cli_formats, json_parses_with_exact_values) {
  const auto r = run_fpscope({"formats", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), fpscope::presets().size());
  for (std::size_t i = 0; i < j.size(); ++i) {
    EXPECT_EQ(j[i]["name"], std::string(fpscope::presets()[i].name));
    // The number and its hex string are the same double.
    for (const char* key : {"max_finite", "min_normal", "min_subnormal", "epsilon"}) {
      const std::string hex = j[i][std::string(key) + "_hex"];
      EXPECT_EQ(j[i][key].get<double>(), std::strtod(hex.c_str(), nullptr)) << j[i]["name"] << " " << key;
    }
  }
  auto find = [&](const std::string& name) {
    for (const auto& e : j) {
      if (e["name"] == name) return e;
    }
    return nlohmann::json();
  };
  // NUMERICS.md s1.
  EXPECT_EQ(find("fp64")["max_finite"].get<double>(), 1.7976931348623157e308);
  EXPECT_EQ(find("fp64")["min_subnormal"].get<double>(), 4.9406564584124654e-324);
  EXPECT_EQ(find("bf16")["max_finite_hex"], "0x1.fep+127");
  EXPECT_EQ(find("fp16")["max_finite"].get<double>(), 65504.0);
  EXPECT_EQ(find("fp16")["min_subnormal"].get<double>(), std::ldexp(1.0, -24));
  EXPECT_EQ(find("e5m2")["max_finite"].get<double>(), 57344.0);
  EXPECT_EQ(find("e4m3")["max_finite"].get<double>(), 448.0);
  EXPECT_EQ(find("e4m3")["specials"], "fn");
  EXPECT_EQ(find("e4m3")["has_inf"], false);
  EXPECT_EQ(find("e4m3fnuz")["has_negative_zero"], false);
  EXPECT_EQ(find("e3m2")["max_finite"].get<double>(), 28.0);
  EXPECT_EQ(find("e2m3")["overflow"], "saturate");
  EXPECT_EQ(find("e8m0")["signed"], false);
  EXPECT_EQ(find("e8m0")["bits"], 8);
  EXPECT_EQ(find("tf32")["bits"], 19);
  EXPECT_EQ(find("e2m1")["finite_count"], 15);  // +-{0.5,1,1.5,2,3,4,6} and one zero
}

TEST(cli_formats, help_has_examples) {
  const auto r = run_fpscope({"formats", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Examples:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--json"), std::string::npos) << r.out;
}

}  // namespace
