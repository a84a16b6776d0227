// tests/analysis/test_safetensors.cpp: the safetensors reader: every bad-input message, bit-exact dtypes, chunked reads, the bundled dump.
#include "analysis/safetensors.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "analysis/metadata.h"
#include "core/error.h"
#include "core/format.h"
#include "core/round.h"

namespace fpscope {
namespace {

namespace fs = std::filesystem;

// The bytes of a safetensors file: 8-byte little-endian length, header, data.
std::vector<std::byte> file_bytes(std::string_view header, std::string_view data = {}) {
  std::vector<std::byte> out;
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i, n >>= 8) out.push_back(static_cast<std::byte>(n & 0xFF));
  for (const char c : header) out.push_back(static_cast<std::byte>(c));
  for (const char c : data) out.push_back(static_cast<std::byte>(c));
  return out;
}

std::vector<std::byte> raw_length_then(std::uint64_t n, std::string_view rest) {
  std::vector<std::byte> out;
  for (int i = 0; i < 8; ++i, n >>= 8) out.push_back(static_cast<std::byte>(n & 0xFF));
  for (const char c : rest) out.push_back(static_cast<std::byte>(c));
  return out;
}

std::vector<DatasetEntry> open_bytes(std::vector<std::byte> bytes, std::string name = "t.safetensors") {
  return open_safetensors(memory_source(std::move(name), std::move(bytes)));
}

// Every error message of the entries, in order.
std::vector<std::string> messages(const std::vector<DatasetEntry>& entries) {
  std::vector<std::string> out;
  for (const DatasetEntry& e : entries) {
    if (e.error) out.push_back(e.error->message);
  }
  return out;
}

std::vector<std::string> reader_names(const std::vector<DatasetEntry>& entries) {
  std::vector<std::string> out;
  for (const DatasetEntry& e : entries) {
    if (e.reader) out.push_back(e.reader->info().name);
  }
  return out;
}

// The one message a header with a single entry `entry` (data section `data_bytes` long) gives.
std::string entry_message(std::string_view entry, std::size_t data_bytes = 24) {
  const auto entries = open_bytes(file_bytes("{\"x\":" + std::string(entry) + "}", std::string(data_bytes, '\0')));
  const auto all = messages(entries);
  EXPECT_EQ(all.size(), 1u) << entry;
  EXPECT_TRUE(reader_names(entries).empty()) << entry;
  return all.empty() ? std::string() : all[0];
}

TEST(safetensors_header, file_too_short) {
  EXPECT_EQ(messages(open_bytes({std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}, std::byte{5}})),
            std::vector<std::string>{"t.safetensors: file is 5 bytes, too short for the 8-byte header length"});
}

TEST(safetensors_header, header_length_larger_than_file) {
  EXPECT_EQ(messages(open_bytes(raw_length_then(500, "{}"))),
            std::vector<std::string>{
                "t.safetensors: header length 500 exceeds the 2 bytes after the 8-byte length (truncated file?)"});
}

TEST(safetensors_header, header_length_absurd) {
  const std::vector<std::string> expected{
      "t.safetensors: header length 1099511627776 exceeds the 100000000-byte limit (a corrupt file, or not a "
      "safetensors file)"};
  EXPECT_EQ(messages(open_bytes(raw_length_then(std::uint64_t{1} << 40, "{}"))), expected);
  EXPECT_EQ(messages(open_bytes(raw_length_then(~std::uint64_t{0}, "{}"))).size(), 1u);
}

TEST(safetensors_header, malformed_json) {
  const auto all = messages(open_bytes(file_bytes("{\"x\": {\"dtype\": ")));
  EXPECT_EQ(all, std::vector<std::string>{
                     "t.safetensors: header is not valid JSON: parse error at line 1, column 17: syntax error while "
                     "parsing value - unexpected end of input; expected '[', '{', or a literal"});
  // Nothing at all, trailing garbage, invalid UTF-8 (escaped in the message).
  EXPECT_EQ(messages(open_bytes(file_bytes(""))).size(), 1u);
  EXPECT_EQ(messages(open_bytes(file_bytes("{} x"))).size(), 1u);
  const auto utf8 = messages(open_bytes(file_bytes("{\"\xff\":1}")));
  ASSERT_EQ(utf8.size(), 1u);
  EXPECT_NE(utf8[0].find("\\xff"), std::string::npos) << utf8[0];
}

TEST(safetensors_header, not_an_object) {
  EXPECT_EQ(messages(open_bytes(file_bytes("[1, 2]"))),
            std::vector<std::string>{"t.safetensors: header is a JSON array, expected an object"});
  EXPECT_EQ(messages(open_bytes(file_bytes("\"x\""))),
            std::vector<std::string>{"t.safetensors: header is a JSON string, expected an object"});
}

TEST(safetensors_header, deep_nesting_is_parsed_without_recursion) {
  // 1 MB of '[' inside an ignored key: the SAX parser keeps one byte per level.
  const std::string deep = "{\"__other\": {\"k\": " + std::string(1'000'000, '[') + std::string(1'000'000, ']') + "}}";
  const auto entries = open_bytes(file_bytes(deep));
  // "__other" is an entry (any name but __metadata__ is a tensor), and not a valid one.
  EXPECT_EQ(messages(entries),
            std::vector<std::string>{"t.safetensors: tensor '__other': entry has no 'dtype'"});
  EXPECT_EQ(messages(open_bytes(file_bytes(std::string(1'000'000, '[')))).size(), 1u);
}

TEST(safetensors_header, empty_header_has_no_tensors) {
  EXPECT_TRUE(open_bytes(file_bytes("{}")).empty());
  EXPECT_TRUE(open_bytes(file_bytes("{\"__metadata__\": {}}     ")).empty());
}

TEST(safetensors_entry, not_an_object) {
  EXPECT_EQ(entry_message("5"),
            "t.safetensors: tensor 'x': entry is a JSON number, expected an object with dtype, shape and data_offsets");
  EXPECT_EQ(entry_message("[1]"),
            "t.safetensors: tensor 'x': entry is a JSON array, expected an object with dtype, shape and data_offsets");
}

TEST(safetensors_entry, missing_and_ill_typed_fields) {
  EXPECT_EQ(entry_message(R"({"shape":[1],"data_offsets":[0,4]})"), "t.safetensors: tensor 'x': entry has no 'dtype'");
  EXPECT_EQ(entry_message(R"({"dtype":"F32","data_offsets":[0,4]})"), "t.safetensors: tensor 'x': entry has no 'shape'");
  EXPECT_EQ(entry_message(R"({"dtype":"F32","shape":[1]})"), "t.safetensors: tensor 'x': entry has no 'data_offsets'");
  EXPECT_EQ(entry_message(R"({"dtype":32,"shape":[1],"data_offsets":[0,4]})"),
            "t.safetensors: tensor 'x': dtype is a JSON number, expected a string");
  EXPECT_EQ(entry_message(R"({"dtype":"F32","shape":{"a":1},"data_offsets":[0,4]})"),
            "t.safetensors: tensor 'x': shape is a JSON object, expected an array of non-negative integers");
  EXPECT_EQ(entry_message(R"({"dtype":"F32","shape":[1],"data_offsets":"0-4"})"),
            "t.safetensors: tensor 'x': data_offsets is a JSON string, expected [begin, end]");
  EXPECT_EQ(entry_message(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4,8]})"),
            "t.safetensors: tensor 'x': data_offsets has 3 elements, expected [begin, end]");
  EXPECT_EQ(entry_message(R"({"dtype":"F32","shape":[1],"data_offsets":[-4,4]})"),
            "t.safetensors: tensor 'x': data_offsets element 0 is -4, expected a non-negative integer");
  EXPECT_EQ(entry_message(R"({"dtype":"F32","shape":[1],"data_offsets":[0,null]})"),
            "t.safetensors: tensor 'x': data_offsets element 1 is a JSON null, expected a non-negative integer");
  EXPECT_EQ(entry_message(R"({"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]})"),
            "t.safetensors: tensor 'x': key 'dtype' appears twice in its entry");
}

TEST(safetensors_entry, unknown_dtype) {
  EXPECT_EQ(entry_message(R"({"dtype":"F4","shape":[1],"data_offsets":[0,1]})"),
            "t.safetensors: tensor 'x': unknown dtype 'F4' (this reader knows F64, F32, F16, BF16, F8_E4M3, "
            "F8_E5M2, I64, I32, I16, I8, U64, U32, U16, U8, BOOL)");
}

TEST(safetensors_entry, bad_shapes) {
  EXPECT_EQ(entry_message(R"({"dtype":"F32","shape":[2,-3],"data_offsets":[0,4]})"),
            "t.safetensors: tensor 'x': shape [2, -3] has a negative dimension");
  EXPECT_EQ(entry_message(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})"),
            "t.safetensors: tensor 'x': shape element 0 is 1.5, expected a non-negative integer");
  EXPECT_EQ(entry_message(R"({"dtype":"F32","shape":[1,"2"],"data_offsets":[0,4]})"),
            "t.safetensors: tensor 'x': shape element 1 is a JSON string, expected a non-negative integer");
  // 2^32 * 2^31 elements of 4 bytes = 2^65 bytes.
  EXPECT_EQ(entry_message(R"({"dtype":"F32","shape":[4294967296,2147483648],"data_offsets":[0,4]})"),
            "t.safetensors: tensor 'x': shape [4294967296, 2147483648] of F32 overflows: more than 2^63 - 1 bytes");
  EXPECT_EQ(entry_message(R"({"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,4]})"),
            "t.safetensors: tensor 'x': shape [18446744073709551615] of U8 overflows: more than 2^63 - 1 bytes");
  // A number beyond u64 reads as a float in JSON.
  EXPECT_EQ(entry_message(R"({"dtype":"U8","shape":[99999999999999999999999],"data_offsets":[0,4]})"),
            "t.safetensors: tensor 'x': shape element 0 is 99999999999999999999999, expected a non-negative integer");
  std::string many = R"({"dtype":"F32","shape":[)";
  for (int i = 0; i < 2000; ++i) many += i ? ",1" : "1";
  EXPECT_EQ(entry_message(many + R"(],"data_offsets":[0,4]})"),
            "t.safetensors: tensor 'x': shape has 2000 dimensions, more than the 1024 this reader accepts");
}

TEST(safetensors_entry, offsets_outside_the_data) {
  // The brief's example: 500 float32 values claimed, 1234 bytes present.
  EXPECT_EQ(entry_message(R"({"dtype":"F32","shape":[500],"data_offsets":[0,2000]})", 1234),
            "t.safetensors: tensor 'x': data_offsets [0, 2000) exceed the 1234-byte data section");
  EXPECT_EQ(entry_message(R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})"),
            "t.safetensors: tensor 'x': data_offsets [8, 4) end before they begin");
  EXPECT_EQ(entry_message(R"({"dtype":"F32","shape":[1],"data_offsets":[18446744073709551615,18446744073709551615]})"),
            "t.safetensors: tensor 'x': data_offsets [18446744073709551615, 18446744073709551615) exceed the "
            "24-byte data section");
}

TEST(safetensors_entry, offsets_disagree_with_shape) {
  EXPECT_EQ(entry_message(R"({"dtype":"F32","shape":[2,3],"data_offsets":[0,12]})"),
            "t.safetensors: tensor 'x': data_offsets [0, 12) hold 12 bytes, but shape [2, 3] of F32 needs 24");
  EXPECT_EQ(entry_message(R"({"dtype":"BF16","shape":[],"data_offsets":[0,4]})"),
            "t.safetensors: tensor 'x': data_offsets [0, 4) hold 4 bytes, but shape [] of BF16 needs 2");
}

TEST(safetensors_entry, overlapping_tensors_are_both_refused_and_others_read) {
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},)"
      R"("c":{"dtype":"F32","shape":[3],"data_offsets":[12,24]},)"
      R"("d":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})";
  const auto entries = open_bytes(file_bytes(header, std::string(24, '\0')));
  EXPECT_EQ(messages(entries), (std::vector<std::string>{
                                   "t.safetensors: tensor 'a': data_offsets [0, 8) overlap tensor 'b' at [4, 12)",
                                   "t.safetensors: tensor 'b': data_offsets [4, 12) overlap tensor 'a' at [0, 8)",
                               }));
  // An empty tensor inside another's range overlaps nothing.
  EXPECT_EQ(reader_names(entries), (std::vector<std::string>{"c", "d"}));
  // Entries come in name order, each error at its tensor's place.
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(entries[0].error->tensor, "a");
  EXPECT_EQ(entries[1].error->tensor, "b");
}

TEST(safetensors_entry, duplicate_names_skip_every_copy) {
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
      R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
      R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
  const auto entries = open_bytes(file_bytes(header, std::string(12, '\0')));
  EXPECT_EQ(messages(entries),
            std::vector<std::string>{"t.safetensors: tensor 'a': appears 2 times in the header; every copy skipped"});
  EXPECT_EQ(reader_names(entries), std::vector<std::string>{"b"});
}

TEST(safetensors_entry, truncated_data_refuses_only_the_tensors_past_the_end) {
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})";
  const auto entries = open_bytes(file_bytes(header, std::string(20, '\0')));
  EXPECT_EQ(messages(entries),
            std::vector<std::string>{"t.safetensors: tensor 'b': data_offsets [8, 24) exceed the 20-byte data section"});
  EXPECT_EQ(reader_names(entries), std::vector<std::string>{"a"});
}

TEST(safetensors_entry, unknown_keys_are_ignored_and_names_escaped) {
  const std::string header =
      R"({"a\nb":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":{"x":[1,2]}},)"
      R"("c\td":{"dtype":"F9","shape":[1],"data_offsets":[0,4]}})";
  const auto entries = open_bytes(file_bytes(header, std::string(4, '\0')));
  EXPECT_EQ(reader_names(entries), std::vector<std::string>{"a\nb"});
  const auto all = messages(entries);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].rfind("t.safetensors: tensor 'c\\x09d': unknown dtype 'F9'", 0), 0u) << all[0];
}

TEST(safetensors_entry, zero_element_tensor_is_valid_and_empty) {
  const auto entries = open_bytes(file_bytes(R"({"e":{"dtype":"BF16","shape":[0,3],"data_offsets":[0,0]}})"));
  ASSERT_EQ(entries.size(), 1u);
  ASSERT_TRUE(entries[0].ok());
  const TensorInfo& info = entries[0].reader->info();
  EXPECT_EQ(info.element_count(), 0u);
  EXPECT_EQ(info.shape, (std::vector<std::int64_t>{0, 3}));
  std::vector<double> none;
  EXPECT_NO_THROW(entries[0].reader->read(0, std::span<double>(none)));
  std::vector<double> one(1);
  EXPECT_THROW(entries[0].reader->read(0, std::span<double>(one)), Error);
}

TEST(safetensors_metadata, bad_metadata_is_reported_and_tensors_still_read) {
  const std::string header =
      R"({"__metadata__":{"a":"1","b":2,"fpscope.tensor.w.weight":"{\"role\":\"bogus\"}"},)"
      R"("w.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  const auto entries = open_bytes(file_bytes(header, std::string(4, '\0')));
  EXPECT_EQ(messages(entries),
            (std::vector<std::string>{
                "t.safetensors: '__metadata__' key 'b' is a JSON number, expected a string; ignored",
                "t.safetensors: tensor 'w.weight': metadata 'fpscope.tensor.w.weight': role 'bogus' is not one of "
                "weight, activation, grad_weight, grad_activation, optimizer_state; role and layer guessed from the "
                "name instead",
            }));
  ASSERT_EQ(reader_names(entries), std::vector<std::string>{"w.weight"});
  const TensorInfo& info = entries[1].reader->info();
  EXPECT_EQ(info.role, Role::weight);
  EXPECT_TRUE(info.role_inferred);
  EXPECT_EQ(info.layer, "w");
  EXPECT_EQ(messages(open_bytes(file_bytes(R"({"__metadata__":[1]})"))),
            std::vector<std::string>{
                "t.safetensors: '__metadata__' is a JSON array, expected an object of strings; ignored"});
}

TEST(safetensors_metadata, capture_metadata_fills_the_info) {
  const std::string header =
      R"({"__metadata__":{"fpscope.format":"1","fpscope.tensor.h:output":)"
      R"("{\"io\":\"output\",\"layer\":\"blocks.0.mlp\",\"module_type\":\"Linear\",\"orig_dtype\":\"bfloat16\",)"
      R"(\"role\":\"activation\",\"sampling\":{\"kept\":2,\"method\":\"uniform_rows\"},\"step\":7}"},)"
      R"("h:output":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})";
  const auto entries = open_bytes(file_bytes(header, std::string(4, '\0')), "dump/step_000009.safetensors");
  ASSERT_EQ(entries.size(), 1u);
  ASSERT_TRUE(entries[0].ok());
  const TensorInfo& info = entries[0].reader->info();
  EXPECT_EQ(info.file, "dump/step_000009.safetensors");
  EXPECT_EQ(info.layer, "blocks.0.mlp");
  EXPECT_EQ(info.role, Role::activation);
  EXPECT_FALSE(info.role_inferred);
  EXPECT_EQ(info.step, 7);  // the metadata wins over the file name
  EXPECT_EQ(info.module_type, "Linear");
  EXPECT_EQ(info.orig_dtype, "bfloat16");
  EXPECT_EQ(info.io, "output");
  EXPECT_EQ(info.sampling_json, R"({"kept":2,"method":"uniform_rows"})");
  EXPECT_EQ(info.dtype, DType::bf16);
}

// A file holding one tensor of `dtype` whose bytes are `data`.
std::unique_ptr<TensorReader> one_tensor(DType dtype, const std::string& data) {
  const std::size_t n = data.size() / dtype_size(dtype);
  const std::string header = std::string(R"({"v":{"dtype":")") + dtype_name(dtype) + R"(","shape":[)" +
                             std::to_string(n) + R"(],"data_offsets":[0,)" + std::to_string(data.size()) + "]}}";
  auto entries = open_bytes(file_bytes(header, data));
  EXPECT_EQ(entries.size(), 1u);
  EXPECT_TRUE(entries[0].ok()) << (entries[0].error ? entries[0].error->message : "");
  return std::move(entries[0].reader);
}

void expect_same(double got, double expected, std::uint64_t code) {
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(got)) << "code " << code;
  } else {
    EXPECT_EQ(std::bit_cast<std::uint64_t>(got), std::bit_cast<std::uint64_t>(expected)) << "code " << code;
  }
}

struct SmallDType {
  DType dtype;
  const char* preset;
};

TEST(safetensors_read, every_encoding_of_16_and_8_bit_dtypes_is_exact) {
  for (const SmallDType d : {SmallDType{DType::f16, "fp16"}, SmallDType{DType::bf16, "bf16"},
                             SmallDType{DType::f8_e4m3, "e4m3"}, SmallDType{DType::f8_e5m2, "e5m2"}}) {
    SCOPED_TRACE(dtype_name(d.dtype));
    const Format f = find_preset(d.preset)->format;
    const std::size_t bytes = dtype_size(d.dtype);
    const std::size_t count = std::size_t{1} << (8 * bytes);
    std::string data(count * bytes, '\0');
    for (std::size_t code = 0; code < count; ++code) {
      for (std::size_t b = 0; b < bytes; ++b) data[code * bytes + b] = static_cast<char>((code >> (8 * b)) & 0xFF);
    }
    auto reader = one_tensor(d.dtype, data);
    std::vector<double> values(count);
    std::vector<float> floats(count);
    reader->read(0, std::span<double>(values));
    reader->read(0, std::span<float>(floats));
    for (std::size_t code = 0; code < count; ++code) {
      expect_same(values[code], decode(code, f), code);
      expect_same(static_cast<double>(floats[code]), decode(code, f), code);
    }
  }
}

TEST(safetensors_read, f32_and_f64_are_exact) {
  std::mt19937_64 rng(12345);
  // Random bit patterns cover normals, subnormals, infinities and NaNs in proportion;
  // add the edges explicitly.
  std::vector<std::uint32_t> f32{0, 0x80000000u, 1, 0x007FFFFFu, 0x00800000u, 0x7F7FFFFFu, 0x7F800000u, 0xFF800000u,
                                 0x7FC00000u};
  std::vector<std::uint64_t> f64{0, 1, 0x000FFFFFFFFFFFFFull, 0x7FEFFFFFFFFFFFFFull, 0x7FF0000000000000ull,
                                 0xFFF8000000000001ull};
  for (int i = 0; i < 5000; ++i) {
    f32.push_back(static_cast<std::uint32_t>(rng()));
    f64.push_back(rng());
  }
  std::string data32(f32.size() * 4, '\0');
  std::memcpy(data32.data(), f32.data(), data32.size());
  std::string data64(f64.size() * 8, '\0');
  std::memcpy(data64.data(), f64.data(), data64.size());
  const Format fp32 = find_preset("fp32")->format;
  const Format fp64 = find_preset("fp64")->format;

  auto r32 = one_tensor(DType::f32, data32);
  std::vector<double> v32(f32.size());
  r32->read(0, std::span<double>(v32));
  std::vector<float> w32(f32.size());
  r32->read(0, std::span<float>(w32));
  for (std::size_t i = 0; i < f32.size(); ++i) {
    expect_same(v32[i], decode(f32[i], fp32), f32[i]);
    expect_same(static_cast<double>(w32[i]), decode(f32[i], fp32), f32[i]);
  }
  auto r64 = one_tensor(DType::f64, data64);
  std::vector<double> v64(f64.size());
  r64->read(0, std::span<double>(v64));
  for (std::size_t i = 0; i < f64.size(); ++i) expect_same(v64[i], decode(f64[i], fp64), f64[i]);
  std::vector<float> no(1);
  try {
    r64->read(0, std::span<float>(no));
    ADD_FAILURE() << "F64 read as float";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "t.safetensors: tensor 'v': dtype F64 does not fit float exactly; read it as double");
  }
}

TEST(safetensors_read, integer_tensors_are_yielded_but_not_read) {
  for (const DType t : {DType::i64, DType::i32, DType::i16, DType::i8, DType::u64, DType::u32, DType::u16, DType::u8,
                        DType::boolean}) {
    auto reader = one_tensor(t, std::string(dtype_size(t) * 3, '\1'));
    EXPECT_EQ(reader->info().dtype, t);
    EXPECT_FALSE(is_float(reader->info().dtype));
    EXPECT_EQ(reader->info().element_count(), 3u);
    std::vector<double> out(3);
    try {
      reader->read(0, std::span<double>(out));
      ADD_FAILURE() << dtype_name(t);
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), std::string("t.safetensors: tensor 'v': dtype ") + dtype_name(t) +
                                           " is not a floating type; integer and bool tensors are counted, not "
                                           "analysed");
    }
  }
}

TEST(safetensors_read, out_of_range_read_names_the_tensor) {
  auto reader = one_tensor(DType::f32, std::string(40, '\0'));
  std::vector<double> out(4);
  try {
    reader->read(8, std::span<double>(out));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "t.safetensors: tensor 'v': elements [8, 12) requested, the tensor has 10");
  }
  EXPECT_THROW(reader->read(~std::uint64_t{0}, std::span<double>(out)), Error);
}

TEST(safetensors_read, chunked_reads_equal_one_full_read) {
  // 300000 float16 values: several internal 256 KiB chunks.
  constexpr std::size_t n = 300000;
  std::mt19937_64 rng(7);
  std::string data(n * 2, '\0');
  for (char& c : data) c = static_cast<char>(rng() & 0xFF);
  auto reader = one_tensor(DType::f16, data);
  std::vector<double> full(n);
  reader->read(0, std::span<double>(full));
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t first = rng() % n;
    const std::size_t count = rng() % (n - first + 1);
    std::vector<double> part(count);
    reader->read(first, std::span<double>(part));
    for (std::size_t i = 0; i < count; ++i) {
      ASSERT_EQ(std::bit_cast<std::uint64_t>(part[i]), std::bit_cast<std::uint64_t>(full[first + i]))
          << first << " + " << i;
    }
  }
}

class SafetensorsFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("fpscope_safetensors_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::vector<std::byte>& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  fs::path dir_;
};

TEST_F(SafetensorsFileTest, many_files_read_through_the_descriptor_cache) {
  // More files than the cache keeps open, read in turns.
  std::vector<std::vector<DatasetEntry>> files;
  for (int i = 0; i < 80; ++i) {
    const float value = static_cast<float>(i) + 0.5f;
    std::string data(4, '\0');
    std::memcpy(data.data(), &value, 4);
    files.push_back(open_safetensors(
        write("f" + std::to_string(i) + ".safetensors",
              file_bytes(R"({"v":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", data))));
    ASSERT_EQ(files.back().size(), 1u);
    ASSERT_TRUE(files.back()[0].ok());
  }
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 80; ++i) {
      double v = 0;
      files[static_cast<std::size_t>(i)][0].reader->read(0, std::span<double>(&v, 1));
      EXPECT_EQ(v, i + 0.5);
    }
  }
}

TEST_F(SafetensorsFileTest, concurrent_reads_match_one_read) {
  // Four threads read interleaved pieces of two tensors of one file (one shared
  // source, one descriptor cache) while more files than the cache holds are read too.
  constexpr std::size_t n = 100000;
  std::string data(2 * n * 2, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 2654435761u) >> 13);
  const std::string header = R"({"a":{"dtype":"BF16","shape":[100000],"data_offsets":[0,200000]},)"
                             R"("b":{"dtype":"F16","shape":[100000],"data_offsets":[200000,400000]}})";
  auto entries = open_safetensors(write("c.safetensors", file_bytes(header, data)));
  ASSERT_EQ(entries.size(), 2u);
  std::vector<std::vector<double>> full(2, std::vector<double>(n));
  for (std::size_t t = 0; t < 2; ++t) entries[t].reader->read(0, std::span<double>(full[t]));
  std::vector<std::vector<DatasetEntry>> others;
  for (int i = 0; i < 40; ++i) {
    others.push_back(open_safetensors(write("o" + std::to_string(i) + ".safetensors",
                                            file_bytes(R"({"v":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                                       std::string(4, '\0')))));
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      std::vector<double> part(977);
      for (std::size_t first = static_cast<std::size_t>(w) * 977; first + part.size() <= n; first += 4 * 977) {
        const std::size_t t = first % 2;
        entries[t].reader->read(first, std::span<double>(part));
        for (std::size_t i = 0; i < part.size(); ++i) {
          mismatches[static_cast<std::size_t>(w)] +=
              std::bit_cast<std::uint64_t>(part[i]) != std::bit_cast<std::uint64_t>(full[t][first + i]);
        }
        double v = 0;
        others[(first / 977) % others.size()][0].reader->read(0, std::span<double>(&v, 1));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST_F(SafetensorsFileTest, missing_file_and_directory) {
  const std::string missing = (dir_ / "nope.safetensors").string();
  EXPECT_EQ(messages(open_safetensors(missing)),
            std::vector<std::string>{missing + ": cannot open: No such file or directory"});
  EXPECT_EQ(messages(open_safetensors(dir_.string())),
            std::vector<std::string>{dir_.string() + ": is a directory, not a file"});
  // A FIFO must be refused, not waited on.
  const std::string fifo = (dir_ / "fifo.safetensors").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(messages(open_safetensors(fifo)), std::vector<std::string>{fifo + ": not a regular file"});
}

TEST_F(SafetensorsFileTest, file_truncated_after_opening_throws_on_read) {
  const std::string header = R"({"v":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
  const std::string path = write("t.safetensors", file_bytes(header, std::string(16, 'a')));
  auto entries = open_safetensors(path);
  ASSERT_EQ(entries.size(), 1u);
  ASSERT_TRUE(entries[0].ok());
  const std::size_t data_start = 8 + header.size();
  fs::resize_file(path, data_start + 8);
  std::vector<double> out(4);
  try {
    entries[0].reader->read(0, std::span<double>(out));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              path + ": file ends at byte " + std::to_string(data_start + 8) + ", expected " +
                  std::to_string(data_start + 16) + " bytes (truncated since it was opened?)");
  }
}

// The dump the Python capture tool wrote (examples/data/tiny-gpt), read against
// an independent parse of its header with nlohmann::json.
TEST(safetensors_capture_dump, roles_and_layers_come_from_the_metadata) {
  const fs::path dir = fs::path(FPSCOPE_SOURCE_DIR) / "examples/data/tiny-gpt";
  const fs::path file = dir / "step_000200.safetensors";
  if (!fs::exists(file)) GTEST_SKIP() << file << " not present";
  std::ifstream in(file, std::ios::binary);
  std::uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  const nlohmann::json header = nlohmann::json::parse(text);
  const nlohmann::json& meta = header.at("__metadata__");
  EXPECT_EQ(meta.at("fpscope.format"), "1");

  const auto entries = open_safetensors(file.string());
  EXPECT_TRUE(messages(entries).empty());
  ASSERT_EQ(entries.size(), header.size() - 1);
  std::size_t roles_seen = 0;
  for (const DatasetEntry& e : entries) {
    const TensorInfo& info = e.reader->info();
    SCOPED_TRACE(info.name);
    const nlohmann::json m = nlohmann::json::parse(meta.at("fpscope.tensor." + info.name).get<std::string>());
    EXPECT_EQ(role_name(info.role), m.at("role").get<std::string>());
    EXPECT_FALSE(info.role_inferred);
    EXPECT_EQ(info.layer, m.at("layer").get<std::string>());
    EXPECT_EQ(info.step, 200);
    EXPECT_EQ(info.module_type, m.at("module_type").get<std::string>());
    // The name convention alone gives the same role and layer (the fallback agrees with the writer).
    TensorInfo guess;
    guess.name = info.name;
    infer_from_name(guess);
    EXPECT_EQ(guess.role, info.role);
    EXPECT_EQ(guess.layer, info.layer);
    roles_seen |= std::size_t{1} << static_cast<int>(info.role);
    // Values: the bytes at data_offsets, read here directly.
    const nlohmann::json& entry = header.at(info.name);
    ASSERT_EQ(entry.at("dtype"), "F32");
    const auto begin = entry.at("data_offsets")[0].get<std::uint64_t>();
    const auto end = entry.at("data_offsets")[1].get<std::uint64_t>();
    std::vector<float> expected((end - begin) / 4);
    in.seekg(static_cast<std::streamoff>(8 + n + begin));
    in.read(reinterpret_cast<char*>(expected.data()), static_cast<std::streamsize>(end - begin));
    std::vector<double> got(info.element_count());
    ASSERT_EQ(got.size(), expected.size());
    e.reader->read(0, std::span<double>(got));
    for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], static_cast<double>(expected[i]));
  }
  EXPECT_EQ(roles_seen, 0b111110u);  // all five roles
}

}  // namespace
}  // namespace fpscope
