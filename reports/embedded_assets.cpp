// reports/embedded_assets.cpp: the report's scripts, style and schema, pulled into the binary with the assembler's .incbin.
// .incbin keeps the 800 kB of minified Vega out of the C++ parser (a raw string
// literal that size is slow to compile and may not contain its own delimiter).
#include "reports/assets.h"

#ifndef FPSCOPE_REPORTS_SOURCE_DIR
#error "FPSCOPE_REPORTS_SOURCE_DIR must name reports/ in the source tree (reports/CMakeLists.txt)"
#endif

// Defines NAME_begin .. NAME_end (hidden, read-only) holding the file's bytes and a NUL.
#define FPSCOPE_INCBIN(name, path)                                                                \
  __asm__(".pushsection .rodata\n.balign 16\n.global " #name "_begin\n.hidden " #name "_begin\n" \
          #name "_begin:\n.incbin \"" path "\"\n.global " #name "_end\n.hidden " #name "_end\n"     \
          #name "_end:\n.byte 0\n.popsection\n");                                                 \
  extern "C" const char name##_begin[];                                                          \
  extern "C" const char name##_end[];

FPSCOPE_INCBIN(fpscope_report_js, FPSCOPE_REPORTS_SOURCE_DIR "/web/report.js")
FPSCOPE_INCBIN(fpscope_report_css, FPSCOPE_REPORTS_SOURCE_DIR "/web/report.css")
FPSCOPE_INCBIN(fpscope_result_schema, FPSCOPE_REPORTS_SOURCE_DIR "/schema/result.schema.json")
#if FPSCOPE_REPORTS_HAVE_BUNDLES
FPSCOPE_INCBIN(fpscope_vega_js, FPSCOPE_REPORTS_WEB_DIR "/node_modules/vega/build/vega.min.js")
FPSCOPE_INCBIN(fpscope_vega_lite_js, FPSCOPE_REPORTS_WEB_DIR "/node_modules/vega-lite/build/vega-lite.min.js")
FPSCOPE_INCBIN(fpscope_vega_embed_js, FPSCOPE_REPORTS_WEB_DIR "/node_modules/vega-embed/build/vega-embed.min.js")
#endif

namespace fpscope::reports {
namespace {
std::string_view bytes(const char* begin, const char* end) {
  return {begin, static_cast<std::size_t>(end - begin)};
}
}  // namespace

const ReportAssets& embedded_assets() {
  static const ReportAssets assets{
#if FPSCOPE_REPORTS_HAVE_BUNDLES
      bytes(fpscope_vega_js_begin, fpscope_vega_js_end),
      bytes(fpscope_vega_lite_js_begin, fpscope_vega_lite_js_end),
      bytes(fpscope_vega_embed_js_begin, fpscope_vega_embed_js_end),
#else
      {}, {}, {},
#endif
      bytes(fpscope_report_js_begin, fpscope_report_js_end),
      bytes(fpscope_report_css_begin, fpscope_report_css_end),
  };
  return assets;
}

std::string_view embedded_result_schema() {
  return bytes(fpscope_result_schema_begin, fpscope_result_schema_end);
}

}  // namespace fpscope::reports
