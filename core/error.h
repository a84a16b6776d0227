// core/error.h: the one exception type for user errors (bad file, unknown format, bad option).
#pragma once

#include <stdexcept>
#include <string>

namespace fpscope {

// A user error. The message names the file, tensor or argument and says what is
// wrong; the CLI prints it on one line and exits 2 (STYLE.md convention 5).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace fpscope
