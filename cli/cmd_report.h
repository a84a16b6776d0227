// cli/cmd_report.h: writing the report files, shared by `fpscope report` and `fpscope analyze --report DIR`.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace fpscope::cli {

// Checks `doc` against the result schema (naming `source` in errors), then
// writes DIR/result.json, DIR/report.html and DIR/report.md, creating DIR.
void write_report_directory(const nlohmann::json& doc, const std::string& dir, const std::string& source);

}  // namespace fpscope::cli
