// tests/cli/test_convert.cpp: `fpscope convert`: bits, fields, decoded values, errors and flags, text and JSON.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/cli/run_fpscope.h"

namespace {

using fpscope::test::lines_of;
using fpscope::test::run_fpscope;

// The table row of `format` in the output.
std::string row_of(const std::string& out, const std::string& format) {
  for (const std::string& line : lines_of(out)) {
    if (line.starts_with("  " + format + " ")) return line;
  }
  return "(no row for " + format + ")";
}

// One JSON entry per (value, format), in that order.
nlohmann::json convert_json(const std::vector<std::string>& args) {
  std::vector<std::string> all{"convert"};
  all.insert(all.end(), args.begin(), args.end());
  all.push_back("--json");
  const auto r = run_fpscope(all);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

TEST(cli_convert, pi_in_the_four_training_formats) {
  const auto r = run_fpscope({"convert", "3.14", "--to", "fp16,bf16,e4m3,e5m2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Encodings worked by hand: 3.14 = 1.57 * 2^1. fp16: exponent 1+15 = 10000,
  // mantissa round(0.57 * 1024) = 584 = 1001001000 -> 0x4248 = 3.140625 (the example).
  const std::string fp16 = row_of(r.out, "fp16");
  EXPECT_NE(fp16.find("0x4248"), std::string::npos) << fp16;
  EXPECT_NE(fp16.find("0 10000 1001001000"), std::string::npos) << fp16;
  EXPECT_NE(fp16.find("3.140625"), std::string::npos) << fp16;
  EXPECT_NE(fp16.find("inexact"), std::string::npos) << fp16;
  // bf16: round(0.57 * 128) = 73 = 1001001, exponent 128 -> 0x4049 = 3.140625.
  EXPECT_NE(row_of(r.out, "bf16").find("0x4049  0 10000000 1001001  3.140625"), std::string::npos);
  // e4m3: round(0.57 * 8) = 5 -> 1.101b * 2 = 3.25, exponent 8 -> 0x45.
  EXPECT_NE(row_of(r.out, "e4m3").find("0x45    0 1000 101"), std::string::npos) << row_of(r.out, "e4m3");
  EXPECT_NE(row_of(r.out, "e4m3").find(" 3.25 "), std::string::npos);
  // e5m2: round(0.57 * 4) = 2 -> 1.10b * 2 = 3, exponent 16 -> 0x42.
  EXPECT_NE(row_of(r.out, "e5m2").find("0x42    0 10000 10 "), std::string::npos) << row_of(r.out, "e5m2");
  // The value converted is the double nearest 3.14, shown exactly.
  EXPECT_NE(r.out.find("3.140000000000000124344978758017532527446746826171875"), std::string::npos) << r.out;
}

TEST(cli_convert, json_errors_and_flags) {
  const auto j = convert_json({"3.14", "--to", "fp16"});
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["bits"], "0x4248");
  EXPECT_EQ(j[0]["decoded"].get<double>(), 3.140625);
  EXPECT_EQ(j[0]["sign"], "0");
  EXPECT_EQ(j[0]["exponent"], "10000");
  EXPECT_EQ(j[0]["mantissa"], "1001001000");
  EXPECT_EQ(j[0]["flags"], nlohmann::json::array({"inexact"}));
  EXPECT_EQ(j[0]["abs_error"].get<double>(), 3.140625 - 3.14);
  EXPECT_EQ(j[0]["rel_error"].get<double>(), (3.140625 - 3.14) / 3.14);
  EXPECT_EQ(j[0]["ulp"].get<double>(), std::ldexp(1.0, -9));  // fp16 gap in [2, 4)
  EXPECT_EQ(j[0]["ulp_error"].get<double>(), (3.140625 - 3.14) * 512);
  EXPECT_EQ(j[0]["value_hex"], "0x1.91eb851eb851fp+1");
}

TEST(cli_convert, hex_floats_and_special_values) {
  const auto j = convert_json({"0x1.8p3", "-inf", "nan", "1e400", "-0", "--to", "fp16,e4m3,e2m1"});
  ASSERT_EQ(j.size(), 15u);
  // 12 = 1.5 * 2^3 is exact in fp16 and e4m3; e2m1's largest value is 6.
  EXPECT_EQ(j[0]["bits"], "0x4a00");
  EXPECT_EQ(j[0]["flags"], nlohmann::json::array());
  EXPECT_EQ(j[1]["bits"], "0x54");  // e4m3 12 = 1.100b * 2^3: 0 1010 100
  EXPECT_EQ(j[2]["bits"], "0x7");   // e2m1 saturates at 6 (OCP MX v1.0: no inf)
  EXPECT_EQ(j[2]["flags"], nlohmann::json::array({"inexact", "overflow"}));
  EXPECT_EQ(j[3]["bits"], "0xfc00");  // fp16 -inf
  EXPECT_EQ(j[3]["decoded"], "-inf");
  EXPECT_EQ(j[3]["abs_error"].get<double>(), 0.0);
  EXPECT_EQ(j[4]["bits"], "0xff");  // e4m3 has no inf: -inf becomes its NaN (overflow policy nan)
  EXPECT_EQ(j[4]["decoded"], "nan");
  EXPECT_EQ(j[6]["bits"], "0x7e00");  // fp16 quiet NaN
  EXPECT_EQ(j[6]["abs_error"], "nan");
  EXPECT_EQ(j[8]["flags"], nlohmann::json::array({"invalid"}));  // NaN into e2m1, which has none
  EXPECT_EQ(j[9]["value"], "inf");  // 1e400 is beyond binary64: the nearest double is inf
  EXPECT_EQ(j[9]["bits"], "0x7c00");
  EXPECT_EQ(j[12]["bits"], "0x8000");  // -0
}

TEST(cli_convert, values_and_options_in_any_order) {
  // Values keep their order around options; each --to takes one list; -inf is a value.
  const auto j = convert_json({"--to", "fp16", "1.5", "-inf", "--to", "e4m3,e5m2", "-2"});
  ASSERT_EQ(j.size(), 9u);
  EXPECT_EQ(j[0]["input"], "1.5");
  EXPECT_EQ(j[0]["format"], "fp16");
  EXPECT_EQ(j[2]["format"], "e5m2");
  EXPECT_EQ(j[3]["input"], "-inf");
  EXPECT_EQ(j[3]["bits"], "0xfc00");
  EXPECT_EQ(j[6]["input"], "-2");
  EXPECT_EQ(j[6]["bits"], "0xc000");
}

TEST(cli_convert, ulp_is_the_gap_at_the_decoded_value) {
  // fp16 subnormal spacing 2^-24; e4m3 around 448 (binade [256, 512), M = 3): 2^5;
  // e4m3 without subnormals: the gap between 0 and min normal 2^-6 is 2^-6.
  EXPECT_EQ(convert_json({"1e-7", "--to", "fp16"})[0]["ulp"].get<double>(), std::ldexp(1.0, -24));
  EXPECT_EQ(convert_json({"440", "--to", "e4m3"})[0]["ulp"].get<double>(), 32.0);
  const auto j = convert_json({"0.001", "--to", "e4m3:nosub"});
  EXPECT_EQ(j[0]["decoded"].get<double>(), 0.0);
  EXPECT_EQ(j[0]["ulp"].get<double>(), std::ldexp(1.0, -6));
  EXPECT_EQ(j[0]["ulp_error"].get<double>(), 0.001 * 64);
  // A tiny value is shown exactly, in scientific notation.
  const auto r = run_fpscope({"convert", "1e-300", "--to", "bf16"});
  // Python: decimal.Decimal(1e-300) = 1.00000000000000002505909183520875968569...e-300
  EXPECT_NE(r.out.find(" = 1.00000000000000002505909183520875968569"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("e-300\n"), std::string::npos) << r.out;
}

TEST(cli_convert, rounding_modes) {
  // 3.14 in fp16 lies between 0x4247 = 3.138671875 and 0x4248 = 3.140625.
  EXPECT_EQ(convert_json({"3.14", "--to", "fp16", "--rounding", "rtz"})[0]["bits"], "0x4247");
  EXPECT_EQ(convert_json({"3.14", "--to", "fp16", "--rounding", "rdn"})[0]["bits"], "0x4247");
  EXPECT_EQ(convert_json({"3.14", "--to", "fp16", "--rounding", "rup"})[0]["bits"], "0x4248");
  EXPECT_EQ(convert_json({"-3.14", "--to", "fp16", "--rounding", "rup"})[0]["bits"], "0xc247");
  EXPECT_EQ(convert_json({"3.14", "--to", "fp16", "--rounding", "rto"})[0]["bits"], "0x4247");
  // 1.5 in e2m1 is exact; 1.25 is a tie between 1 and 1.5: rne -> 1 (even), rna -> 1.5.
  EXPECT_EQ(convert_json({"1.25", "--to", "e2m1", "--rounding", "rne"})[0]["bits"], "0x2");
  EXPECT_EQ(convert_json({"1.25", "--to", "e2m1", "--rounding", "rna"})[0]["bits"], "0x3");
  const auto a = run_fpscope({"convert", "3.14", "1.1", "--to", "e4m3", "--rounding", "sr:8", "--seed", "5"});
  const auto b = run_fpscope({"convert", "3.14", "1.1", "--to", "e4m3", "--rounding", "sr:8", "--seed", "5"});
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);  // the same seed gives the same bits
}

TEST(cli_convert, stochastic_rounding_picks_a_neighbour) {
  // 3.14 in e4m3 lies between 3.0 (0x44) and 3.25 (0x45); over 40 seeds both appear.
  bool saw_down = false, saw_up = false;
  for (int seed = 0; seed < 40; ++seed) {
    const auto j = convert_json({"3.14", "--to", "e4m3", "--rounding", "sr", "--seed", std::to_string(seed)});
    const std::string bits = j[0]["bits"];
    EXPECT_TRUE(bits == "0x44" || bits == "0x45") << bits;
    saw_down = saw_down || bits == "0x44";
    saw_up = saw_up || bits == "0x45";
  }
  EXPECT_TRUE(saw_down && saw_up);
}

void expect_usage_error(const std::vector<std::string>& args, const std::string& expected) {
  const auto r = run_fpscope(args);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  const auto lines = lines_of(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_TRUE(lines[0].starts_with("fpscope: ")) << lines[0];
  EXPECT_NE(lines[0].find(expected), std::string::npos) << lines[0];
  EXPECT_EQ(r.out, "");
}

TEST(cli_convert, bad_arguments) {
  expect_usage_error({"convert", "1", "--to", "fp17"},
                     "format 'fp17': unknown format; expected a preset (fp64, fp32, tf32, bf16, fp16, e5m2, e4m3,");
  expect_usage_error({"convert", "abc", "--to", "fp16"}, "value 'abc': not a number");
  expect_usage_error({"convert", "1.5x", "--to", "fp16"}, "value '1.5x': not a number");
  expect_usage_error({"convert", "1", "--to", "fp16", "--rouding", "rtz"}, "convert: unknown option '--rouding'");
  expect_usage_error({"convert", "--to", "fp16"}, "convert: no VALUE given");
  expect_usage_error({"convert", "1", "--to", "fp16", "--rounding", "up"},
                     "rounding mode 'up': unknown; valid modes: rne, rna, rtz, rup, rdn, rto, sr, sr:N");
}

TEST(cli_convert, help_has_examples) {
  const auto r = run_fpscope({"convert", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Examples:"), std::string::npos);
  EXPECT_NE(r.out.find("fpscope convert 3.14 --to fp16,bf16,e4m3,e5m2"), std::string::npos);
}

}  // namespace
