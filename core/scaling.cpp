// core/scaling.cpp: recipe parsing, scale choice for every recipe, and the reference recipe quantizer.
#include "core/scaling.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/random.h"

namespace fpscope {
namespace {

constexpr std::string_view kRecipeChoices =
    "none, tensor[:pow2][:margin=N], delayed[:len=N][:algo=max|most_recent][:pow2][:margin=N], "
    "row[:pow2], col[:pow2], block:RxC[:pow2], mx, nvfp4";

[[noreturn]] void bad_recipe(std::string_view spec, std::string_view why) {
  throw Error("recipe '" + std::string(spec) + "': " + std::string(why) + " (valid recipes: " +
              std::string(kRecipeChoices) + ")");
}

int parse_int(std::string_view spec, std::string_view text, std::string_view what, int lo, int hi) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < lo || value > hi) {
    bad_recipe(spec, std::string(what) + " must be an integer in [" + std::to_string(lo) + ", " +
                         std::to_string(hi) + "], got '" + std::string(text) + "'");
  }
  return value;
}

bool same_encoding(const Format& a, const Format& b) {
  return a.exp_bits == b.exp_bits && a.man_bits == b.man_bits && a.bias == b.bias &&
         a.specials == b.specials && a.is_signed == b.is_signed && a.subnormals == b.subnormals &&
         a.has_zero == b.has_zero;
}

bool is_mx_element(const Format& f) {
  for (const char* name : {"e4m3", "e5m2", "e3m2", "e2m3", "e2m1"}) {
    if (same_encoding(f, find_preset(name)->format)) return true;
  }
  return false;
}

std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

}  // namespace

const char* recipe_kind_name(RecipeKind k) {
  switch (k) {
    case RecipeKind::none: return "none";
    case RecipeKind::tensor: return "tensor";
    case RecipeKind::delayed: return "delayed";
    case RecipeKind::row: return "row";
    case RecipeKind::col: return "col";
    case RecipeKind::block: return "block";
    case RecipeKind::mx: return "mx";
    case RecipeKind::nvfp4: return "nvfp4";
  }
  return "?";
}

Recipe parse_recipe(std::string_view spec) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t colon = spec.find(':', start);
    parts.push_back(spec.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  Recipe r;
  const std::string_view kind = parts[0];
  std::size_t next = 1;
  if (kind == "none") {
    r.kind = RecipeKind::none;
  } else if (kind == "tensor") {
    r.kind = RecipeKind::tensor;
  } else if (kind == "delayed") {
    r.kind = RecipeKind::delayed;
  } else if (kind == "row") {
    r.kind = RecipeKind::row;
  } else if (kind == "col") {
    r.kind = RecipeKind::col;
  } else if (kind == "block") {
    r.kind = RecipeKind::block;
    if (parts.size() < 2) bad_recipe(spec, "block needs a size RxC, e.g. block:1x128");
    const std::string_view size = parts[1];
    const std::size_t x = size.find('x');
    if (x == std::string_view::npos) bad_recipe(spec, "block size must be RxC, e.g. 128x128");
    r.block_rows = parse_int(spec, size.substr(0, x), "block rows", 1, 1 << 20);
    r.block_cols = parse_int(spec, size.substr(x + 1), "block cols", 1, 1 << 20);
    next = 2;
  } else if (kind == "mx") {
    r.kind = RecipeKind::mx;
    r.block_cols = 32;  // OCP MX v1.0 s5: k = 32
  } else if (kind == "nvfp4") {
    r.kind = RecipeKind::nvfp4;
    r.block_cols = 16;
  } else {
    bad_recipe(spec, "unknown recipe '" + std::string(kind) + "'");
  }
  const bool has_amax_options = r.kind != RecipeKind::none && r.kind != RecipeKind::mx && r.kind != RecipeKind::nvfp4;
  for (; next < parts.size(); ++next) {
    const std::string_view opt = parts[next];
    if (has_amax_options && opt == "pow2") {
      r.pow2_scale = true;
    } else if (has_amax_options && opt.starts_with("margin=")) {
      r.margin = parse_int(spec, opt.substr(7), "margin", -64, 64);
    } else if (r.kind == RecipeKind::delayed && opt.starts_with("len=")) {
      r.history_len = parse_int(spec, opt.substr(4), "len", 1, 1 << 20);
    } else if (r.kind == RecipeKind::delayed && opt == "algo=max") {
      r.amax_algo = AmaxAlgo::max;
    } else if (r.kind == RecipeKind::delayed && opt == "algo=most_recent") {
      r.amax_algo = AmaxAlgo::most_recent;
    } else {
      bad_recipe(spec, "unknown option '" + std::string(opt) + "' for recipe " + recipe_kind_name(r.kind));
    }
  }
  return r;
}

std::string recipe_name(const Recipe& r) {
  std::string name = recipe_kind_name(r.kind);
  if (r.kind == RecipeKind::block) {
    name += ":" + std::to_string(r.block_rows) + "x" + std::to_string(r.block_cols);
  }
  if (r.kind == RecipeKind::delayed) {
    if (r.history_len != Recipe{}.history_len) name += ":len=" + std::to_string(r.history_len);
    if (r.amax_algo == AmaxAlgo::most_recent) name += ":algo=most_recent";
  }
  if (r.pow2_scale) name += ":pow2";
  if (r.margin != 0) name += ":margin=" + std::to_string(r.margin);
  return name;
}

bool recipe_applies(const Recipe& r, const Format& element) {
  switch (r.kind) {
    case RecipeKind::mx:
      return is_mx_element(element);
    case RecipeKind::nvfp4:
      return same_encoding(element, find_preset("e2m1")->format);
    case RecipeKind::none:
      return true;
    default:
      return element.is_signed && element.has_zero;
  }
}

Format scaled_element_format(const Format& element, const Recipe& r) {
  if (r.kind == RecipeKind::none) return element;
  Format f = element;
  f.overflow = Overflow::saturate;
  return f;
}

double bits_per_element(const Format& element, const Recipe& r, std::uint64_t rows, std::uint64_t cols) {
  const double element_bits = limits(element).total_bits;
  const std::uint64_t n = rows * cols;
  if (n == 0) return element_bits;
  double scale_bits = 0.0;
  switch (r.kind) {
    case RecipeKind::none:
      break;
    case RecipeKind::tensor:
    case RecipeKind::delayed:
      scale_bits = 32.0;
      break;
    case RecipeKind::row:
      scale_bits = 32.0 * static_cast<double>(rows);
      break;
    case RecipeKind::col:
      scale_bits = 32.0 * static_cast<double>(cols);
      break;
    case RecipeKind::block:
      scale_bits = 32.0 * static_cast<double>(ceil_div(rows, static_cast<std::uint64_t>(r.block_rows)) *
                                              ceil_div(cols, static_cast<std::uint64_t>(r.block_cols)));
      break;
    case RecipeKind::mx:
      scale_bits = 8.0 * static_cast<double>(rows * ceil_div(cols, 32));
      break;
    case RecipeKind::nvfp4:
      scale_bits = 8.0 * static_cast<double>(rows * ceil_div(cols, 16)) + 32.0;
      break;
  }
  return element_bits + scale_bits / static_cast<double>(n);
}

ScaleSummary quantize_with_recipe(std::span<const double> in, std::span<double> out, std::uint64_t rows,
                                  std::uint64_t cols, const Format& element, const Recipe& r,
                                  Rounding rounding, std::uint64_t seed, double delayed_amax) {
  if (in.size() != out.size() || in.size() != rows * cols) {
    throw Error("quantize_with_recipe: " + std::to_string(in.size()) + " inputs, " +
                std::to_string(out.size()) + " outputs for a " + std::to_string(rows) + "x" +
                std::to_string(cols) + " array");
  }
  const Format f = scaled_element_format(element, r);
  ScaleSummary summary;
  bool first = true;
  auto note_scale = [&](const Scale& s, bool has_values) {
    ++summary.count;
    summary.saturated += s.saturated ? 1 : 0;
    summary.underflowed += s.underflowed ? 1 : 0;
    if (!has_values) return;
    if (first) {
      summary.scale_min = summary.scale_max = s.scale;
      summary.scale_inv_min = summary.scale_inv_max = s.scale_inv;
      first = false;
    } else {
      summary.scale_min = std::min(summary.scale_min, s.scale);
      summary.scale_max = std::max(summary.scale_max, s.scale);
      summary.scale_inv_min = std::min(summary.scale_inv_min, s.scale_inv);
      summary.scale_inv_max = std::max(summary.scale_inv_max, s.scale_inv);
    }
  };
  auto amax_of = [&](std::uint64_t r0, std::uint64_t r1, std::uint64_t c0, std::uint64_t c1) {
    double amax = 0.0;
    for (std::uint64_t i = r0; i < r1; ++i) {
      for (std::uint64_t j = c0; j < c1; ++j) {
        const double a = std::fabs(in[i * cols + j]);
        if (std::isfinite(a)) amax = std::max(amax, a);
      }
    }
    return amax;
  };
  auto apply = [&](const Scale& s, std::uint64_t r0, std::uint64_t r1, std::uint64_t c0, std::uint64_t c1) {
    for (std::uint64_t i = r0; i < r1; ++i) {
      for (std::uint64_t j = c0; j < c1; ++j) {
        const std::uint64_t k = i * cols + j;
        const std::uint32_t random = rounding.mode == Mode::sr ? sr_random_bits(seed, k) : 0;
        out[k] = quantize_scaled(in[k], s, f, rounding, random).value;
      }
    }
  };
  // Group geometry: R x C blocks (0 = the whole extent).
  std::uint64_t R = rows;
  std::uint64_t C = cols;
  double tensor_scale = 1.0;
  switch (r.kind) {
    case RecipeKind::none:
      apply(Scale{}, 0, rows, 0, cols);
      return summary;
    case RecipeKind::delayed: {
      const Scale s = delayed_amax < 0.0 ? Scale{} : amax_scale(delayed_amax, element, r);
      note_scale(s, amax_of(0, rows, 0, cols) > 0.0);
      apply(s, 0, rows, 0, cols);
      return summary;
    }
    case RecipeKind::tensor:
      break;
    case RecipeKind::row:
      R = 1;
      break;
    case RecipeKind::col:
      C = 1;
      break;
    case RecipeKind::block:
      R = static_cast<std::uint64_t>(r.block_rows);
      C = static_cast<std::uint64_t>(r.block_cols);
      break;
    case RecipeKind::mx:
    case RecipeKind::nvfp4:
      R = 1;
      C = static_cast<std::uint64_t>(r.block_cols);
      if (r.kind == RecipeKind::nvfp4) tensor_scale = nvfp4_tensor_scale(amax_of(0, rows, 0, cols));
      break;
  }
  R = std::max<std::uint64_t>(R, 1);
  C = std::max<std::uint64_t>(C, 1);
  for (std::uint64_t r0 = 0; r0 < rows; r0 += R) {
    const std::uint64_t r1 = std::min(rows, r0 + R);
    for (std::uint64_t c0 = 0; c0 < cols; c0 += C) {
      const std::uint64_t c1 = std::min(cols, c0 + C);
      const double amax = amax_of(r0, r1, c0, c1);
      Scale s;
      if (r.kind == RecipeKind::mx) {
        s = mx_scale(amax, element);
      } else if (r.kind == RecipeKind::nvfp4) {
        s = nvfp4_block_scale(amax, tensor_scale);
      } else {
        s = amax_scale(amax, element, r);
      }
      note_scale(s, amax > 0.0);
      apply(s, r0, r1, c0, c1);
    }
  }
  return summary;
}

}  // namespace fpscope
