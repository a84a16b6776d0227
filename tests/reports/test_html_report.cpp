// tests/reports/test_html_report.cpp: report.html: inlined scripts and data, no network fetches, script-safe JSON, a clear error without bundles.
#include "reports/html_report.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "tests/reports/result_doc.h"

using fpscope::reports::embedded_assets;
using fpscope::reports::html_report;
using fpscope::reports::ReportAssets;

namespace {

// The text of <script id="fpscope-result" ...>...</script>.
std::string data_script(const std::string& html) {
  const std::string open = "<script id=\"fpscope-result\" type=\"application/json\">";
  const std::size_t begin = html.find(open);
  if (begin == std::string::npos) return "";
  const std::size_t end = html.find("</script>", begin);
  return html.substr(begin + open.size(), end - begin - open.size());
}

TEST(html_report, embedded_bundles_are_present) {
  const ReportAssets& a = embedded_assets();
  ASSERT_FALSE(a.vega_js.empty()) << "built without npm: the Vega bundles are missing";
  EXPECT_NE(a.vega_js.find("vega"), std::string_view::npos);
  EXPECT_NE(a.vega_lite_js.find("vegaLite"), std::string_view::npos);
  EXPECT_NE(a.vega_embed_js.find("vegaEmbed"), std::string_view::npos);
  EXPECT_NE(a.report_js.find("fpscope-result"), std::string_view::npos);
  EXPECT_NE(a.report_css.find("prefers-color-scheme: dark"), std::string_view::npos);
}

TEST(html_report, inlines_every_script_and_style) {
  const std::string html = html_report(fpscope::test::two_layer_doc());
  const ReportAssets& a = embedded_assets();
  for (std::string_view part : {a.vega_js, a.vega_lite_js, a.vega_embed_js, a.report_js, a.report_css}) {
    EXPECT_NE(html.find(part), std::string::npos);
  }
  // Four code scripts and the data script; no <script src=...>, no <link>.
  std::size_t scripts = 0;
  for (std::size_t i = html.find("<script"); i != std::string::npos; i = html.find("<script", i + 1)) ++scripts;
  EXPECT_EQ(scripts, 5u);
  EXPECT_EQ(html.rfind("<!doctype html>", 0), 0u);
}

// Every place in `html` where something would load a URL from the network: a
// src/href/action/srcset attribute or a CSS url() whose value starts with
// http:, https: or // (a linear scan: std::regex takes seconds on 1 MB under ASan),
// and any @import or <link.
std::vector<std::string> network_fetches(const std::string& html) {
  std::string lower = html;
  for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  std::vector<std::string> found;
  for (const std::string opener : {"src=", "href=", "action=", "srcset=", "url("}) {
    for (std::size_t i = lower.find(opener); i != std::string::npos; i = lower.find(opener, i + 1)) {
      std::size_t v = i + opener.size();
      while (v < lower.size() && (lower[v] == ' ' || lower[v] == '"' || lower[v] == '\'' || lower[v] == '\\')) ++v;
      const std::string value = lower.substr(v, 8);
      if (value.rfind("http:", 0) == 0 || value.rfind("https:", 0) == 0 || value.rfind("//", 0) == 0) {
        found.push_back(html.substr(i, 60));
      }
    }
  }
  for (const std::string tag : {"@import", "<link"}) {
    if (const std::size_t i = lower.find(tag); i != std::string::npos) found.push_back(html.substr(i, 60));
  }
  return found;
}

TEST(html_report, the_fetch_scan_finds_fetches) {
  EXPECT_EQ(network_fetches("<img src=\"https://x/a.png\"> <a HREF='//cdn/x'> url( http://y ) @import 'a'; <LINK rel=x>").size(), 5u);
  EXPECT_TRUE(network_fetches("<a href=\"#top\"> src=data:x url(data:y) 'https://not.an.attribute'").empty());
}

TEST(html_report, fetches_nothing_from_the_network) {
  const std::string html = html_report(fpscope::test::two_layer_doc());
  EXPECT_EQ(network_fetches(html), std::vector<std::string>{});
  EXPECT_NE(html.find("Content-Security-Policy"), std::string::npos);
  EXPECT_NE(html.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(html.find("connect-src 'none'"), std::string::npos);
}

TEST(html_report, data_round_trips_and_cannot_close_its_script) {
  nlohmann::json doc = fpscope::test::two_layer_doc();
  doc["tensors"][0]["name"] = "evil</script><script>alert(1)</script><!--";
  const std::string html = html_report(doc);
  const std::string data = data_script(html);
  EXPECT_EQ(data.find('<'), std::string::npos);
  // The page's copy is the document less te_debug (result.json keeps it).
  for (auto& t : doc["tensors"]) {
    for (auto& r : t["results"]) r.erase("te_debug");
  }
  EXPECT_EQ(nlohmann::json::parse(data), doc);
}

TEST(html_report, title_names_the_input) {
  nlohmann::json doc = fpscope::test::two_layer_doc();
  doc["inputs"] = {"a&b.safetensors", "c"};
  EXPECT_NE(html_report(doc).find("<title>fpscope report: a&amp;b.safetensors and 1 more</title>"), std::string::npos);
}

TEST(html_report, escapes) {
  EXPECT_EQ(fpscope::reports::html_escape("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
  EXPECT_EQ(fpscope::reports::script_safe_json(R"({"a":"</script>"})"), R"({"a":"\u003c/script>"})");
}

TEST(html_report, refuses_without_bundles) {
  ReportAssets none = embedded_assets();
  none.vega_lite_js = {};
  try {
    (void)html_report(fpscope::test::two_layer_doc(), none);
    FAIL() << "no error";
  } catch (const fpscope::Error& e) {
    EXPECT_STREQ(e.what(),
                 "this fpscope was built without the Vega bundles (npm was not found when it was configured); install the "
                 "Debian packages nodejs and npm and rebuild, or use --md for the Markdown report alone");
  }
}

TEST(html_report, refuses_a_bundle_that_would_close_its_script) {
  ReportAssets bad = embedded_assets();
  bad.report_js = "var s = '</SCRIPT>';";
  try {
    (void)html_report(fpscope::test::two_layer_doc(), bad);
    FAIL() << "no error";
  } catch (const fpscope::Error& e) {
    EXPECT_STREQ(e.what(), "the embedded report.js contains \"</script\" and cannot be inlined");
  }
}

}  // namespace
