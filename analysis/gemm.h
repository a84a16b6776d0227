// analysis/gemm.h: GEMM replay on captured linear layers: quantize the operands, multiply with each accumulation model, and split the error into input quantization and accumulation.
//
// For an nn.Linear with captured input X, weight W and output gradient dY
// (python/fpscope/capture.py names them <layer>:input, <layer>.weight,
// <layer>:grad_output) the three GEMMs of training are replayed in the layout
// core/accumulate.h takes (both operands with the reduction dimension last):
//   forward  Y  = X W^T     A = X   (tokens x in),  B = W   (out x in)
//   dX       dX = dY W      A = dY  (tokens x out), B = W^T (in x out)
//   dW       dW = dY^T X    A = dY^T (out x tokens), B = X^T (in x tokens)
// Against the fp64 product of the original operands (the exact dot products
// rounded once to binary64), the error of a model's result is split into
//   input quantization: exact product of the quantized operands vs the reference,
//   accumulation:       the model's result vs the exact product of the quantized operands.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/accumulate.h"
#include "core/format.h"
#include "core/scaling.h"

namespace fpscope {

// Error of `approx` against `ref`, element by element. Relative errors are over
// elements with ref != 0; the histogram bins log10 of the relative error.
struct GemmErrorStats {
  // Bins: [0] exact (zero error); [1] below 1e-10; [2 + d] for
  // [10^(d-10), 10^(d-9)), d = 0..9; [12] 1 and above.
  static constexpr int kBins = 13;
  std::uint64_t count = 0;          // elements compared
  std::uint64_t ref_zero = 0;       // elements with ref == 0 and an error (no relative error)
  std::uint64_t nonfinite = 0;      // elements where either side is inf or NaN (left out)
  double ref_sum_squares = 0.0;     // sum ref^2
  double error_sum_squares = 0.0;   // sum (approx - ref)^2
  double max_abs_error = 0.0;
  double max_rel_error = 0.0;
  std::array<std::uint64_t, kBins> rel_error_histogram{};

  double rel_frobenius() const;  // ||approx - ref||_F / ||ref||_F (0 when both are 0)
  double sqnr_db() const;        // 10 log10(sum ref^2 / sum error^2); +inf when exact
};

GemmErrorStats compare_products(std::span<const double> approx, std::span<const double> ref);

// The lower edge of histogram bin i (0 for bins 0 and 1), for reports.
double rel_error_bin_lower_edge(int bin);

// Operand formats: X and W in `forward`, dY in `gradient` (FP8 training's
// e4m3 forward / e5m2 backward). Spec "e4m3/e5m2", or "e4m3" for both.
struct GemmFormats {
  Format forward{};
  Format gradient{};
  std::string name;  // as given
};
GemmFormats parse_gemm_formats(std::string_view spec);

// The recipes the models can replay: one scale per GEMM row (none, tensor,
// row). Recipes whose scale varies along the reduction (block, mx, nvfp4)
// would need the scales inside the dot product; they are refused with a
// message that says so. Delayed scaling needs a history and is refused too.
Recipe parse_gemm_recipe(std::string_view spec);

// One GEMM's operands, reduction dimension last: A is rows x depth, B is cols x depth.
struct GemmOperands {
  std::vector<double> a;
  std::vector<double> b;
  GemmShape shape;
};

// The three GEMMs of a linear layer from X (tokens x in), W (out x in) and dY (tokens x out).
GemmOperands forward_operands(std::span<const double> x, std::span<const double> w, std::size_t tokens,
                              std::size_t in, std::size_t out);
GemmOperands grad_input_operands(std::span<const double> dy, std::span<const double> w, std::size_t tokens,
                                 std::size_t in, std::size_t out);
GemmOperands grad_weight_operands(std::span<const double> dy, std::span<const double> x, std::size_t tokens,
                                  std::size_t in, std::size_t out);

// Keeps `count` rows of A chosen uniformly without replacement by a generator
// seeded with `seed` (sorted; all rows when count is 0 or >= rows). Returns the
// kept row indices.
std::vector<std::size_t> sample_rows(GemmOperands& ops, std::size_t count, std::uint64_t seed);

// How an external product (ExternalGemmProduct) compares, output by output,
// with the CPU model it should reproduce, multiplied from the same quantized operands.
struct GemmModelAgreement {
  std::string model;               // the CPU model (accumulation_model_name)
  std::uint64_t outputs = 0;
  std::uint64_t bit_identical = 0; // outputs equal bit for bit (after rounding the model's to output_format)
  double max_rel_diff = 0.0;       // max |external - model| / |model|; inf where model is 0 and they differ
  double bit_identical_fraction() const { return outputs == 0 ? 0.0 : static_cast<double>(bit_identical) / static_cast<double>(outputs); }
};

struct GemmModelResult {
  std::string model;
  GemmErrorStats total;         // model vs the fp64 reference
  GemmErrorStats accumulation;  // model vs the exact product of the quantized operands
  std::optional<GemmModelAgreement> agreement;  // external products with a matching model only
};

// A replayed GEMM's operands after quantization, exactly as replay_gemm's models
// take them: the element values (decoded encodings) and each row's decoding scale.
struct QuantizedGemm {
  GemmShape shape;
  Recipe recipe{};
  Format a_element{};  // scaled_element_format of A's format (the values of `a` are values of it)
  Format b_element{};
  std::span<const double> a;  // rows x depth
  std::span<const double> b;  // cols x depth
  std::span<const double> a_scale_inv;  // per row of A (the same value in every row under `tensor`)
  std::span<const double> b_scale_inv;  // per row of B
};

// A product of a QuantizedGemm computed outside the CPU models: gpu/'s cuBLASLt
// replay, which the CLI passes in as a callback so that analysis/ does not depend on gpu/.
struct ExternalGemmProduct {
  std::string model;            // its name in the results; says where it ran
  std::vector<double> product;  // rows x cols, row-major, decoding scales applied
  // An accumulation model spec (parse_accumulation_model) it should reproduce;
  // replay_gemm multiplies the same operands with it and fills `agreement`. Empty: none.
  std::string matching_model;
  // The format the external outputs are stored in (fp32 for cuBLASLt's D): the
  // model's product is rounded to it (RNE) before the bit comparison. Unset: compared as is.
  std::optional<Format> output_format;
};
using ExternalGemmProducts = std::function<std::vector<ExternalGemmProduct>(const QuantizedGemm&)>;

struct GemmReplay {
  std::string layer;
  std::string gemm;  // "forward", "grad_input" or "grad_weight"
  GemmShape shape;   // after sampling
  std::size_t total_rows = 0;  // rows of A before sampling
  std::uint64_t seed = 0;
  std::string format_a;
  std::string format_b;
  std::string recipe;
  GemmErrorStats input_quantization;  // exact quantized product vs the fp64 reference
  std::vector<GemmModelResult> models;
};

// Quantizes A with (fa, recipe) and B with (fb, recipe) (RNE, one scale per
// row of each operand for `row`, one per operand for `tensor`), multiplies with
// each model (scales applied to the model's result in binary64, as cuBLASLt
// applies its scale_a * scale_b after the accumulation) and compares.
// `external`, when given, is called once with the quantized operands; each product
// it returns is appended to `models` and compared like a model's.
GemmReplay replay_gemm(const GemmOperands& ops, const Format& fa, const Format& fb, const Recipe& recipe,
                       std::span<const AccumulationModel> models, int threads = 1,
                       const ExternalGemmProducts& external = {});

// Error growth with the reduction length: for each K in `depths`, the first K
// columns of the operands (which must have depth >= K).
struct KSweepPoint {
  std::size_t depth = 0;
  std::string model;
  GemmErrorStats input_quantization;
  GemmErrorStats accumulation;
  GemmErrorStats total;
};
std::vector<KSweepPoint> k_sweep(const GemmOperands& ops, std::span<const std::size_t> depths, const Format& fa,
                                 const Format& fb, const Recipe& recipe,
                                 std::span<const AccumulationModel> models, int threads = 1);

// Synthetic operands: N(mean, 1) values, rows x depth and cols x depth, seeded.
GemmOperands synthetic_operands(GemmShape shape, double mean, std::uint64_t seed);

nlohmann::json to_json(const GemmErrorStats& s);
nlohmann::json to_json(const GemmReplay& r);
nlohmann::json to_json(const KSweepPoint& p);

}  // namespace fpscope
