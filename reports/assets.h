// reports/assets.h: the files embedded into the library at build time (reports/CMakeLists.txt).
#pragma once

#include <string_view>

namespace fpscope::reports {

// The scripts and style the HTML report inlines. The three bundles are empty
// when the build found no npm (html_report() then refuses to write a report).
struct ReportAssets {
  std::string_view vega_js;
  std::string_view vega_lite_js;
  std::string_view vega_embed_js;
  std::string_view report_js;
  std::string_view report_css;
};

const ReportAssets& embedded_assets();

// reports/schema/result.schema.json as committed when the library was built.
std::string_view embedded_result_schema();

}  // namespace fpscope::reports
