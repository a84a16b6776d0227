// analysis/format_table.cpp: the preset table as JSON (see format_table.h).
#include "analysis/format_table.h"

#include <fmt/format.h>

namespace fpscope {

const char* specials_name(Specials s) {
  switch (s) {
    case Specials::ieee: return "ieee";
    case Specials::fn: return "fn";
    case Specials::fnuz: return "fnuz";
    case Specials::none: return "none";
  }
  return "?";
}

const char* overflow_name(Overflow o) {
  switch (o) {
    case Overflow::saturate: return "saturate";
    case Overflow::inf: return "inf";
    case Overflow::nan: return "nan";
  }
  return "?";
}

// nlohmann::json writes doubles with 17 significant digits at most, enough to
// round-trip; the C99 hex-float strings beside them are exact by construction.
nlohmann::json preset_json(const Preset& p) {
  const Format& f = p.format;
  const FormatLimits l = limits(f);
  return nlohmann::json{
      {"name", p.name},
      {"spec", format_name(f)},
      {"note", p.note},
      {"bits", l.total_bits},
      {"exp_bits", f.exp_bits},
      {"man_bits", f.man_bits},
      {"bias", f.bias},
      {"signed", f.is_signed},
      {"specials", specials_name(f.specials)},
      {"subnormals", l.min_subnormal < l.min_normal},
      {"overflow", overflow_name(f.overflow)},
      {"has_zero", f.has_zero},
      {"has_inf", l.has_inf},
      {"has_nan", l.has_nan},
      {"has_negative_zero", l.has_negative_zero},
      {"precision", l.precision},
      {"emin", l.emin},
      {"emax", l.emax},
      {"max_finite", l.max_finite},
      {"max_finite_hex", fmt::format("{:a}", l.max_finite)},
      {"min_normal", l.min_normal},
      {"min_normal_hex", fmt::format("{:a}", l.min_normal)},
      {"min_subnormal", l.min_subnormal},
      {"min_subnormal_hex", fmt::format("{:a}", l.min_subnormal)},
      {"epsilon", l.epsilon},
      {"epsilon_hex", fmt::format("{:a}", l.epsilon)},
      {"finite_count", l.finite_count},
      {"decimal_digits", l.decimal_digits},
      {"binades", l.binades},
  };
}

nlohmann::json format_table_json() {
  nlohmann::json out = nlohmann::json::array();
  for (const Preset& p : presets()) out.push_back(preset_json(p));
  return out;
}

}  // namespace fpscope
