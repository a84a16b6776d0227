// reports/html_report.h: report.html: one self-contained file (result data, Vega bundles, script and style inlined).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "reports/assets.h"

namespace fpscope::reports {

// The whole page. `doc` is a result document already checked by
// check_result_document(). Nothing is fetched when it opens: every script and
// style is inlined and a Content-Security-Policy forbids network requests.
// Throws fpscope::Error when `assets` has no Vega bundles (a build without npm).
std::string html_report(const nlohmann::json& doc, const ReportAssets& assets = embedded_assets());

// `text` made safe inside <script>...</script>: every '<' written as \u003c,
// which JSON strings and JavaScript string literals both read back as '<'
// (HTML 5.2 section 4.12.1.3: "</script" and "<!--" must not appear).
std::string script_safe_json(const std::string& json_text);

// Text for HTML content or a quoted attribute (&, <, >, ", ').
std::string html_escape(const std::string& text);

}  // namespace fpscope::reports
