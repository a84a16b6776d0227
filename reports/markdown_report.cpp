// reports/markdown_report.cpp: report.md from a result document (verdict matrix, ranking, top offenders).
#include "reports/markdown_report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <fmt/ranges.h>

namespace fpscope::reports {
namespace {

using nlohmann::json;

// A schema "real": a number, or "inf" / "-inf" / "nan".
double real(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "inf") return INFINITY;
    if (s == "-inf") return -INFINITY;
  }
  return NAN;
}

std::string number(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (!v.is_number()) return "";
  return fmt::format("{:.4g}", v.get<double>());
}

const char* status_mark(const std::string& status) {
  if (status == "tolerated") return "✅";
  if (status == "marginal") return "⚠️";
  return "❌";
}

std::string list(const json& arr) {
  std::vector<std::string> items;
  for (const json& x : arr) items.push_back(x.is_string() ? x.get<std::string>() : x.dump());
  return fmt::format("{}", fmt::join(items, ", "));
}

}  // namespace

std::string markdown_cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

std::string markdown_report(const json& doc, const MarkdownOptions& options) {
  std::string md = "# fpscope report\n\n";
  const json& summary = doc["summary"];
  std::set<long long> steps;
  for (const json& t : doc["tensors"]) {
    if (t["step"].get<long long>() >= 0) steps.insert(t["step"].get<long long>());
  }
  md += fmt::format("- **Inputs:** {}\n", markdown_cell(list(doc["inputs"])));
  md += fmt::format("- **Tensors:** {} analysed ({} elements); {} failed, {} integer/bool, {} empty, {} filtered out\n",
                    summary["tensors_analysed"].get<long long>(), summary["elements"].get<long long>(),
                    summary["tensors_failed"].get<long long>(), summary["tensors_unsupported"].get<long long>(),
                    summary["tensors_empty"].get<long long>(), summary["tensors_filtered_out"].get<long long>());
  if (!steps.empty()) md += fmt::format("- **Steps:** {}\n", fmt::join(steps, ", "));
  md += fmt::format("- **Formats:** {}; **recipes:** {}; **rounding:** {}\n", markdown_cell(list(doc["options"]["formats"])),
                    markdown_cell(list(doc["options"]["recipes"])), markdown_cell(list(doc["options"]["rounding"])));
  md += fmt::format("- **Tool:** {} {}, result schema {}\n\n", doc["tool"]["name"].get<std::string>(),
                    doc["tool"]["version"].get<std::string>(), doc["schema_version"].get<std::string>());

  const json& combos = doc["combinations"];
  // At a glance: per format, the (layer, role)s by the best verdict any of its recipes gets.
  std::vector<std::string> formats;
  std::map<std::string, std::string> format_of;
  std::map<std::string, long long> bits_of;
  for (const json& c : combos) {
    const std::string f = c["format"].get<std::string>();
    format_of[c["id"].get<std::string>()] = f;
    bits_of[f] = c["element_bits"].get<long long>();
    if (std::find(formats.begin(), formats.end(), f) == formats.end()) formats.push_back(f);
  }
  if (!formats.empty() && !doc["layers"].empty()) {
    md += "## At a glance\n\nEach layer and role counted once per format, by the best verdict any recipe of that format gets.\n\n";
    md += "| format | element bits | ✅ tolerated | ⚠️ marginal | ❌ not tolerated |\n|---|--:|--:|--:|--:|\n";
    for (const std::string& f : formats) {
      long long counts[3] = {0, 0, 0};
      for (const json& layer : doc["layers"]) {
        int best = 3;
        for (const json& v : layer["verdicts"]) {
          if (format_of[v["combination"].get<std::string>()] != f) continue;
          const std::string st = v["status"].get<std::string>();
          best = std::min(best, st == "tolerated" ? 0 : st == "marginal" ? 1 : 2);
        }
        if (best < 3) ++counts[best];
      }
      md += fmt::format("| {} | {} | {} | {} | {} |\n", markdown_cell(f), bits_of[f], counts[0], counts[1], counts[2]);
    }
    md += "\n";
  }

  // The verdict matrix: one row per (layer, role), one column per combination.
  md += "## Verdict matrix\n\n";
  md += "✅ tolerated, ⚠️ marginal, ❌ not tolerated, with the statistic that decided; the worst tensor over all "
        "captured steps decides (thresholds in the result's `thresholds`).\n\n";
  md += "| layer | role |";
  for (const json& c : combos) md += " " + markdown_cell(c["id"].get<std::string>()) + " |";
  md += " cheapest tolerated |\n|---|---|";
  for (std::size_t k = 0; k < combos.size(); ++k) md += ":-:|";
  md += "---|\n";
  for (const json& layer : doc["layers"]) {
    md += fmt::format("| {} | {} |", markdown_cell(layer["layer"].get<std::string>()), markdown_cell(layer["role"].get<std::string>()));
    for (const json& c : combos) {
      std::string cell = " ";
      for (const json& v : layer["verdicts"]) {
        if (v["combination"] != c["id"]) continue;
        cell = status_mark(v["status"].get<std::string>());
        // The deciding statistic says why at a glance.
        if (v.contains("failures") && !v["failures"].empty()) cell += " " + v["failures"][0]["statistic"].get<std::string>();
      }
      md += " " + cell + " |";
    }
    const json& cheapest = layer["cheapest_tolerated"];
    md += cheapest.is_null() ? " none |\n"
                             : fmt::format(" {} ({:.3g} bits) |\n", markdown_cell(cheapest["combination"].get<std::string>()),
                                           cheapest["bits_per_element"].get<double>());
  }

  md += "\n## Most sensitive layers\n\n| rank | layer | role | cheapest bits/element | why |\n|--:|---|---|--:|---|\n";
  const json& ranking = doc["ranking"];
  for (std::size_t r = 0; r < std::min(options.top_layers, ranking.size()); ++r) {
    const json& row = ranking[r];
    md += fmt::format("| {} | {} | {} | {} | {} |\n", row["rank"].get<long long>(), markdown_cell(row["layer"].get<std::string>()),
                      markdown_cell(row["role"].get<std::string>()),
                      row.contains("cheapest_bits_per_element") ? number(row["cheapest_bits_per_element"]) : "",
                      markdown_cell(row["reason"].get<std::string>()));
  }

  // Top offenders: not-tolerated tensor results by how far they missed their
  // first failed limit (the CLI summary's order).
  struct Offender {
    const json* tensor;
    const json* result;
    const json* failure;
    double by;
  };
  std::vector<Offender> offenders;
  for (const json& t : doc["tensors"]) {
    for (const json& r : t["results"]) {
      const json& verdict = r["verdict"];
      if (verdict["status"] == "not_tolerated" && !verdict["failures"].empty()) {
        const double by = real(verdict["failures"][0]["by"]);
        offenders.push_back({&t, &r, &verdict["failures"][0], std::isnan(by) ? INFINITY : by});
      }
    }
  }
  std::stable_sort(offenders.begin(), offenders.end(), [](const Offender& a, const Offender& b) { return a.by > b.by; });
  md += "\n## Top offenders\n\n";
  if (offenders.empty()) {
    md += "No tensor is outside the tolerated limits in any combination.\n";
  } else {
    md += fmt::format("{} tensor x combination results are not tolerated; the {} that miss a limit by most:\n\n",
                      offenders.size(), std::min(options.top_offenders, offenders.size()));
    md += "| tensor | step | layer | role | combination | failed | value | limit | by |\n|---|--:|---|---|---|---|--:|--:|--:|\n";
    for (std::size_t i = 0; i < std::min(options.top_offenders, offenders.size()); ++i) {
      const Offender& o = offenders[i];
      const json& t = *o.tensor;
      const std::string name = t["name"].get<std::string>().empty() ? t["file"].get<std::string>() : t["name"].get<std::string>();
      md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", markdown_cell(name), t["step"].get<long long>(),
                        markdown_cell(t["layer"].get<std::string>()), markdown_cell(t["role"].get<std::string>()),
                        markdown_cell((*o.result)["combination"].get<std::string>()),
                        markdown_cell((*o.failure)["statistic"].get<std::string>()), number((*o.failure)["value"]),
                        number((*o.failure)["limit"]), number((*o.failure)["by"]));
    }
  }
  if (!doc["failures"].empty()) {
    md += fmt::format("\n## Read failures\n\n| file | tensor | message |\n|---|---|---|\n");
    for (const json& f : doc["failures"]) {
      md += fmt::format("| {} | {} | {} |\n", markdown_cell(f["file"].get<std::string>()), markdown_cell(f["tensor"].get<std::string>()),
                        markdown_cell(f["message"].get<std::string>()));
    }
  }
  return md;
}

}  // namespace fpscope::reports
