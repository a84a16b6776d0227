// tests/analysis/test_npy.cpp: the .npy header parser, its error messages, the streaming reader and the writer.
#include "analysis/npy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/error.h"
#include "tests/temp_dir_test.h"

namespace fs = std::filesystem;
using fpscope::DType;

namespace {

const std::string kPath = "t.npy";

// A .npy file assembled by hand from the NEP 1 layout (not by the code under test):
// magic, version, little-endian header length, the dict text, then `data_bytes` zero bytes.
std::string npy_bytes(const std::string& dict, std::size_t data_bytes, int major = 1) {
  std::string s = "\x93NUMPY";
  s += static_cast<char>(major);
  s += '\0';
  const std::size_t n = dict.size();
  s += static_cast<char>(n & 0xFF);
  s += static_cast<char>((n >> 8) & 0xFF);
  if (major != 1) {
    s += static_cast<char>((n >> 16) & 0xFF);
    s += static_cast<char>((n >> 24) & 0xFF);
  }
  return s + dict + std::string(data_bytes, '\0');
}

std::string dict_for(const std::string& descr, const std::string& shape, const std::string& order = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + order + ", 'shape': " + shape + ", }\n";
}

fpscope::NpyHeader parse(const std::string& bytes, const fpscope::NpyReadOptions& options = {}) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  return fpscope::parse_npy_header(std::span(p, bytes.size()), bytes.size(), kPath, options);
}

// The parser must throw fpscope::Error, on one line, naming the file, containing `expected`.
void expect_error(const std::string& bytes, const std::string& expected) {
  try {
    parse(bytes);
    ADD_FAILURE() << "no error; expected: " << expected;
  } catch (const fpscope::Error& e) {
    const std::string what = e.what();
    EXPECT_TRUE(what.starts_with(kPath + ": ")) << what;
    EXPECT_NE(what.find(expected), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

TEST(npy_header, parses_what_numpy_writes) {
  // Bytes of np.save(f, np.zeros((2, 3), np.float32)), numpy 1.24, header padded to 128 bytes.
  const std::string numpy_header =
      std::string("\x93NUMPY\x01\x00v\x00", 10) + "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" +
      std::string(58, ' ') + "\n";
  ASSERT_EQ(numpy_header.size(), 128u);
  const auto h = parse(numpy_header + std::string(24, '\0'));
  EXPECT_EQ(h.dtype, DType::f32);
  EXPECT_EQ(h.descr, "<f4");
  EXPECT_FALSE(h.fortran_order);
  EXPECT_EQ(h.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(h.data_offset, 128u);
  EXPECT_EQ(h.element_count, 6u);
  EXPECT_EQ(h.data_bytes, 24u);
  EXPECT_EQ(h.major_version, 1);
}

TEST(npy_header, writer_matches_numpy_byte_for_byte) {
  const std::string numpy_header =
      std::string("\x93NUMPY\x01\x00v\x00", 10) + "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" +
      std::string(58, ' ') + "\n";
  const std::vector<std::int64_t> shape{2, 3};
  EXPECT_EQ(fpscope::npy_header_bytes(DType::f32, shape), numpy_header);
  // np.save of np.zeros((), np.float64) and np.zeros((5,), np.uint8).
  EXPECT_EQ(fpscope::npy_header_bytes(DType::f64, {}),
            std::string("\x93NUMPY\x01\x00v\x00", 10) + "{'descr': '<f8', 'fortran_order': False, 'shape': (), }" +
                std::string(62, ' ') + "\n");
  const std::vector<std::int64_t> five{5};
  EXPECT_EQ(fpscope::npy_header_bytes(DType::u8, five),
            std::string("\x93NUMPY\x01\x00v\x00", 10) + "{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }" +
                std::string(60, ' ') + "\n");
}

TEST(npy_header, every_supported_descr) {
  const std::pair<const char*, DType> cases[] = {
      {"<f8", DType::f64}, {"<f4", DType::f32}, {"<f2", DType::f16}, {"|u1", DType::u8},
      {"<u2", DType::u16}, {"<u4", DType::u32}, {"<u8", DType::u64}, {"|i1", DType::i8},
      {"<i2", DType::i16}, {"<i4", DType::i32}, {"<i8", DType::i64}, {"|b1", DType::boolean},
      {"=f4", DType::f32}, {"<u1", DType::u8},
  };
  for (const auto& [descr, dtype] : cases) {
    const auto h = parse(npy_bytes(dict_for(descr, "(3,)"), 3 * fpscope::dtype_size(dtype)));
    EXPECT_EQ(h.dtype, dtype) << descr;
    EXPECT_EQ(h.element_count, 3u);
  }
}

TEST(npy_header, shapes) {
  EXPECT_EQ(parse(npy_bytes(dict_for("<f4", "()"), 4)).element_count, 1u);  // a scalar
  EXPECT_EQ(parse(npy_bytes(dict_for("<f4", "(0,)"), 0)).element_count, 0u);
  EXPECT_EQ(parse(npy_bytes(dict_for("<f4", "(0, 7)"), 0)).shape, (std::vector<std::int64_t>{0, 7}));
  EXPECT_EQ(parse(npy_bytes(dict_for("<f8", "(2,3,4)"), 192)).element_count, 24u);
  EXPECT_EQ(parse(npy_bytes(dict_for("<f8", "(2L, 3L)"), 48)).element_count, 6u);  // Python 2 longs
  // Key order, double quotes and no trailing comma are all valid Python.
  EXPECT_EQ(parse(npy_bytes("{\"shape\": (4,), \"fortran_order\": False, \"descr\": \"<f2\"}", 8)).element_count, 4u);
}

TEST(npy_header, versions_2_and_3_have_a_four_byte_length) {
  const auto h = parse(npy_bytes(dict_for("<f4", "(2,)"), 8, 2));
  EXPECT_EQ(h.major_version, 2);
  EXPECT_EQ(h.data_offset, 12 + dict_for("<f4", "(2,)").size());
  EXPECT_EQ(parse(npy_bytes(dict_for("<f4", "(2,)"), 8, 3)).element_count, 2u);
}

TEST(npy_header, bad_magic_and_short_files) {
  expect_error("", "not a .npy file");
  expect_error("\x93NUMP", "not a .npy file");
  expect_error("PK\x03\x04 this is a zip", "not a .npy file");
  expect_error(std::string("\x93NUMPY\x01\x00", 8), "truncated .npy header");
  expect_error(std::string("\x93NUMPY\x01\x00\x10", 9), "truncated .npy header");
}

TEST(npy_header, unknown_version) {
  std::string b = npy_bytes(dict_for("<f4", "(1,)"), 4);
  b[6] = 4;
  expect_error(b, "unsupported .npy format version 4.0");
  b[6] = 1;
  b[7] = 1;
  expect_error(b, "unsupported .npy format version 1.1");
}

TEST(npy_header, lying_and_huge_header_lengths) {
  std::string b = npy_bytes(dict_for("<f4", "(1,)"), 4);
  b[8] = '\xFF';
  b[9] = '\x7F';  // 32767: more than the file holds
  expect_error(b, "header length 32767 runs past the end of the file");
  std::string v2 = npy_bytes(dict_for("<f4", "(1,)"), 4, 2);
  v2[8] = v2[9] = v2[10] = v2[11] = '\xFF';  // 4 GiB header: refused before allocating
  expect_error(v2, "header length 4294967295 bytes exceeds the limit of 65536");
  // A length too short cuts the dict.
  std::string short_len = npy_bytes(dict_for("<f4", "(1,)"), 4);
  short_len[8] = 20;
  expect_error(short_len, "malformed .npy header");
}

TEST(npy_header, malformed_dicts) {
  expect_error(npy_bytes("['descr', '<f4']\n", 0), "malformed .npy header: expected '{'");
  expect_error(npy_bytes("{'descr': '<f4', 'shape': (1,), }\n", 4), "the key 'fortran_order' is missing");
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False}\n", 4), "the key 'shape' is missing");
  expect_error(npy_bytes("{'fortran_order': False, 'shape': (1,)}\n", 4), "the key 'descr' is missing");
  expect_error(npy_bytes("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 4),
               "the key 'descr' appears twice");
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", 4),
               "unexpected key 'extra'");
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", 4),
               "'fortran_order' must be True or False");
  expect_error(npy_bytes("{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", 4), "malformed .npy header");
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk", 4),
               "unexpected text after the dictionary: 'junk'");
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': [1]}", 4), "expected '('");
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, x)}", 4),
               "expected a dimension in 'shape'");
  expect_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,", 4), "malformed .npy header");
  expect_error(npy_bytes(std::string("{'descr': '<f4'\0\x01, 'fortran_order': False, 'shape': (1,)}", 56), 4),
               "expected ',' or '}'");
}

TEST(npy_header, unsupported_dtypes) {
  expect_error(npy_bytes(dict_for(">f4", "(1,)"), 4), "dtype '>f4' is big-endian; only little-endian data is supported");
  expect_error(npy_bytes(dict_for("|O", "(1,)"), 8), "dtype '|O' holds Python objects");
  expect_error(npy_bytes(dict_for("<c8", "(1,)"), 8), "unsupported dtype '<c8'; supported: <f8 <f4 <f2");
  expect_error(npy_bytes(dict_for("<U5", "(1,)"), 20), "unsupported dtype '<U5'");
  expect_error(npy_bytes(dict_for("|V2", "(1,)"), 2), "unsupported dtype '|V2'");
  expect_error(npy_bytes(dict_for("|f4", "(1,)"), 4), "dtype '|f4' has no byte order");
  expect_error(npy_bytes(dict_for("", "(1,)"), 4), "unsupported dtype ''");
  expect_error(npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", 4),
               "structured dtypes (a list descr) are not supported");
}

TEST(npy_header, fortran_order_is_refused_unless_allowed) {
  const std::string b = npy_bytes(dict_for("<f4", "(2, 3)", "True"), 24);
  expect_error(b, "Fortran-order arrays are not supported");
  fpscope::NpyReadOptions allow;
  allow.allow_fortran_order = true;
  EXPECT_TRUE(parse(b, allow).fortran_order);
}

TEST(npy_header, shape_and_size_mismatches) {
  expect_error(npy_bytes(dict_for("<f4", "(2, 3)"), 20),
               "truncated data: shape (2, 3) of <f4 needs 24 bytes after the header, the file has 20");
  expect_error(npy_bytes(dict_for("<f4", "(2, 3)"), 28), "4 unexpected bytes after the data");
  expect_error(npy_bytes(dict_for("<f4", "(-1,)"), 4), "negative dimension in shape");
  expect_error(npy_bytes(dict_for("<f4", "(99999999999999999999,)"), 4), "dimension in shape is too large");
  expect_error(npy_bytes(dict_for("<f8", "(4294967296, 4294967296)"), 8), "is too large (its byte size overflows 64 bits)");
  expect_error(npy_bytes(dict_for("<f8", "(2305843009213693952,)"), 8), "overflows 64 bits");  // 2^61 * 8 bytes = 2^64
  std::string many = "(";
  for (int i = 0; i < 65; ++i) many += "1, ";
  expect_error(npy_bytes(dict_for("<f4", many + ")"), 4), "more than 64 dimensions");
}

class NpyFileTest : public fpscope::test::TempDirTest {
 protected:
  std::string write_bytes(const std::string& name, const std::string& bytes) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  template <class T>
  std::string write_array(const std::string& name, DType dtype, const std::vector<std::int64_t>& shape,
                          const std::vector<T>& values) {
    const std::string p = (dir_ / name).string();
    fpscope::write_npy(p, dtype, shape, std::as_bytes(std::span(values)));
    return p;
  }
};

TEST_F(NpyFileTest, write_then_read_float32_across_chunk_boundaries) {
  // 50000 floats = 200 kB: several 64 kB read chunks.
  std::vector<float> values(50000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * 0.25f - 1000.0f;
  const std::string p = write_array("a.npy", DType::f32, {250, 200}, values);
  const auto h = fpscope::read_npy_header(p);
  EXPECT_EQ(h.data_offset % 64, 0u);
  EXPECT_EQ(fs::file_size(p), h.data_offset + 200000);
  fpscope::NpyReader r(p);
  EXPECT_EQ(r.info().file, p);
  EXPECT_EQ(r.info().name, "");
  EXPECT_EQ(r.info().shape, (std::vector<std::int64_t>{250, 200}));
  EXPECT_EQ(r.info().element_count(), 50000u);
  std::vector<float> f(values.size());
  r.read(0, f);
  EXPECT_EQ(f, values);
  std::vector<double> d(30000);
  r.read(17000, d);
  for (std::size_t i = 0; i < d.size(); ++i) ASSERT_EQ(d[i], static_cast<double>(values[17000 + i])) << i;
}

TEST_F(NpyFileTest, float16_decodes_exactly) {
  // IEEE 754 binary16 encodings: 1.0, -2.0, the smallest subnormal 2^-24, 65504, inf, NaN.
  const std::vector<std::uint16_t> bits{0x3C00, 0xC000, 0x0001, 0x7BFF, 0x7C00, 0x7E00};
  const std::string p = (dir_ / "h.npy").string();
  write_bytes("h.npy", npy_bytes(dict_for("<f2", "(6,)"), 0) +
                           std::string(reinterpret_cast<const char*>(bits.data()), 12));
  fpscope::NpyReader r(p);
  std::vector<double> d(6);
  r.read(0, d);
  EXPECT_EQ(d[0], 1.0);
  EXPECT_EQ(d[1], -2.0);
  EXPECT_EQ(d[2], std::ldexp(1.0, -24));
  EXPECT_EQ(d[3], 65504.0);
  EXPECT_EQ(d[4], std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(d[5]));
  std::vector<float> f(2);
  r.read(1, f);
  EXPECT_EQ(f[0], -2.0f);
  EXPECT_EQ(f[1], std::ldexp(1.0f, -24));
}

TEST_F(NpyFileTest, integers_and_bools) {
  const std::string pi = write_array("i.npy", DType::i16, {3}, std::vector<std::int16_t>{-32768, 0, 32767});
  std::vector<double> d(3);
  fpscope::NpyReader(pi).read(0, d);
  EXPECT_EQ(d, (std::vector<double>{-32768, 0, 32767}));
  const std::string pu = write_array("u.npy", DType::u64, {2}, std::vector<std::uint64_t>{1, 1ull << 60});
  std::vector<double> u(2);
  fpscope::NpyReader(pu).read(0, u);
  EXPECT_EQ(u[1], std::ldexp(1.0, 60));
  const std::string pb = write_array("b.npy", DType::boolean, {3}, std::vector<std::uint8_t>{0, 1, 0});
  std::vector<float> b(3);
  fpscope::NpyReader(pb).read(0, b);
  EXPECT_EQ(b, (std::vector<float>{0, 1, 0}));
}

TEST_F(NpyFileTest, float_read_of_wide_dtypes_is_refused) {
  const std::string p = write_array("d.npy", DType::f64, {2}, std::vector<double>{0.1, 0.2});
  fpscope::NpyReader r(p);
  std::vector<float> f(2);
  try {
    r.read(0, f);
    FAIL();
  } catch (const fpscope::Error& e) {
    EXPECT_EQ(std::string(e.what()), p + ": dtype <f8 cannot be read as float32 exactly");
  }
  std::vector<double> d(2);
  r.read(0, d);
  EXPECT_EQ(d, (std::vector<double>{0.1, 0.2}));
}

TEST_F(NpyFileTest, reads_outside_the_array_are_refused) {
  const std::string p = write_array("a.npy", DType::f32, {4}, std::vector<float>{1, 2, 3, 4});
  fpscope::NpyReader r(p);
  std::vector<double> d(3);
  try {
    r.read(2, d);
    FAIL();
  } catch (const fpscope::Error& e) {
    EXPECT_EQ(std::string(e.what()), p + ": read of elements [2, 5) is outside the array's 4 elements");
  }
}

TEST_F(NpyFileTest, file_errors_name_the_file) {
  const std::string missing = (dir_ / "missing.npy").string();
  try {
    fpscope::read_npy_header(missing);
    FAIL();
  } catch (const fpscope::Error& e) {
    EXPECT_EQ(std::string(e.what()), missing + ": cannot open: No such file or directory");
  }
  try {
    fpscope::open_npy(dir_.string());
    FAIL();
  } catch (const fpscope::Error& e) {
    EXPECT_EQ(std::string(e.what()), dir_.string() + ": is a directory, not a .npy file");
  }
  const std::string truncated = write_bytes("t.npy", npy_bytes(dict_for("<f4", "(4,)"), 15));
  EXPECT_THROW(fpscope::NpyReader{truncated}, fpscope::Error);
}

TEST_F(NpyFileTest, writer_refuses_dtypes_numpy_cannot_name) {
  try {
    fpscope::npy_descr(DType::bf16);
    FAIL();
  } catch (const fpscope::Error& e) {
    EXPECT_EQ(std::string(e.what()), "dtype BF16 has no standard NumPy .npy descr");
  }
}

}  // namespace
