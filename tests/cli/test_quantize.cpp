// tests/cli/test_quantize.cpp: `fpscope quantize`: values and encodings match core quantize()/encode(); bad input exits 2 cleanly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "analysis/npy.h"
#include "core/format.h"
#include "core/random.h"
#include "core/round.h"
#include "tests/cli/run_fpscope.h"
#include "tests/temp_dir_test.h"

namespace fs = std::filesystem;
using fpscope::DType;
using fpscope::test::lines_of;
using fpscope::test::read_whole_file;
using fpscope::test::run_fpscope;

namespace {

class CliQuantize : public fpscope::test::TempDirTest {
 protected:
  // Values spanning the interesting ranges: normal, subnormal for the narrow formats,
  // beyond their maxima, ties, signed zeros, inf and NaN.
  template <class Float>
  std::vector<Float> sample(std::size_t n, unsigned seed) const {
    std::mt19937_64 gen(seed);
    std::uniform_real_distribution<double> exponent(-30.0, 30.0);
    std::vector<Float> v(n);
    for (std::size_t i = 0; i < n; ++i) {
      const double sign = (gen() & 1) ? -1.0 : 1.0;
      v[i] = static_cast<Float>(sign * std::exp2(exponent(gen)));
    }
    const Float specials[] = {0.0f, -0.0f, 1.25f, 448.0f, 464.0f, 1e30f, INFINITY, -INFINITY, NAN, 6.0f, 7.0f};
    for (std::size_t i = 0; i < std::size(specials) && i < n; ++i) v[i] = specials[i];
    return v;
  }

  template <class T>
  std::string write(const std::string& name, DType dtype, std::vector<std::int64_t> shape, const std::vector<T>& v) {
    fpscope::write_npy(path(name), dtype, shape, std::as_bytes(std::span(v)));
    return path(name);
  }

  template <class T>
  std::vector<T> read_back(const std::string& p, DType expected_dtype, std::vector<std::int64_t> expected_shape) {
    const fpscope::NpyHeader h = fpscope::read_npy_header(p);
    EXPECT_EQ(h.dtype, expected_dtype) << h.descr;
    EXPECT_EQ(h.shape, expected_shape);
    std::vector<T> v(h.element_count);
    fpscope::NpyReader r(p);
    r.read_raw(0, std::as_writable_bytes(std::span(v)));
    return v;
  }

};

template <class Float>
bool same_value(Float a, Float b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0;
}

TEST_F(CliQuantize, float32_values_match_core_quantize) {
  const auto in = sample<float>(3000, 1);
  const std::string src = write("in.npy", DType::f32, {30, 10, 10}, in);
  for (const char* format : {"e4m3", "e5m2", "bf16", "fp16", "e2m1", "e8m0", "e5m7", "fp32", "fp64", "e6m26"}) {
    for (const char* rounding : {"rne", "rtz", "sr:13"}) {
      const std::string out = path("out.npy");
      const auto r = run_fpscope({"quantize", src, out, "--format", format, "--rounding", rounding, "--seed", "9"});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      const auto q = read_back<float>(out, DType::f32, {30, 10, 10});
      const fpscope::Format f = fpscope::parse_format(format);
      const fpscope::Rounding mode = std::string(rounding) == "rne"   ? fpscope::Rounding{fpscope::Mode::rne}
                                     : std::string(rounding) == "rtz" ? fpscope::Rounding{fpscope::Mode::rtz}
                                                                      : fpscope::Rounding{fpscope::Mode::sr, 13};
      for (std::size_t i = 0; i < in.size(); ++i) {
        const float expected = static_cast<float>(fpscope::quantize(in[i], f, mode, fpscope::sr_random_bits(9, i)));
        ASSERT_TRUE(same_value(q[i], expected)) << format << " " << rounding << " element " << i << ": " << in[i]
                                                << " -> " << q[i] << ", expected " << expected;
      }
    }
  }
}

TEST_F(CliQuantize, float64_bits_match_core_encode_in_the_narrowest_dtype) {
  const auto in = sample<double>(500, 2);
  const std::string src = write("in.npy", DType::f64, {500}, in);
  const std::string out = path("bits.npy");
  ASSERT_EQ(run_fpscope({"quantize", src, out, "--format", "bf16", "--emit", "bits"}).exit_code, 0);
  const auto bf = read_back<std::uint16_t>(out, DType::u16, {500});
  const fpscope::Format bf16 = fpscope::parse_format("bf16");
  for (std::size_t i = 0; i < in.size(); ++i) ASSERT_EQ(bf[i], fpscope::encode(in[i], bf16, {}).bits) << i;

  ASSERT_EQ(run_fpscope({"quantize", src, out, "--format", "e2m1", "--emit", "bits"}).exit_code, 0);
  const auto fp4 = read_back<std::uint8_t>(out, DType::u8, {500});
  const fpscope::Format e2m1 = fpscope::parse_format("e2m1");
  for (std::size_t i = 0; i < in.size(); ++i) ASSERT_EQ(fp4[i], fpscope::encode(in[i], e2m1, {}).bits) << i;

  ASSERT_EQ(run_fpscope({"quantize", src, out, "--format", "fp32", "--emit", "bits"}).exit_code, 0);
  const auto f32 = read_back<std::uint32_t>(out, DType::u32, {500});
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (std::isnan(in[i])) continue;
    const float narrowed = static_cast<float>(in[i]);  // the hardware's RNE conversion
    ASSERT_EQ(f32[i], std::bit_cast<std::uint32_t>(narrowed)) << i;
  }

  ASSERT_EQ(run_fpscope({"quantize", src, out, "--format", "fp64", "--emit", "bits"}).exit_code, 0);
  const auto f64 = read_back<std::uint64_t>(out, DType::u64, {500});
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (!std::isnan(in[i])) {
      ASSERT_EQ(f64[i], std::bit_cast<std::uint64_t>(in[i])) << i;
    }
  }
}

TEST_F(CliQuantize, results_do_not_depend_on_threads_or_chunks) {
  // More than one 2^20-element chunk, so the SR index offset of the second chunk is exercised.
  const std::size_t n = (std::size_t{1} << 20) + 777;
  const auto in = sample<float>(n, 3);
  const std::string src = write("big.npy", DType::f32, {static_cast<std::int64_t>(n)}, in);
  const auto one = run_fpscope({"quantize", src, path("t1.npy"), "--format", "e4m3", "--rounding", "sr", "--seed", "4"});
  const auto two = run_fpscope(
      {"quantize", src, path("t2.npy"), "--format", "e4m3", "--rounding", "sr", "--seed", "4", "--threads", "2"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(read_whole_file(path("t1.npy")), read_whole_file(path("t2.npy")));
  const auto q = read_back<float>(path("t1.npy"), DType::f32, {static_cast<std::int64_t>(n)});
  const fpscope::Format e4m3 = fpscope::parse_format("e4m3");
  for (std::size_t i = n - 2000; i < n; ++i) {  // the tail lies in the second chunk
    const auto expected = static_cast<float>(
        fpscope::quantize(in[i], e4m3, fpscope::Rounding{fpscope::Mode::sr}, fpscope::sr_random_bits(4, i)));
    ASSERT_TRUE(same_value(q[i], expected)) << i;
  }
}

TEST_F(CliQuantize, empty_and_scalar_arrays) {
  const std::string empty = write("e.npy", DType::f32, {0, 3}, std::vector<float>{});
  ASSERT_EQ(run_fpscope({"quantize", empty, path("eo.npy"), "--format", "fp16"}).exit_code, 0);
  EXPECT_EQ(read_back<float>(path("eo.npy"), DType::f32, {0, 3}).size(), 0u);
  const std::string scalar = write("s.npy", DType::f64, {}, std::vector<double>{3.14});
  ASSERT_EQ(run_fpscope({"quantize", scalar, path("so.npy"), "--format", "fp16"}).exit_code, 0);
  EXPECT_EQ(read_back<double>(path("so.npy"), DType::f64, {}), std::vector<double>{3.140625});
}

// The bytes of a .npy file built by hand (NEP 1 layout) for the bad-input cases.
std::string npy_bytes(const std::string& dict, std::size_t data_bytes) {
  std::string s = "\x93NUMPY\x01";
  s += '\0';
  s += static_cast<char>(dict.size() & 0xFF);
  s += static_cast<char>(dict.size() >> 8);
  return s + dict + std::string(data_bytes, '\0');
}

std::string dict_for(const std::string& descr, const std::string& shape, const std::string& order = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + order + ", 'shape': " + shape + ", }\n";
}

TEST_F(CliQuantize, bad_inputs_exit_2_with_one_line_and_no_output) {
  struct Case {
    std::string name;
    std::string bytes;
    std::string message;  // after "fpscope: <file>: "
  };
  std::string huge = npy_bytes(dict_for("<f4", "(1,)"), 4);
  huge[6] = 2;  // version 2.0: a 4-byte length; 0xFFFFFFFF claims a 4 GiB header
  huge.insert(10, "\xFF\xFF");
  huge[8] = huge[9] = '\xFF';
  std::string lying = npy_bytes(dict_for("<f4", "(1,)"), 4);
  lying[8] = '\x00';
  lying[9] = '\x10';  // 4096 bytes of header in a 70-byte file
  const std::vector<Case> cases{
      {"magic.npy", "not a numpy file at all", "not a .npy file (the file does not start with \\x93NUMPY)"},
      {"empty.npy", "", "not a .npy file"},
      {"truncated.npy", npy_bytes(dict_for("<f4", "(2, 3)"), 20),
       "truncated data: shape (2, 3) of <f4 needs 24 bytes after the header, the file has 20"},
      {"lying.npy", lying, "header length 4096 runs past the end of the file"},
      {"huge.npy", huge, "header length 4294967295 bytes exceeds the limit of 65536"},
      {"fortran.npy", npy_bytes(dict_for("<f4", "(2, 3)", "True"), 24), "Fortran-order arrays are not supported"},
      {"bigendian.npy", npy_bytes(dict_for(">f8", "(2,)"), 16), "dtype '>f8' is big-endian"},
      {"int.npy", npy_bytes(dict_for("<i4", "(2,)"), 8),
       "dtype <i4 cannot be quantized; expected float32 (<f4) or float64 (<f8)"},
      {"half.npy", npy_bytes(dict_for("<f2", "(2,)"), 4), "dtype <f2 cannot be quantized"},
      {"object.npy", npy_bytes(dict_for("|O", "(2,)"), 16), "dtype '|O' holds Python objects"},
      {"malformed.npy", npy_bytes("{'descr': '<f4', 'shape': (2,)}\n", 8), "the key 'fortran_order' is missing"},
  };
  for (const Case& c : cases) {
    const std::string in = path(c.name);
    std::ofstream(in, std::ios::binary) << c.bytes;
    const std::string out = path("out_" + c.name);
    const auto r = run_fpscope({"quantize", in, out, "--format", "e4m3"});
    EXPECT_EQ(r.exit_code, 2) << c.name;
    const auto lines = lines_of(r.err);
    ASSERT_EQ(lines.size(), 1u) << c.name << ": " << r.err;
    EXPECT_TRUE(lines[0].starts_with("fpscope: " + in + ": ")) << lines[0];
    EXPECT_NE(lines[0].find(c.message), std::string::npos) << lines[0];
    EXPECT_EQ(r.out, "") << c.name;
    EXPECT_FALSE(fs::exists(out)) << c.name;
  }
  // Only the inputs remain: no output and no temp file was left behind.
  EXPECT_EQ(static_cast<std::size_t>(std::distance(fs::directory_iterator(dir_), fs::directory_iterator())),
            cases.size());
}

TEST_F(CliQuantize, bad_arguments_leave_an_existing_output_untouched) {
  const std::string src = write("in.npy", DType::f32, {2}, std::vector<float>{1.0f, 2.0f});
  const std::string out = path("out.npy");
  std::ofstream(out) << "previous contents";
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases{
      {{"quantize", src, out, "--format", "e4m4x"}, "fpscope: format 'e4m4x': "},
      {{"quantize", src, out, "--format", "e4m3", "--rounding", "sr:40"},
       "fpscope: rounding mode 'sr:40': the number of random bits must be an integer from 1 to 32"},
      {{"quantize", path("missing.npy"), out, "--format", "e4m3"},
       "fpscope: " + path("missing.npy") + ": cannot open: No such file or directory"},
      {{"quantize", dir_.string(), out, "--format", "e4m3"}, "fpscope: " + dir_.string() + ": is a directory"},
  };
  for (const Case& c : cases) {
    const auto r = run_fpscope(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.message;
    const auto lines = lines_of(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_TRUE(lines[0].starts_with(c.message)) << lines[0];
    EXPECT_EQ(read_whole_file(out), "previous contents");
  }
  // An output directory that does not exist names the output.
  const std::string nowhere = path("no_dir/out.npy");
  const auto r = run_fpscope({"quantize", src, nowhere, "--format", "e4m3"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "fpscope: " + nowhere + ": cannot create the output file: No such file or directory\n");
  // CLI11 rejects an unknown --emit before anything runs.
  EXPECT_EQ(run_fpscope({"quantize", src, path("x.npy"), "--format", "e4m3", "--emit", "words"}).exit_code, 2);
  EXPECT_FALSE(fs::exists(path("x.npy")));
  EXPECT_EQ(static_cast<std::size_t>(std::distance(fs::directory_iterator(dir_), fs::directory_iterator())), 2u);
}

TEST_F(CliQuantize, help_has_examples) {
  const auto r = run_fpscope({"quantize", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Examples:"), std::string::npos);
  EXPECT_NE(r.out.find("--emit bits"), std::string::npos);
}

}  // namespace
