// cli/cmd_convert.cpp: `fpscope convert`: encode values in formats and show bits, fields, value, errors and flags.
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "core/format.h"
#include "core/random.h"
#include "core/round.h"
#include "core/rounding_spec.h"

namespace fpscope::cli {
namespace {

struct Options {
  std::vector<std::string> values;
  std::vector<std::string> formats;
  std::string rounding = "rne";
  std::uint64_t seed = 0;
  bool json = false;
};

// VALUE: decimal (correctly rounded to the nearest binary64 by std::from_chars),
// a C99 hex float (0x1.8p3, exact when it fits), inf, -inf, nan, with an optional sign.
double parse_value(const std::string& text) {
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  std::chars_format fmt = std::chars_format::general;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    fmt = std::chars_format::hex;
  }
  double v = 0.0;
  const char* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, v, fmt);
  if (s.empty() || ptr != end || (ec != std::errc() && ec != std::errc::result_out_of_range) ||
      (s[0] == '-' || s[0] == '+')) {
    throw Error("value '" + text + "': not a number (expected a decimal such as 3.14 or 1e-7, a hex float such as "
                "0x1.8p3, inf, -inf or nan)");
  }
  if (ec == std::errc::result_out_of_range) {
    // Beyond binary64's range: from_chars leaves v unset; strtod (C locale) gives
    // the correctly rounded inf or zero (or subnormal) and sets ERANGE.
    const std::string digits = (fmt == std::chars_format::hex ? "0x" : "") + std::string(s);
    v = std::strtod(digits.c_str(), nullptr);
  }
  return negative ? -v : v;
}

// The exact decimal expansion of a double (fmt prints exact digits for any
// precision), trimmed of trailing zeros: at most 767 significant digits. Fixed
// notation in [1e-5, 1e16), scientific outside, so no run of leading zeros.
std::string exact_decimal(double v) {
  if (!std::isfinite(v)) return fmt::format("{}", v);
  const double a = std::fabs(v);
  const bool fixed = a == 0.0 || (a >= 1e-5 && a < 1e16);
  std::string s = fixed ? fmt::format("{:.1100f}", v) : fmt::format("{:.770e}", v);
  const std::size_t e = fixed ? s.size() : s.find('e');
  std::string mantissa = s.substr(0, e);
  while (!mantissa.empty() && mantissa.back() == '0') mantissa.pop_back();
  if (!mantissa.empty() && mantissa.back() == '.') mantissa.pop_back();
  return mantissa + s.substr(e);
}

std::string binary_digits(std::uint64_t v, int width) {
  std::string s;
  for (int i = width - 1; i >= 0; --i) s += ((v >> i) & 1) ? '1' : '0';
  return s;
}

// The gap between consecutive values of f at the magnitude of the decoded value
// q: 2^(e - M) in the binade [2^e, 2^(e+1)), the subnormal spacing 2^(emin - M) below
// the normal range (Goldberg's ulp(q)).
double ulp_at(double q, const Format& f) {
  const FormatLimits l = limits(f);
  // Without subnormals the gap below the normal range is min normal itself (0 to 2^emin).
  if (std::fabs(q) < l.min_normal) return l.min_subnormal < l.min_normal ? l.min_subnormal : l.min_normal;
  int e = l.emin;
  if (std::isfinite(q)) {
    std::frexp(q, &e);
    e = std::max(e - 1, l.emin);
  }
  return std::ldexp(1.0, e - f.man_bits);
}

struct Conversion {
  std::string format;
  Encoded enc;
  int total_bits = 0;
  std::string sign, exponent, mantissa;
  double decoded = 0.0;
  double abs_error = 0.0, rel_error = 0.0, ulp_error = 0.0;
  double ulp = 0.0;
};

Conversion convert_one(double x, const std::string& spec, const Format& f, Rounding r, std::uint32_t random) {
  Conversion c;
  c.format = spec;
  c.enc = encode(x, f, r, random);
  c.total_bits = limits(f).total_bits;
  c.sign = f.is_signed ? std::string(1, (c.enc.bits & detail::sign_bit(f)) ? '1' : '0') : "";
  c.exponent = binary_digits((c.enc.bits >> f.man_bits) & detail::top_field(f), f.exp_bits);
  c.mantissa = binary_digits(c.enc.bits & detail::mantissa_ones(f), f.man_bits);
  c.decoded = decode(c.enc.bits, f);
  c.ulp = ulp_at(c.decoded, f);
  if (std::isnan(x) || std::isnan(c.decoded)) {
    c.abs_error = c.rel_error = c.ulp_error = std::nan("");
  } else if (c.decoded == x) {
    c.abs_error = c.rel_error = c.ulp_error = 0.0;  // includes inf == inf
  } else {
    c.abs_error = std::fabs(c.decoded - x);
    c.rel_error = c.abs_error / std::fabs(x);  // inf when x = 0 and the result is not (e8m0)
    c.ulp_error = c.abs_error / c.ulp;
  }
  return c;
}

std::string fields_text(const Conversion& c) {
  std::string s = c.sign;
  for (const std::string* part : {&c.exponent, &c.mantissa}) {
    if (part->empty()) continue;
    if (!s.empty()) s += ' ';
    s += *part;
  }
  return s;
}

std::string hex_bits(const Conversion& c) {
  return fmt::format("0x{:0{}x}", c.enc.bits, (c.total_bits + 3) / 4);
}

std::string error_text(double e) {
  if (std::isnan(e)) return "-";
  if (e == 0.0) return "0";
  return fmt::format("{:.4g}", e);
}

// JSON has no inf or NaN: those become the strings "inf", "-inf", "nan".
nlohmann::json json_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

void run(const Options& o) {
  const Rounding rounding = parse_rounding(o.rounding);
  std::vector<std::pair<std::string, Format>> formats;
  for (const std::string& spec : o.formats) formats.emplace_back(spec, parse_format(spec));
  std::vector<double> values;
  for (const std::string& text : o.values) values.push_back(parse_value(text));

  nlohmann::json json = nlohmann::json::array();
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double x = values[i];
    // Stochastic rounding draws the bits of value i as element i of an array would.
    const std::uint32_t random = sr_random_bits(o.seed, i);
    std::vector<Conversion> rows;
    for (const auto& [spec, f] : formats) rows.push_back(convert_one(x, spec, f, rounding, random));
    if (o.json) {
      for (const Conversion& c : rows) {
        nlohmann::json flags = nlohmann::json::array();
        for (const auto& [flag, name] : {std::pair{kInexact, "inexact"}, std::pair{kUnderflow, "underflow"},
                                         std::pair{kOverflow, "overflow"}, std::pair{kInvalid, "invalid"}}) {
          if (c.enc.flags & flag) flags.push_back(name);
        }
        json.push_back({
            {"input", o.values[i]},
            {"value", json_number(x)},
            {"value_hex", fmt::format("{:a}", x)},
            {"format", c.format},
            {"rounding", rounding_name(rounding)},
            {"bits", hex_bits(c)},
            {"sign", c.sign},
            {"exponent", c.exponent},
            {"mantissa", c.mantissa},
            {"decoded", json_number(c.decoded)},
            {"decoded_hex", fmt::format("{:a}", c.decoded)},
            {"abs_error", json_number(c.abs_error)},
            {"rel_error", json_number(c.rel_error)},
            {"ulp", json_number(c.ulp)},
            {"ulp_error", json_number(c.ulp_error)},
            {"flags", flags},
        });
      }
      continue;
    }
    if (i > 0) fmt::print("\n");
    const std::string exact = exact_decimal(x);
    // A decimal is shown with the exact value of its nearest double, the value converted.
    const bool hex = o.values[i].find_first_of("xX") != std::string::npos;
    fmt::print("{}  = binary64 {}{}\n", o.values[i], fmt::format("{:a}", x),
               exact == o.values[i] || hex || !std::isfinite(x) ? std::string() : " = " + exact);
    const std::vector<std::string> head{"format", "bits", "fields", "value", "abs error", "rel error", "ulp error",
                                        "flags"};
    std::vector<std::vector<std::string>> table;
    for (const Conversion& c : rows) {
      table.push_back({c.format, hex_bits(c), fields_text(c), fmt::format("{}", c.decoded), error_text(c.abs_error),
                       error_text(c.rel_error), error_text(c.ulp_error), flags_text(c.enc.flags, "-")});
    }
    std::vector<std::size_t> width(head.size());
    for (std::size_t col = 0; col < head.size(); ++col) {
      width[col] = head[col].size();
      for (const auto& r : table) width[col] = std::max(width[col], r[col].size());
    }
    auto print_row = [&](const std::vector<std::string>& cells) {
      std::string line = " ";
      for (std::size_t col = 0; col < cells.size(); ++col) {
        line += ' ';
        line += (col >= 3 && col <= 6) ? fmt::format("{:>{}}", cells[col], width[col])
                                       : fmt::format("{:<{}}", cells[col], width[col]);
        line += ' ';
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      fmt::print("{}\n", line);
    };
    print_row(head);
    for (const auto& r : table) print_row(r);
  }
  if (o.json) fmt::print("{}\n", json.dump(2));
}

}  // namespace

void add_convert_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "convert",
      "Encode values in formats: bits, fields, decoded value, errors, flags.\n"
      "Usage: fpscope convert VALUE... --to FORMAT[,FORMAT...] [--rounding MODE] [--seed S] [--json]\n"
      "VALUE: a decimal (3.14, -1e-7), a hex float (0x1.8p3), inf, -inf, nan");
  // VALUE... are taken from the arguments CLI11 leaves over, in order, so that
  // "-inf" and "-nan" (which CLI11 would read as short options) are values too.
  cmd->allow_extras();
  cmd->add_option("--to,-t", o->formats, "Formats, comma-separated: presets (see `fpscope formats`) or specs (e5m7)")
      ->required()
      ->allow_extra_args(false)  // one list per --to, so `--to fp16 3.14` leaves 3.14 a value
      ->delimiter(',');
  cmd->add_option("--rounding,-r", o->rounding, "Rounding mode: " + rounding_choices())->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the stochastic-rounding bits (value i uses element index i)")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Print a JSON array (one object per value and format)");
  cmd->footer(
      "A decimal VALUE is first rounded to the nearest binary64 (correctly rounded), and that double is\n"
      "what is converted; the header line of each value shows it exactly. ulp error = |decoded - value| / ulp,\n"
      "with ulp the format's gap at the decoded value.\n"
      "\nExamples:\n"
      "  fpscope convert 3.14 --to fp16,bf16,e4m3,e5m2\n"
      "  fpscope convert 0x1.8p3 1e-7 -inf nan --to e4m3fnuz,e2m1 --rounding rtz\n"
      "  fpscope convert 0.1 --to e5m7,e4m3:bias=9:nosub:sat=inf --json\n"
      "  fpscope convert 1.0625 --to bf16 --rounding sr:8 --seed 42\n");
  cmd->callback([o, cmd, &exit_code] {
    o->values = cmd->remaining();
    for (const std::string& v : o->values) {
      if (v.starts_with("--")) throw Error("convert: unknown option '" + v + "' (see fpscope convert --help)");
    }
    if (o->values.empty()) throw Error("convert: no VALUE given (e.g. fpscope convert 3.14 --to fp16)");
    run(*o);
    exit_code = 0;
  });
}

}  // namespace fpscope::cli
