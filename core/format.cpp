// core/format.cpp: the preset table, the format spec parser and validation.
#include "core/format.h"

#include <array>
#include <charconv>
#include <string>
#include <vector>

#include "core/error.h"

namespace fpscope {
namespace {

constexpr Format ieee(int e, int m, int bias) {
  return Format{.exp_bits = e, .man_bits = m, .bias = bias};
}

// Each preset: E, M, bias and the inf/NaN policy, as NUMERICS.md s1 tabulates them.
constexpr std::array kPresets{
    Preset{"fp64", ieee(11, 52, 1023), "IEEE 754 binary64"},
    Preset{"fp32", ieee(8, 23, 127), "IEEE 754 binary32"},
    Preset{"tf32", ieee(8, 10, 127), "NVIDIA TensorFloat-32 (19 bits)"},
    Preset{"bf16", ieee(8, 7, 127), "bfloat16"},
    Preset{"fp16", ieee(5, 10, 15), "IEEE 754 binary16"},
    // OFP8 rev 1.0 E5M2: IEEE-like, inf = S.11111.00, max 0b0'11110'11 = 57344.
    Preset{"e5m2", ieee(5, 2, 15), "OCP FP8 E5M2"},
    // OFP8 rev 1.0 E4M3: no inf, NaN only S.1111.111, max 0b0'1111'110 = 448.
    Preset{"e4m3",
           Format{.exp_bits = 4, .man_bits = 3, .bias = 7, .specials = Specials::fn,
                  .overflow = Overflow::nan},
           "OCP FP8 E4M3 (= e4m3fn)"},
    // ml_dtypes float8_e4m3fnuz: bias 8, no inf, no -0, NaN = 0b1'0000'000.
    Preset{"e4m3fnuz",
           Format{.exp_bits = 4, .man_bits = 3, .bias = 8, .specials = Specials::fnuz,
                  .overflow = Overflow::nan},
           "AMD/Graphcore FP8 E4M3 (fnuz)"},
    // ml_dtypes float8_e5m2fnuz: bias 16, no inf, no -0, NaN = 0b1'00000'00.
    Preset{"e5m2fnuz",
           Format{.exp_bits = 5, .man_bits = 2, .bias = 16, .specials = Specials::fnuz,
                  .overflow = Overflow::nan},
           "AMD/Graphcore FP8 E5M2 (fnuz)"},
    // ml_dtypes float8_e3m4: IEEE-like, bias 3, max 0b0'110'1111 = 15.5.
    Preset{"e3m4", ieee(3, 4, 3), "FP8 E3M4 (IEEE-like)"},
    // OCP MX v1.0 s5.3.2 FP6 E2M3: bias 1, no inf/NaN, max 0b0'11'111 = 7.5.
    Preset{"e2m3",
           Format{.exp_bits = 2, .man_bits = 3, .bias = 1, .specials = Specials::none,
                  .overflow = Overflow::saturate},
           "OCP MX FP6 E2M3"},
    // OCP MX v1.0 s5.3.2 FP6 E3M2: bias 3, no inf/NaN, max 0b0'111'11 = 28.
    Preset{"e3m2",
           Format{.exp_bits = 3, .man_bits = 2, .bias = 3, .specials = Specials::none,
                  .overflow = Overflow::saturate},
           "OCP MX FP6 E3M2"},
    // OCP MX v1.0 s5.3.3 FP4 E2M1: bias 1, no inf/NaN, max 0b0'11'1 = 6.
    Preset{"e2m1",
           Format{.exp_bits = 2, .man_bits = 1, .bias = 1, .specials = Specials::none,
                  .overflow = Overflow::saturate},
           "OCP MX FP4 E2M1"},
    // OCP MX v1.0 s5.4.1 E8M0: unsigned, bias 127, no zero, NaN = 0b1111'1111, max 2^127.
    Preset{"e8m0",
           Format{.exp_bits = 8, .man_bits = 0, .bias = 127, .is_signed = false,
                  .specials = Specials::fn, .subnormals = false, .overflow = Overflow::nan,
                  .has_zero = false},
           "OCP MX scale E8M0"},
};

struct Alias {
  std::string_view alias;
  std::string_view name;
};
constexpr std::array kAliases{
    Alias{"e4m3fn", "e4m3"},      Alias{"float64", "fp64"},  Alias{"float32", "fp32"},
    Alias{"float16", "fp16"},     Alias{"half", "fp16"},     Alias{"bfloat16", "bf16"},
    Alias{"fp8_e4m3", "e4m3"},    Alias{"fp8_e5m2", "e5m2"}, Alias{"fp6_e2m3", "e2m3"},
    Alias{"fp6_e3m2", "e3m2"},    Alias{"fp4_e2m1", "e2m1"}, Alias{"fp4", "e2m1"},
};

std::string preset_list() {
  std::string list;
  for (const Preset& p : kPresets) {
    if (!list.empty()) list += ", ";
    list += p.name;
  }
  return list;
}

[[noreturn]] void fail(std::string_view spec, const std::string& why) {
  throw Error("format '" + std::string(spec) + "': " + why);
}

int parse_int(std::string_view spec, std::string_view text, std::string_view what) {
  int value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) {
    fail(spec, "'" + std::string(text) + "' is not an integer " + std::string(what));
  }
  return value;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}


}  // namespace

std::span<const Preset> presets() { return kPresets; }

const Preset* find_preset(std::string_view name) {
  for (const Alias& a : kAliases) {
    if (a.alias == name) {
      name = a.name;
      break;
    }
  }
  for (const Preset& p : kPresets) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

void validate(const Format& f, std::string_view what) {
  if (f.exp_bits < 1 || f.exp_bits > 11) fail(what, "exponent bits must be 1..11");
  if (f.man_bits < 0 || f.man_bits > 52) fail(what, "mantissa bits must be 0..52");
  if (f.specials == Specials::ieee && f.man_bits == 0) {
    fail(what, "ieee specials need at least one mantissa bit to tell inf from NaN");
  }
  if (f.specials == Specials::ieee && f.exp_bits < 2) {
    fail(what, "ieee specials need at least two exponent bits");
  }
  if (f.specials == Specials::fnuz && !f.is_signed) fail(what, "fnuz needs a sign bit");
  if (f.specials == Specials::fnuz && !f.has_zero) fail(what, "fnuz needs a zero");
  if (f.overflow == Overflow::inf && f.specials != Specials::ieee) {
    fail(what, "sat=inf needs ieee specials (this format has no infinity)");
  }
  if (f.overflow == Overflow::nan && f.specials == Specials::none) {
    fail(what, "sat=nan needs a NaN encoding (specials=none has none)");
  }
  const ExponentRange r = exponent_range(f);
  if (r.emax < r.emin) fail(what, "no normal numbers: the exponent range is empty");
  // Every value must be exact in binary64 so decode() and the statistics stay exact.
  if (r.emax > 1023) fail(what, "largest value exceeds binary64's range (lower the exponent bits or raise the bias)");
  const int smallest = (f.subnormals && f.has_zero) ? r.emin - f.man_bits : r.emin;
  if (smallest < -1074) fail(what, "smallest value is below binary64's (raise the exponent bits or lower the bias)");
}

Format parse_format(std::string_view spec) {
  const std::vector<std::string_view> parts = split(spec, ':');
  const std::string_view base = parts.front();
  Format f;
  if (const Preset* p = find_preset(base)) {
    f = p->format;
  } else if (base.size() >= 4 && base[0] == 'e' && base.find('m') != std::string_view::npos) {
    const std::size_t m = base.find('m');
    f.exp_bits = parse_int(spec, base.substr(1, m - 1), "of exponent bits");
    f.man_bits = parse_int(spec, base.substr(m + 1), "of mantissa bits");
    if (f.exp_bits < 1 || f.exp_bits > 11) fail(spec, "exponent bits must be 1..11");
    f.bias = (1 << (f.exp_bits - 1)) - 1;
    f.specials = Specials::ieee;
    f.overflow = Overflow::inf;
    // Formats too narrow for IEEE specials default to all-finite (like OCP MX FP4/FP6).
    if (f.man_bits == 0 || f.exp_bits < 2) {
      f.specials = Specials::none;
      f.overflow = Overflow::saturate;
    }
  } else {
    fail(spec, "unknown format; expected a preset (" + preset_list() +
                   ") or eXmY with options, e.g. e5m7 or e4m3:bias=9:nosub:sat=inf");
  }
  bool overflow_given = false;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const std::string_view opt = parts[i];
    const std::size_t eq = opt.find('=');
    const std::string_view key = opt.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view{} : opt.substr(eq + 1);
    if (key == "bias" && !value.empty()) {
      f.bias = parse_int(spec, value, "for bias");
    } else if (key == "nosub" && value.empty()) {
      f.subnormals = false;
    } else if (key == "sub" && value.empty()) {
      f.subnormals = true;
    } else if (key == "unsigned" && value.empty()) {
      f.is_signed = false;
    } else if (key == "nozero" && value.empty()) {
      f.has_zero = false;
      f.subnormals = false;
    } else if (key == "sat") {
      overflow_given = true;
      if (value.empty() || value == "finite" || value == "satfinite") {
        f.overflow = Overflow::saturate;
      } else if (value == "inf") {
        f.overflow = Overflow::inf;
      } else if (value == "nan") {
        f.overflow = Overflow::nan;
      } else {
        fail(spec, "unknown sat='" + std::string(value) + "'; expected finite, inf or nan");
      }
    } else if (key == "specials") {
      if (value == "ieee") {
        f.specials = Specials::ieee;
      } else if (value == "fn") {
        f.specials = Specials::fn;
      } else if (value == "fnuz") {
        f.specials = Specials::fnuz;
      } else if (value == "none") {
        f.specials = Specials::none;
      } else {
        fail(spec, "unknown specials='" + std::string(value) + "'; expected ieee, fn, fnuz or none");
      }
      if (!overflow_given) {
        f.overflow = f.specials == Specials::ieee   ? Overflow::inf
                     : f.specials == Specials::none ? Overflow::saturate
                                                    : Overflow::nan;
      }
    } else {
      fail(spec, "unknown option '" + std::string(opt) +
                     "'; expected bias=N, sub, nosub, unsigned, nozero, sat[=finite|inf|nan], "
                     "specials=ieee|fn|fnuz|none");
    }
  }
  validate(f, spec);
  return f;
}

std::string format_name(const Format& f) {
  for (const Preset& p : kPresets) {
    if (p.format == f) return std::string(p.name);
  }
  // Start from the generic eXmY default and add what differs.
  const std::string base = "e" + std::to_string(f.exp_bits) + "m" + std::to_string(f.man_bits);
  Format d = parse_format(base);
  std::string name = base;
  if (f.specials != d.specials) {
    constexpr std::array names{"ieee", "fn", "fnuz", "none"};
    name += std::string(":specials=") + names[static_cast<int>(f.specials)];
    d.specials = f.specials;
    d.overflow = f.specials == Specials::ieee   ? Overflow::inf
                 : f.specials == Specials::none ? Overflow::saturate
                                                : Overflow::nan;
  }
  if (f.bias != d.bias) name += ":bias=" + std::to_string(f.bias);
  if (!f.is_signed) name += ":unsigned";
  if (!f.has_zero) name += ":nozero";
  if (f.has_zero && f.subnormals != d.subnormals) name += f.subnormals ? ":sub" : ":nosub";
  if (f.overflow != d.overflow) {
    constexpr std::array names{"finite", "inf", "nan"};
    name += std::string(":sat=") + names[static_cast<int>(f.overflow)];
  }
  return name;
}

}  // namespace fpscope
