// analysis/gemm.cpp: the GEMM replay: operand quantization with one scale per row, the models, the exact references and the error split.
#include "analysis/gemm.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "core/error.h"
#include "core/round.h"

namespace fpscope {

double GemmErrorStats::rel_frobenius() const {
  if (error_sum_squares == 0.0) return 0.0;
  if (ref_sum_squares == 0.0) return std::numeric_limits<double>::infinity();
  return std::sqrt(error_sum_squares / ref_sum_squares);
}

double GemmErrorStats::sqnr_db() const {
  if (error_sum_squares == 0.0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(ref_sum_squares / error_sum_squares);
}

double rel_error_bin_lower_edge(int bin) {
  if (bin <= 1) return 0.0;
  return std::pow(10.0, bin - 12);
}

GemmErrorStats compare_products(std::span<const double> approx, std::span<const double> ref) {
  if (approx.size() != ref.size()) {
    throw Error("compare_products: sizes differ (" + std::to_string(approx.size()) + " and " +
                std::to_string(ref.size()) + ")");
  }
  GemmErrorStats s;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(approx[i]) || !std::isfinite(ref[i])) {
      ++s.nonfinite;
      continue;
    }
    ++s.count;
    const double err = approx[i] - ref[i];
    s.error_sum_squares += err * err;
    s.ref_sum_squares += ref[i] * ref[i];
    s.max_abs_error = std::max(s.max_abs_error, std::abs(err));
    if (err == 0.0) {
      ++s.rel_error_histogram[0];
      continue;
    }
    if (ref[i] == 0.0) {
      ++s.ref_zero;
      continue;
    }
    const double rel = std::abs(err) / std::abs(ref[i]);
    s.max_rel_error = std::max(s.max_rel_error, rel);
    int bin;
    if (rel < 1e-10) {
      bin = 1;
    } else if (rel >= 1.0) {
      bin = 12;
    } else {
      bin = std::clamp(static_cast<int>(std::floor(std::log10(rel))) + 12, 2, 11);
    }
    ++s.rel_error_histogram[static_cast<std::size_t>(bin)];
  }
  return s;
}

GemmFormats parse_gemm_formats(std::string_view spec) {
  GemmFormats f;
  f.name = std::string(spec);
  const std::size_t slash = spec.find('/');
  try {
    f.forward = parse_format(spec.substr(0, slash));
    f.gradient = slash == std::string_view::npos ? f.forward : parse_format(spec.substr(slash + 1));
  } catch (const Error& e) {
    throw Error("--formats '" + std::string(spec) + "': " + e.what());
  }
  return f;
}

Recipe parse_gemm_recipe(std::string_view spec) {
  Recipe r;
  try {
    r = parse_recipe(spec);
  } catch (const Error& e) {
    throw Error("--recipes '" + std::string(spec) + "': " + e.what());
  }
  if (r.kind != RecipeKind::none && r.kind != RecipeKind::tensor && r.kind != RecipeKind::row) {
    throw Error("--recipes '" + std::string(spec) +
                "': the GEMM replay takes recipes with one scale per row of each operand (none, tensor, row); "
                "block, mx and nvfp4 scales vary along the reduction and delayed scaling needs a history");
  }
  return r;
}

namespace {

std::vector<double> transpose(std::span<const double> m, std::size_t rows, std::size_t cols) {
  std::vector<double> t(m.size());
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t j = 0; j < cols; ++j) t[j * rows + i] = m[i * cols + j];
  }
  return t;
}

void check_size(std::span<const double> m, std::size_t rows, std::size_t cols, const char* what) {
  if (m.size() != rows * cols) {
    throw Error(std::string("gemm: ") + what + " has " + std::to_string(m.size()) + " elements, expected " +
                std::to_string(rows) + " x " + std::to_string(cols));
  }
}

// An operand quantized with one scale per row: the format values the model
// multiplies, the values they represent, and each row's decoding scale.
struct QuantizedOperand {
  std::vector<double> format_values;
  std::vector<double> represented;
  std::vector<double> scale_inv;  // per row
};

QuantizedOperand quantize_operand(std::span<const double> x, std::size_t rows, std::size_t depth,
                                  const Format& f, const Recipe& recipe, const Format& element) {
  QuantizedOperand q;
  q.format_values.resize(x.size());
  q.represented.resize(x.size());
  q.scale_inv.assign(rows, 1.0);
  std::vector<Scale> scales(rows);
  if (recipe.kind == RecipeKind::tensor) {
    double amax = 0.0;
    for (double v : x) amax = std::max(amax, std::abs(v));
    std::fill(scales.begin(), scales.end(), amax_scale(amax, f, recipe));
  } else if (recipe.kind == RecipeKind::row) {
    for (std::size_t i = 0; i < rows; ++i) {
      double amax = 0.0;
      for (std::size_t k = 0; k < depth; ++k) amax = std::max(amax, std::abs(x[i * depth + k]));
      scales[i] = amax_scale(amax, f, recipe);
    }
  }
  for (std::size_t i = 0; i < rows; ++i) {
    q.scale_inv[i] = scales[i].scale_inv;
    for (std::size_t k = 0; k < depth; ++k) {
      const ScaledResult r = quantize_scaled(x[i * depth + k], scales[i], element, Rounding{}, 0);
      q.format_values[i * depth + k] = decode(r.encoded.bits, element);
      q.represented[i * depth + k] = r.value;
    }
  }
  return q;
}

}  // namespace

GemmOperands forward_operands(std::span<const double> x, std::span<const double> w, std::size_t tokens,
                              std::size_t in, std::size_t out) {
  check_size(x, tokens, in, "the input X");
  check_size(w, out, in, "the weight W");
  return GemmOperands{std::vector<double>(x.begin(), x.end()), std::vector<double>(w.begin(), w.end()),
                      GemmShape{tokens, out, in}};
}

GemmOperands grad_input_operands(std::span<const double> dy, std::span<const double> w, std::size_t tokens,
                                 std::size_t in, std::size_t out) {
  check_size(dy, tokens, out, "the output gradient dY");
  check_size(w, out, in, "the weight W");
  return GemmOperands{std::vector<double>(dy.begin(), dy.end()), transpose(w, out, in), GemmShape{tokens, in, out}};
}

GemmOperands grad_weight_operands(std::span<const double> dy, std::span<const double> x, std::size_t tokens,
                                  std::size_t in, std::size_t out) {
  check_size(dy, tokens, out, "the output gradient dY");
  check_size(x, tokens, in, "the input X");
  return GemmOperands{transpose(dy, tokens, out), transpose(x, tokens, in), GemmShape{out, in, tokens}};
}

std::vector<std::size_t> sample_rows(GemmOperands& ops, std::size_t count, std::uint64_t seed) {
  std::vector<std::size_t> rows(ops.shape.rows);
  std::iota(rows.begin(), rows.end(), std::size_t{0});
  if (count == 0 || count >= ops.shape.rows) return rows;
  // A partial Fisher-Yates shuffle with a fixed generator: the same seed keeps the same rows.
  std::mt19937_64 rng(seed);
  for (std::size_t i = 0; i < count; ++i) {
    std::uniform_int_distribution<std::size_t> pick(i, rows.size() - 1);
    std::swap(rows[i], rows[pick(rng)]);
  }
  rows.resize(count);
  std::sort(rows.begin(), rows.end());
  const std::size_t depth = ops.shape.depth;
  std::vector<double> kept(count * depth);
  for (std::size_t i = 0; i < count; ++i) {
    std::copy_n(ops.a.begin() + static_cast<std::ptrdiff_t>(rows[i] * depth), depth,
                kept.begin() + static_cast<std::ptrdiff_t>(i * depth));
  }
  ops.a = std::move(kept);
  ops.shape.rows = count;
  return rows;
}

namespace {

void apply_scales(std::vector<double>& product, std::span<const double> a_scale_inv, std::span<const double> b_scale_inv,
                  std::size_t rows, std::size_t cols) {
  // The scales after the accumulation, as cuBLASLt applies scale_a * scale_b (here in binary64).
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t j = 0; j < cols; ++j) product[i * cols + j] *= a_scale_inv[i] * b_scale_inv[j];
  }
}

GemmModelAgreement agreement_of(std::span<const double> external, std::span<const double> model_product,
                                const std::optional<Format>& output_format, std::string model) {
  GemmModelAgreement g;
  g.model = std::move(model);
  for (std::size_t i = 0; i < model_product.size(); ++i) {
    double expected = model_product[i];
    if (output_format) expected = decode(encode(expected, *output_format, Rounding{}).bits, *output_format);
    ++g.outputs;
    if (std::bit_cast<std::uint64_t>(expected) == std::bit_cast<std::uint64_t>(external[i])) {
      ++g.bit_identical;
      continue;
    }
    const double diff = std::abs(external[i] - expected);
    const double rel = expected == 0.0 || std::isnan(diff) ? std::numeric_limits<double>::infinity() : diff / std::abs(expected);
    g.max_rel_diff = std::max(g.max_rel_diff, rel);
  }
  return g;
}

}  // namespace

GemmReplay replay_gemm(const GemmOperands& ops, const Format& fa, const Format& fb, const Recipe& recipe,
                       std::span<const AccumulationModel> models, int threads, const ExternalGemmProducts& external) {
  const GemmShape s = ops.shape;
  if (ops.a.size() != s.rows * s.depth || ops.b.size() != s.cols * s.depth) {
    throw Error("gemm: operand sizes do not match the shape");
  }
  GemmReplay r;
  r.shape = s;
  r.total_rows = s.rows;
  r.format_a = format_name(fa);
  r.format_b = format_name(fb);
  r.recipe = recipe_name(recipe);
  const Format ea = scaled_element_format(fa, recipe);
  const Format eb = scaled_element_format(fb, recipe);
  const QuantizedOperand qa = quantize_operand(ops.a, s.rows, s.depth, fa, recipe, ea);
  const QuantizedOperand qb = quantize_operand(ops.b, s.cols, s.depth, fb, recipe, eb);
  std::vector<double> reference(s.rows * s.cols);
  std::vector<double> quantized_exact(reference.size());
  exact_gemm(ops.a, ops.b, s, reference, threads);
  exact_gemm(qa.represented, qb.represented, s, quantized_exact, threads);
  r.input_quantization = compare_products(quantized_exact, reference);
  std::vector<double> product(reference.size());
  for (const AccumulationModel& m : models) {
    model_gemm(m, qa.format_values, ea, qb.format_values, eb, s, product, threads);
    apply_scales(product, qa.scale_inv, qb.scale_inv, s.rows, s.cols);
    GemmModelResult mr;
    mr.model = accumulation_model_name(m);
    mr.total = compare_products(product, reference);
    mr.accumulation = compare_products(product, quantized_exact);
    r.models.push_back(std::move(mr));
  }
  if (external) {
    const QuantizedGemm q{s, recipe, ea, eb, qa.format_values, qb.format_values, qa.scale_inv, qb.scale_inv};
    for (ExternalGemmProduct& e : external(q)) {
      if (e.product.size() != reference.size()) {
        throw Error("gemm: the external product '" + e.model + "' has " + std::to_string(e.product.size()) +
                    " outputs, expected " + std::to_string(s.rows) + " x " + std::to_string(s.cols));
      }
      GemmModelResult mr;
      mr.model = e.model;
      mr.total = compare_products(e.product, reference);
      mr.accumulation = compare_products(e.product, quantized_exact);
      if (!e.matching_model.empty()) {
        const AccumulationModel m = parse_accumulation_model(e.matching_model);
        model_gemm(m, qa.format_values, ea, qb.format_values, eb, s, product, threads);
        apply_scales(product, qa.scale_inv, qb.scale_inv, s.rows, s.cols);
        mr.agreement = agreement_of(e.product, product, e.output_format, accumulation_model_name(m));
      }
      r.models.push_back(std::move(mr));
    }
  }
  return r;
}

std::vector<KSweepPoint> k_sweep(const GemmOperands& ops, std::span<const std::size_t> depths, const Format& fa,
                                 const Format& fb, const Recipe& recipe,
                                 std::span<const AccumulationModel> models, int threads) {
  std::vector<KSweepPoint> points;
  for (std::size_t k : depths) {
    if (k == 0 || k > ops.shape.depth) {
      throw Error("k-sweep: K = " + std::to_string(k) + " is outside 1.." + std::to_string(ops.shape.depth));
    }
    GemmOperands sub;
    sub.shape = GemmShape{ops.shape.rows, ops.shape.cols, k};
    sub.a.resize(sub.shape.rows * k);
    sub.b.resize(sub.shape.cols * k);
    for (std::size_t i = 0; i < sub.shape.rows; ++i) {
      std::copy_n(ops.a.begin() + static_cast<std::ptrdiff_t>(i * ops.shape.depth), k,
                  sub.a.begin() + static_cast<std::ptrdiff_t>(i * k));
    }
    for (std::size_t j = 0; j < sub.shape.cols; ++j) {
      std::copy_n(ops.b.begin() + static_cast<std::ptrdiff_t>(j * ops.shape.depth), k,
                  sub.b.begin() + static_cast<std::ptrdiff_t>(j * k));
    }
    const GemmReplay r = replay_gemm(sub, fa, fb, recipe, models, threads);
    for (const GemmModelResult& mr : r.models) {
      points.push_back(KSweepPoint{k, mr.model, r.input_quantization, mr.accumulation, mr.total});
    }
  }
  return points;
}

GemmOperands synthetic_operands(GemmShape shape, double mean, std::uint64_t seed) {
  GemmOperands ops;
  ops.shape = shape;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(mean, 1.0);
  ops.a.resize(shape.rows * shape.depth);
  ops.b.resize(shape.cols * shape.depth);
  for (double& v : ops.a) v = normal(rng);
  for (double& v : ops.b) v = normal(rng);
  return ops;
}

namespace {
// JSON has no infinity: as in the result document (reports/schema/result.schema.json $defs/real), a
// value that is not finite is the string "inf", "-inf" or "nan" (an exact result's SQNR is "inf").
nlohmann::json json_real_value(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  return x;
}
}  // namespace

nlohmann::json to_json(const GemmErrorStats& s) {
  nlohmann::json edges = nlohmann::json::array();
  for (int b = 0; b < GemmErrorStats::kBins; ++b) edges.push_back(rel_error_bin_lower_edge(b));
  return {{"count", s.count},
          {"ref_zero", s.ref_zero},
          {"nonfinite", s.nonfinite},
          {"rel_frobenius", json_real_value(s.rel_frobenius())},
          {"max_rel_error", json_real_value(s.max_rel_error)},
          {"max_abs_error", json_real_value(s.max_abs_error)},
          {"sqnr_db", json_real_value(s.sqnr_db())},
          {"rel_error_histogram",
           {{"bins", "[0] exact, [1] below 1e-10, [2..11] decades from 1e-10 to 1, [12] 1 and above"},
            {"lower_edges", edges},
            {"counts", s.rel_error_histogram}}}};
}

nlohmann::json to_json(const GemmReplay& r) {
  nlohmann::json models = nlohmann::json::array();
  for (const GemmModelResult& m : r.models) {
    const double in = r.input_quantization.error_sum_squares;
    const double acc = m.accumulation.error_sum_squares;
    nlohmann::json model{{"model", m.model},
                         {"total", to_json(m.total)},
                         {"accumulation", to_json(m.accumulation)},
                         {"accumulation_energy_share", json_real_value(in + acc > 0 ? acc / (in + acc) : 0.0)}};
    if (m.agreement) {
      model["agreement"] = {{"model", m.agreement->model},
                            {"outputs", m.agreement->outputs},
                            {"bit_identical", m.agreement->bit_identical},
                            {"bit_identical_fraction", m.agreement->bit_identical_fraction()},
                            {"max_rel_diff", json_real_value(m.agreement->max_rel_diff)}};
    }
    models.push_back(std::move(model));
  }
  return {{"layer", r.layer},
          {"gemm", r.gemm},
          {"rows", r.shape.rows},
          {"cols", r.shape.cols},
          {"depth", r.shape.depth},
          {"sampling", {{"rows_kept", r.shape.rows}, {"rows_total", r.total_rows}, {"seed", r.seed}}},
          {"format_a", r.format_a},
          {"format_b", r.format_b},
          {"recipe", r.recipe},
          {"input_quantization", to_json(r.input_quantization)},
          {"models", models}};
}

nlohmann::json to_json(const KSweepPoint& p) {
  return {{"depth", p.depth},
          {"model", p.model},
          {"input_quantization", to_json(p.input_quantization)},
          {"accumulation", to_json(p.accumulation)},
          {"total", to_json(p.total)}};
}

}  // namespace fpscope
