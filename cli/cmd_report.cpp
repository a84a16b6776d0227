// cli/cmd_report.cpp: `fpscope report RESULT.json -o report.html [--md report.md]`: the HTML and Markdown reports of an analysis.
#include "cli/cmd_report.h"

#include <filesystem>
#include <memory>
#include <string>

#include <fmt/core.h>

#include "analysis/atomic_file.h"
#include "cli/commands.h"
#include "core/error.h"
#include "reports/html_report.h"
#include "reports/markdown_report.h"
#include "reports/schema_check.h"

namespace fpscope::cli {
namespace {

struct ReportArgs {
  std::string result_path;
  std::string html_path;
  std::string md_path;
};

int run_report(const ReportArgs& args) {
  if (args.html_path.empty() && args.md_path.empty()) {
    throw Error("report: name an output with -o report.html and/or --md report.md");
  }
  const nlohmann::json doc = reports::load_result_document(args.result_path);
  // Both documents are made before either is written, so an error leaves no half set.
  const std::string html = args.html_path.empty() ? std::string() : reports::html_report(doc);
  const std::string md = args.md_path.empty() ? std::string() : reports::markdown_report(doc);
  if (!args.html_path.empty()) write_file_atomically(args.html_path, html);
  if (!args.md_path.empty()) write_file_atomically(args.md_path, md);
  return 0;
}

}  // namespace

void write_report_directory(const nlohmann::json& doc, const std::string& dir, const std::string& source) {
  reports::check_result_document(doc, source);
  const std::string html = reports::html_report(doc);
  const std::string md = reports::markdown_report(doc);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("--report '{}': cannot create the directory: {}", dir, ec.message()));
  const std::filesystem::path base(dir);
  write_file_atomically((base / "result.json").string(), doc.dump(1) + "\n");
  write_file_atomically((base / "report.html").string(), html);
  write_file_atomically((base / "report.md").string(), md);
}

void add_report_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ReportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "report", "HTML report (verdict matrix, per-tensor histograms, statistics table) and Markdown summary of an analysis");
  cmd->add_option("RESULT", args->result_path, "result document written by `fpscope analyze --json`")->required();
  cmd->add_option("-o,--output", args->html_path, "write the self-contained HTML report here (opens offline)");
  cmd->add_option("--md", args->md_path, "write the Markdown summary (verdict matrix, top offenders) here");
  cmd->footer(
      "Examples:\n"
      "  fpscope analyze --json out/result.json && fpscope report out/result.json -o out/report.html --md out/report.md\n"
      "  fpscope analyze dump/ --report out/      # result.json, report.html and report.md in out/\n"
      "The input is checked against reports/schema/result.schema.json; another major schema_version is refused.");
  cmd->callback([args, &exit_code] { exit_code = run_report(*args); });
}

}  // namespace fpscope::cli
