// cli/common.h: small helpers several subcommands share (option lists, the bundled dump, flag names).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fpscope::cli {

// "a,b,c" -> {"a", "b", "c"}; an empty item is an error naming --`option`.
std::vector<std::string> split_list(const std::string& text, const char* option);

// The bundled dump: $FPSCOPE_DATA, else examples/data/tiny-gpt under the source tree.
std::string default_data_path();

// "inexact,underflow", or `none_text` when no flag is set.
std::string flags_text(std::uint8_t flags, const char* none_text);

}  // namespace fpscope::cli
