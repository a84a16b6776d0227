// cli/common.cpp: helpers shared by the subcommands (see common.h).
#include "cli/common.h"

#include <cstdlib>
#include <filesystem>
#include <utility>

#include "core/error.h"
#include "core/round.h"

#ifndef FPSCOPE_SOURCE_DIR
#define FPSCOPE_SOURCE_DIR ""
#endif

namespace fpscope::cli {

std::vector<std::string> split_list(const std::string& text, const char* option) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) throw Error(std::string("--") + option + " '" + text + "': empty item in the comma-separated list");
    out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string default_data_path() {
  if (const char* env = std::getenv("FPSCOPE_DATA"); env != nullptr && *env != '\0') return env;
  const std::string bundled = std::string(FPSCOPE_SOURCE_DIR) + "/examples/data/tiny-gpt";
  if (std::string(FPSCOPE_SOURCE_DIR).empty() || !std::filesystem::exists(bundled)) {
    throw Error("no PATH given and the bundled dump examples/data/tiny-gpt was not found; set FPSCOPE_DATA or name a file");
  }
  return bundled;
}

std::string flags_text(std::uint8_t flags, const char* none_text) {
  std::string s;
  const std::pair<Flag, const char*> names[] = {
      {kInexact, "inexact"}, {kUnderflow, "underflow"}, {kOverflow, "overflow"}, {kInvalid, "invalid"}};
  for (const auto& [flag, name] : names) {
    if ((flags & flag) == 0) continue;
    if (!s.empty()) s += ',';
    s += name;
  }
  return s.empty() ? none_text : s;
}

}  // namespace fpscope::cli
