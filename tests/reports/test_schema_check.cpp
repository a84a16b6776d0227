// tests/reports/test_schema_check.cpp: the result schema check: version refusal, the committed schema, each keyword of the validator subset.
#include "reports/schema_check.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "reports/assets.h"
#include "tests/reports/result_doc.h"

using nlohmann::json;
using fpscope::reports::check_result_document;

namespace {

// The message of the fpscope::Error `f` throws, or "" when it throws none.
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const fpscope::Error& e) {
    return e.what();
  }
  return "";
}

TEST(schema_check, hand_written_documents_pass) {
  EXPECT_EQ(error_of([] { check_result_document(fpscope::test::empty_result_doc(), "r.json"); }), "");
  EXPECT_EQ(error_of([] { check_result_document(fpscope::test::two_layer_doc(), "r.json"); }), "");
}

TEST(schema_check, embedded_schema_is_the_committed_file) {
  std::ifstream in(std::string(FPSCOPE_SOURCE_DIR) + "/reports/schema/result.schema.json", std::ios::binary);
  ASSERT_TRUE(in);
  const std::string committed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(fpscope::reports::embedded_result_schema(), committed);
}

TEST(schema_check, refuses_another_major_version_by_name) {
  json doc = fpscope::test::empty_result_doc();
  doc["schema_version"] = "2.0";
  EXPECT_EQ(error_of([&] { check_result_document(doc, "out/result.json"); }),
            "out/result.json: schema_version \"2.0\" is not supported: this fpscope reads result schema 1.x "
            "(reports/schema/result.schema.json); regenerate the file with this fpscope's `analyze --json`");
  doc["schema_version"] = "one";
  EXPECT_NE(error_of([&] { check_result_document(doc, "r.json"); }).find("schema_version \"one\" is not supported"), std::string::npos);
  doc["schema_version"] = "10.0";
  EXPECT_NE(error_of([&] { check_result_document(doc, "r.json"); }).find("\"10.0\" is not supported"), std::string::npos);
}

TEST(schema_check, accepts_a_newer_minor_version) {
  json doc = fpscope::test::empty_result_doc();
  doc["schema_version"] = "1.7";
  doc["a_key_from_1_7"] = {{"anything", true}};
  EXPECT_EQ(error_of([&] { check_result_document(doc, "r.json"); }), "");
}

TEST(schema_check, refuses_a_document_without_a_version) {
  json doc = fpscope::test::empty_result_doc();
  doc.erase("schema_version");
  EXPECT_EQ(error_of([&] { check_result_document(doc, "x.json"); }),
            "x.json: not an fpscope result document (no schema_version string); write one with `fpscope analyze --json FILE`");
  EXPECT_EQ(error_of([&] { check_result_document(json::array(), "x.json"); }),
            "x.json: not an fpscope result document (the top level is not a JSON object)");
}

TEST(schema_check, names_the_first_violation_as_a_json_pointer) {
  json doc = fpscope::test::empty_result_doc();
  doc.erase("tensors");
  EXPECT_EQ(error_of([&] { check_result_document(doc, "r.json"); }),
            "r.json: does not match the result schema 1.0: at /: missing required key \"tensors\"");
  doc = fpscope::test::empty_result_doc();
  doc["summary"]["elements"] = "many";
  EXPECT_EQ(error_of([&] { check_result_document(doc, "r.json"); }),
            "r.json: does not match the result schema 1.0: at /summary/elements: expected integer, found string");
  doc = fpscope::test::two_layer_doc();
  doc["tensors"][1]["results"][0]["verdict"]["status"] = "fine";
  EXPECT_EQ(error_of([&] { check_result_document(doc, "r.json"); }),
            "r.json: does not match the result schema 1.0: at /tensors/1/results/0/verdict/status: \"fine\" is not one of "
            "[\"tolerated\",\"marginal\",\"not_tolerated\"]");
  doc = fpscope::test::two_layer_doc();
  doc["tensors"][0]["source"]["zeros"] = -1;
  EXPECT_EQ(error_of([&] { check_result_document(doc, "r.json"); }),
            "r.json: does not match the result schema 1.0: at /tensors/0/source/zeros: -1 is below the minimum 0");
  doc = fpscope::test::two_layer_doc();
  doc["tensors"][0]["source"]["mean"] = "infinite";
  EXPECT_NE(error_of([&] { check_result_document(doc, "r.json"); })
                .find("at /tensors/0/source/mean: \"infinite\" matches none of the allowed forms"),
            std::string::npos);
}

// Each keyword of the subset, against a small schema of its own.
TEST(schema_check, validator_keywords) {
  const json schema = json::parse(R"({
    "type": "object", "required": ["schema_version", "n"],
    "properties": {
      "schema_version": {"const": "1.0"},
      "n": {"type": "integer", "minimum": 1},
      "x": {"type": ["number", "null"]},
      "tag": {"enum": ["a", "b"]},
      "k": {"const": 3},
      "list": {"type": "array", "items": {"$ref": "#/$defs/pos"}},
      "map": {"type": "object", "additionalProperties": {"type": "string"}},
      "closed": {"type": "object", "properties": {"a": {}}, "additionalProperties": false},
      "either": {"oneOf": [{"type": "integer"}, {"type": "number"}]}
    },
    "$defs": {"pos": {"type": "number", "minimum": 0}}
  })");
  auto check = [&](const json& doc) { return error_of([&] { check_result_document(doc, schema, "t.json"); }); };
  json ok = {{"schema_version", "1.0"}, {"n", 2}, {"x", nullptr}, {"tag", "a"}, {"k", 3}, {"list", {0, 1.5}},
             {"map", {{"p", "q"}}}, {"closed", {{"a", 1}}}, {"either", 2.5}};
  EXPECT_EQ(check(ok), "");
  const std::string prefix = "t.json: does not match the result schema 1.0: ";
  json d = ok;
  d["n"] = 2.0;  // a number with zero fraction is an integer (JSON Schema validation 6.1.1)
  EXPECT_EQ(check(d), "");
  d["n"] = 2.5;
  EXPECT_EQ(check(d), prefix + "at /n: expected integer, found number");
  d = ok;
  d["n"] = 0;
  EXPECT_EQ(check(d), prefix + "at /n: 0 is below the minimum 1");
  d = ok;
  d["x"] = "s";
  EXPECT_EQ(check(d), prefix + "at /x: expected [\"number\",\"null\"], found string");
  d = ok;
  d["tag"] = "c";
  EXPECT_EQ(check(d), prefix + "at /tag: \"c\" is not one of [\"a\",\"b\"]");
  d = ok;
  d["k"] = 4;
  EXPECT_EQ(check(d), prefix + "at /k: expected 3, found 4");
  d = ok;
  d["list"] = {1, -1};
  EXPECT_EQ(check(d), prefix + "at /list/1: -1 is below the minimum 0");
  d = ok;
  d["map"] = {{"a/b~", 1}};
  EXPECT_EQ(check(d), prefix + "at /map/a~1b~0: expected string, found integer");
  d = ok;
  d["closed"] = {{"b", 1}};
  EXPECT_EQ(check(d), prefix + "at /closed/b: unexpected key");
  d = ok;
  d["either"] = 2;  // matches both forms: oneOf needs exactly one
  EXPECT_EQ(check(d), prefix + "at /either: 2 matches more than one allowed form");
  d = ok;
  d.erase("n");
  EXPECT_EQ(check(d), prefix + "at /: missing required key \"n\"");
}

TEST(schema_check, load_names_the_file) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("fpscope_schema_check_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string missing = (dir / "missing.json").string();
  EXPECT_EQ(error_of([&] { fpscope::reports::load_result_document(missing); }), missing + ": cannot open the result file");
  const std::string bad = (dir / "bad.json").string();
  std::ofstream(bad) << "{\"schema_version\": ";
  EXPECT_EQ(error_of([&] { fpscope::reports::load_result_document(bad); }).rfind(bad + ": not valid JSON (", 0), 0u);
  const std::string good = (dir / "good.json").string();
  std::ofstream(good) << fpscope::test::two_layer_doc().dump();
  EXPECT_EQ(fpscope::reports::load_result_document(good), fpscope::test::two_layer_doc());
  fs::remove_all(dir);
}

}  // namespace
