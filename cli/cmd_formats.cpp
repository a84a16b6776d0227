// cli/cmd_formats.cpp: `fpscope formats`: every preset with its derived limits, as a table or JSON.
#include <cmath>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "analysis/format_table.h"
#include "cli/commands.h"
#include "core/format.h"

namespace fpscope::cli {
namespace {


// Powers of two read best as 2^k once they leave the range of short decimals.
std::string magnitude_text(double v) {
  int e = 0;
  const double m = std::frexp(v, &e);
  if (m == 0.5 && (e - 1 < -4 || e - 1 > 16)) return fmt::format("2^{}", e - 1);
  return fmt::format("{:.6g}", v);
}

std::string yes_no(bool b) { return b ? "yes" : "no"; }

void print_table() {
  struct Row {
    std::vector<std::string> cells;
  };
  const std::vector<std::string> head{"name", "bits", "E", "M", "bias", "max finite", "min normal",
                                      "min subnormal", "epsilon", "digits", "binades", "specials",
                                      "inf", "NaN", "-0", "subnormals", "overflow"};
  std::vector<Row> rows;
  for (const Preset& p : presets()) {
    const Format& f = p.format;
    const FormatLimits l = limits(f);
    const bool has_subnormals = l.min_subnormal < l.min_normal;
    rows.push_back(Row{{std::string(p.name), std::to_string(l.total_bits), std::to_string(f.exp_bits),
                        std::to_string(f.man_bits), std::to_string(f.bias), magnitude_text(l.max_finite),
                        magnitude_text(l.min_normal), has_subnormals ? magnitude_text(l.min_subnormal) : "none",
                        magnitude_text(l.epsilon), fmt::format("{:.2f}", l.decimal_digits),
                        fmt::format("{:.2f}", l.binades), specials_name(f.specials), yes_no(l.has_inf),
                        yes_no(l.has_nan), yes_no(l.has_negative_zero), yes_no(has_subnormals),
                        overflow_name(f.overflow)}});
  }
  std::vector<std::size_t> width(head.size());
  for (std::size_t c = 0; c < head.size(); ++c) {
    width[c] = head[c].size();
    for (const Row& r : rows) width[c] = std::max(width[c], r.cells[c].size());
  }
  // Names and words left-aligned, numbers right-aligned.
  auto is_numeric_column = [](std::size_t c) { return c >= 1 && c <= 10; };
  auto print_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      if (c > 0) line += "  ";
      line += is_numeric_column(c) ? fmt::format("{:>{}}", cells[c], width[c])
                                   : fmt::format("{:<{}}", cells[c], width[c]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    fmt::print("{}\n", line);
  };
  print_row(head);
  for (const Row& r : rows) print_row(r.cells);
  fmt::print("\n");
  for (const Preset& p : presets()) fmt::print("{:<{}}  {}\n", p.name, width[0], p.note);
}


}  // namespace

void add_formats_command(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("formats", "List every preset format with its derived properties");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print a JSON array instead of the table (exact values, with hex floats)");
  cmd->footer(
      "Columns: max finite, min normal, min subnormal and epsilon (the gap above 1); digits = precision * log10(2);\n"
      "binades = log2(max finite / min subnormal). Custom formats are specs such as e5m7 or e4m3:bias=9:nosub:sat=inf.\n"
      "\nExamples:\n"
      "  fpscope formats\n"
      "  fpscope formats --json | python3 -m json.tool\n");
  cmd->callback([json, &exit_code] {
    if (*json) {
      fmt::print("{}\n", format_table_json().dump(2));
    } else {
      print_table();
    }
    exit_code = 0;
  });
}

}  // namespace fpscope::cli
