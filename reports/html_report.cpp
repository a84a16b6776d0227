// reports/html_report.cpp: assembles report.html from the result document and the embedded scripts and style.
#include "reports/html_report.h"

#include <fmt/core.h>

#include "core/error.h"

namespace fpscope::reports {
namespace {

// The inlined scripts run; nothing else loads. 'unsafe-eval': Vega compiles its
// expressions with new Function (vega-expression codegen).
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'";

// A bundle inside <script>: the minified Vega files contain no "</script" (checked
// here, so a future version that does is caught instead of breaking the page).
std::string_view checked_script(std::string_view code, const char* what) {
  for (std::size_t i = code.find("</"); i != std::string_view::npos; i = code.find("</", i + 2)) {
    std::string tag(code.substr(i + 2, 6));
    for (char& c : tag) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (tag == "script") throw Error(std::string("the embedded ") + what + " contains \"</script\" and cannot be inlined");
  }
  return code;
}

// The document as the page needs it: without each result's te_debug block (a
// quarter of the bytes, and the page shows the same statistics under fpscope's
// names); result.json beside the report keeps everything.
nlohmann::json page_data(const nlohmann::json& doc) {
  nlohmann::json data = doc;
  if (!data.contains("tensors") || !data["tensors"].is_array()) return data;
  for (nlohmann::json& t : data["tensors"]) {
    if (!t.contains("results") || !t["results"].is_array()) continue;
    for (nlohmann::json& r : t["results"]) r.erase("te_debug");
  }
  return data;
}

}  // namespace

std::string script_safe_json(const std::string& json_text) {
  std::string out;
  out.reserve(json_text.size() + json_text.size() / 64);
  for (char c : json_text) {
    if (c == '<') out += "\\u003c";
    else out += c;
  }
  return out;
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string html_report(const nlohmann::json& doc, const ReportAssets& assets) {
  if (assets.vega_js.empty() || assets.vega_lite_js.empty() || assets.vega_embed_js.empty()) {
    throw Error(
        "this fpscope was built without the Vega bundles (npm was not found when it was configured); install the "
        "Debian packages nodejs and npm and rebuild, or use --md for the Markdown report alone");
  }
  std::string title = "fpscope report";
  if (doc.contains("inputs") && !doc["inputs"].empty() && doc["inputs"][0].is_string()) {
    title += ": " + doc["inputs"][0].get<std::string>();
    if (doc["inputs"].size() > 1) title += fmt::format(" and {} more", doc["inputs"].size() - 1);
  }
  std::string html;
  html.reserve(assets.vega_js.size() + assets.vega_lite_js.size() + assets.vega_embed_js.size() + (1u << 20));
  html += "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += fmt::format("<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n", kContentSecurityPolicy);
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<meta name=\"color-scheme\" content=\"light dark\">\n";
  html += "<meta name=\"generator\" content=\"fpscope report\">\n";
  html += "<title>" + html_escape(title) + "</title>\n<style>\n";
  html += assets.report_css;
  html += "\n</style>\n</head>\n<body>\n";
  html += "<noscript><p>This report draws its tables and plots with JavaScript; report.md holds the verdict matrix as text.</p></noscript>\n";
  html += "<main id=\"app\"><p class=\"loading\">Loading the report…</p></main>\n";
  html += "<script id=\"fpscope-result\" type=\"application/json\">";
  html += script_safe_json(page_data(doc).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  html += "</script>\n<script>\n";
  html += checked_script(assets.vega_js, "vega bundle");
  html += "\n</script>\n<script>\n";
  html += checked_script(assets.vega_lite_js, "vega-lite bundle");
  html += "\n</script>\n<script>\n";
  html += checked_script(assets.vega_embed_js, "vega-embed bundle");
  html += "\n</script>\n<script>\n";
  html += checked_script(assets.report_js, "report.js");
  html += "\n</script>\n</body>\n</html>\n";
  return html;
}

}  // namespace fpscope::reports
