// tests/reports/test_cmd_report.cpp: `fpscope report` and `fpscope analyze --report DIR` run as the built binary: files written, refusals and their messages.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/cli/run_fpscope.h"
#include "tests/reports/result_doc.h"
#include "tests/temp_dir_test.h"

namespace fs = std::filesystem;
using fpscope::test::read_whole_file;
using fpscope::test::run_fpscope;

namespace {

class CliReport : public fpscope::test::TempDirTest {
 protected:
  std::string write_doc(const std::string& name, const nlohmann::json& doc) const {
    std::ofstream(path(name)) << doc.dump();
    return path(name);
  }
};

TEST_F(CliReport, writes_html_and_markdown) {
  const std::string in = write_doc("result.json", fpscope::test::two_layer_doc());
  const auto r = run_fpscope({"report", in, "-o", path("report.html"), "--md", path("report.md")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string html = read_whole_file(path("report.html"));
  EXPECT_NE(html.find("<script id=\"fpscope-result\""), std::string::npos);
  EXPECT_NE(html.find("blocks.1.weight"), std::string::npos);
  EXPECT_NE(read_whole_file(path("report.md")).find("| blocks.1 | weight | ❌ sqnr_db | ⚠️ sqnr_db | none |"), std::string::npos);
}

TEST_F(CliReport, refuses_another_schema_major_and_writes_nothing) {
  nlohmann::json doc = fpscope::test::two_layer_doc();
  doc["schema_version"] = "2.0";
  const std::string in = write_doc("result.json", doc);
  const auto r = run_fpscope({"report", in, "-o", path("report.html")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "fpscope: " + in +
                       ": schema_version \"2.0\" is not supported: this fpscope reads result schema 1.x "
                       "(reports/schema/result.schema.json); regenerate the file with this fpscope's `analyze --json`\n");
  EXPECT_FALSE(fs::exists(path("report.html")));
}

TEST_F(CliReport, needs_an_output) {
  const std::string in = write_doc("result.json", fpscope::test::two_layer_doc());
  const auto r = run_fpscope({"report", in});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "fpscope: report: name an output with -o report.html and/or --md report.md\n");
}

TEST_F(CliReport, analyze_report_dir_writes_all_three) {
  const std::string dump = std::string(FPSCOPE_SOURCE_DIR) + "/examples/data/tiny-gpt/step_000000.safetensors";
  const auto r = run_fpscope({"analyze", dump, "--filter", "blocks\\.0\\.mlp\\.fc1\\.weight$", "--formats", "e4m3,bf16",
                              "--recipes", "none,tensor", "--quiet", "--report", path("out")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json doc = nlohmann::json::parse(read_whole_file(path("out/result.json")));
  ASSERT_EQ(doc["tensors"].size(), 1u);
  EXPECT_EQ(doc["tensors"][0]["name"], "blocks.0.mlp.fc1.weight");
  EXPECT_NE(read_whole_file(path("out/report.html")).find("blocks.0.mlp.fc1.weight"), std::string::npos);
  EXPECT_NE(read_whole_file(path("out/report.md")).find("## Verdict matrix"), std::string::npos);
  // The report of the written result.json is the same page.
  const auto again = run_fpscope({"report", path("out/result.json"), "-o", path("again.html")});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(read_whole_file(path("again.html")), read_whole_file(path("out/report.html")));
}

}  // namespace
