// reports/markdown_report.h: report.md: the verdict matrix, the most sensitive layers and the top offenders as Markdown tables.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace fpscope::reports {

struct MarkdownOptions {
  std::size_t top_offenders = 15;  // rows of the offenders table
  std::size_t top_layers = 10;     // rows of the ranking table
};

// GitHub-flavoured Markdown for a pull request or issue. `doc` is a result
// document already checked by check_result_document(). Deterministic.
std::string markdown_report(const nlohmann::json& doc, const MarkdownOptions& options = {});

// A table cell: '|' escaped, newlines flattened (GFM tables section 4.10).
std::string markdown_cell(const std::string& text);

}  // namespace fpscope::reports
