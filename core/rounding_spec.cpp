// core/rounding_spec.cpp: the rounding-mode spec parser and printer.
#include "core/rounding_spec.h"

#include <array>
#include <charconv>
#include <utility>

#include "core/error.h"

namespace fpscope {
namespace {

constexpr std::array<std::pair<std::string_view, Mode>, 7> kModes{{
    {"rne", Mode::rne},
    {"rna", Mode::rna},
    {"rtz", Mode::rtz},
    {"rup", Mode::rup},
    {"rdn", Mode::rdn},
    {"rto", Mode::rto},
    {"sr", Mode::sr},
}};
constexpr int kMaxSrBits = 32;  // round_pack draws one 32-bit word per element

[[noreturn]] void fail(std::string_view spec, const std::string& why) {
  throw Error("rounding mode '" + std::string(spec) + "': " + why + "; valid modes: " + rounding_choices());
}

}  // namespace

std::string rounding_choices() {
  std::string s;
  for (const auto& [name, mode] : kModes) {
    s += std::string(name) + ", ";
  }
  return s + "sr:N (N = 1.." + std::to_string(kMaxSrBits) + " random bits)";
}

Rounding parse_rounding(std::string_view spec) {
  const std::size_t colon = spec.find(':');
  const std::string_view name = spec.substr(0, colon);
  for (const auto& [mode_name, mode] : kModes) {
    if (name != mode_name) continue;
    Rounding r{.mode = mode};
    if (colon == std::string_view::npos) return r;
    if (mode != Mode::sr) fail(spec, "only sr takes a number of random bits");
    const std::string_view digits = spec.substr(colon + 1);
    int bits = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || bits < 1 ||
        bits > kMaxSrBits) {
      fail(spec, "the number of random bits must be an integer from 1 to " + std::to_string(kMaxSrBits));
    }
    r.sr_bits = bits;
    return r;
  }
  fail(spec, spec.empty() ? "empty" : "unknown");
}

std::vector<Rounding> parse_rounding_list(std::string_view specs) {
  std::vector<Rounding> out;
  for (std::size_t start = 0;;) {
    const std::size_t comma = specs.find(',', start);
    out.push_back(parse_rounding(specs.substr(start, comma == std::string_view::npos ? comma : comma - start)));
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

std::string rounding_name(Rounding r) {
  for (const auto& [name, mode] : kModes) {
    if (mode != r.mode) continue;
    if (mode == Mode::sr && r.sr_bits != kMaxSrBits) return "sr:" + std::to_string(r.sr_bits);
    return std::string(name);
  }
  return "?";
}

}  // namespace fpscope
