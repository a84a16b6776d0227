// tests/reports/test_markdown_report.cpp: report.md: header facts, the verdict matrix table, ranking and offenders, cell escaping.
#include "reports/markdown_report.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "tests/reports/result_doc.h"

using fpscope::reports::markdown_cell;
using fpscope::reports::markdown_report;

namespace {

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// The lines of the section under `heading` that are table rows.
std::vector<std::string> table_after(const std::string& md, const std::string& heading) {
  std::vector<std::string> rows;
  bool in = false;
  for (const std::string& l : lines(md)) {
    if (l == heading) in = true;
    else if (in && l.rfind("## ", 0) == 0) break;
    else if (in && l.rfind("|", 0) == 0) rows.push_back(l);
  }
  return rows;
}

TEST(markdown_report, escapes_table_cells) {
  EXPECT_EQ(markdown_cell("a|b"), "a\\|b");
  EXPECT_EQ(markdown_cell("two\nlines\r"), "two lines ");
  EXPECT_EQ(markdown_cell("plain"), "plain");
}

TEST(markdown_report, header_lists_what_was_analysed) {
  const std::string md = markdown_report(fpscope::test::two_layer_doc());
  EXPECT_EQ(lines(md)[0], "# fpscope report");
  EXPECT_NE(md.find("- **Inputs:** dump/\n"), std::string::npos);
  EXPECT_NE(md.find("- **Tensors:** 3 analysed (12 elements); 0 failed, 0 integer/bool, 0 empty, 0 filtered out\n"), std::string::npos);
  EXPECT_NE(md.find("- **Steps:** 0, 200\n"), std::string::npos);
  EXPECT_NE(md.find("- **Formats:** e4m3; **recipes:** tensor; **rounding:** rne\n"), std::string::npos);
  EXPECT_NE(md.find("- **Tool:** fpscope 0.1.0, result schema 1.0\n"), std::string::npos);
}

TEST(markdown_report, verdict_matrix_has_a_row_per_layer_and_a_column_per_combination) {
  const std::vector<std::string> rows = table_after(markdown_report(fpscope::test::two_layer_doc()), "## Verdict matrix");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], "| layer | role | e4m3/tensor/rne | bf16/none/rne | cheapest tolerated |");
  EXPECT_EQ(rows[1], "|---|---|:-:|:-:|---|");
  EXPECT_EQ(rows[2], "| blocks.0\\|odd | weight | ✅ | ✅ | e4m3/tensor/rne (8 bits) |");
  EXPECT_EQ(rows[3], "| blocks.1 | weight | ❌ sqnr_db | ⚠️ sqnr_db | none |");
}

TEST(markdown_report, at_a_glance_counts_layers_by_their_best_recipe) {
  const std::vector<std::string> rows = table_after(markdown_report(fpscope::test::two_layer_doc()), "## At a glance");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], "| format | element bits | ✅ tolerated | ⚠️ marginal | ❌ not tolerated |");
  EXPECT_EQ(rows[2], "| e4m3 | 8 | 1 | 0 | 1 |");
  EXPECT_EQ(rows[3], "| bf16 | 16 | 1 | 1 | 0 |");
  EXPECT_EQ(markdown_report(fpscope::test::empty_result_doc()).find("## At a glance"), std::string::npos);
}

TEST(markdown_report, ranking_in_rank_order) {
  const std::vector<std::string> rows = table_after(markdown_report(fpscope::test::two_layer_doc()), "## Most sensitive layers");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[2], "| 1 | blocks.1 | weight | inf | nothing tolerated |");
  EXPECT_EQ(rows[3], "| 2 | blocks.0\\|odd | weight | 8 | e4m3 enough |");
}

TEST(markdown_report, offenders_largest_miss_first_and_limited) {
  const std::string md = markdown_report(fpscope::test::two_layer_doc());
  std::vector<std::string> rows = table_after(md, "## Top offenders");
  ASSERT_EQ(rows.size(), 4u);  // header, rule, the two not-tolerated results (the marginal one is no offender)
  EXPECT_EQ(rows[2], "| blocks.1.weight | 200 | blocks.1 | weight | e4m3/tensor/rne | sqnr_db | 11 | 20 | 9 |");
  EXPECT_EQ(rows[3], "| blocks.1.weight | 0 | blocks.1 | weight | e4m3/tensor/rne | sqnr_db | 18 | 20 | 2 |");
  EXPECT_NE(md.find("2 tensor x combination results are not tolerated; the 2 that miss a limit by most:"), std::string::npos);
  fpscope::reports::MarkdownOptions one;
  one.top_offenders = 1;
  rows = table_after(markdown_report(fpscope::test::two_layer_doc(), one), "## Top offenders");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_NE(rows[2].find("| 200 |"), std::string::npos);
}

TEST(markdown_report, says_when_nothing_offends) {
  const std::string md = markdown_report(fpscope::test::empty_result_doc());
  EXPECT_NE(md.find("No tensor is outside the tolerated limits in any combination."), std::string::npos);
  EXPECT_EQ(md.find("## Read failures"), std::string::npos);
}

TEST(markdown_report, lists_read_failures) {
  nlohmann::json doc = fpscope::test::empty_result_doc();
  doc["failures"].push_back({{"file", "a.safetensors"}, {"tensor", "w"}, {"message", "a.safetensors: truncated"}});
  const std::vector<std::string> rows = table_after(markdown_report(doc), "## Read failures");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2], "| a.safetensors | w | a.safetensors: truncated |");
}

}  // namespace
