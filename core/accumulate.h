// core/accumulate.h: accumulation models of dot products and GEMMs (tensor-core multi-term adders, sequential and pairwise IEEE), their presets and spec strings.
//
// NUMERICS.md s4: a tensor core decodes its inputs (subnormals kept), forms exact
// products, takes a group of K products (plus the running sum c), aligns them to
// the group's largest exponent keeping F fraction bits, truncates what falls
// below (no sticky bit), adds exactly, normalises once and rounds the group's
// result to the accumulator format, which feeds the next group as c. The
// exponent convention is MMA-Sim's (microsoft/MMA-Sim, simulator/arithmetic.py):
// a value's exponent is max(floor(log2|v|), emin of its format), so a subnormal
// input keeps its format's emin and a product's exponent is the sum of its
// inputs' exponents (its significand lies in [0, 4)). DeepSeek-V3 s3.3.2 and
// CUTLASS add the promotion: every N_C products the partial sum is added into an
// fp32 accumulator with RNE and the tensor-core chain restarts from zero.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/format.h"
#include "core/round.h"

namespace fpscope {

// How the products of one dot product are summed.
enum class Summation : std::uint8_t {
  sequential,  // acc = round(acc + a_i * b_i), one product at a time (an FMA chain)
  pairwise,    // recursive halving (first half, second half), every sum rounded
  fused,       // groups of K products in one multi-term adder (NUMERICS.md s4)
};

// A dot-product engine (a named aggregate: every field says what it is).
struct AccumulationModel {
  Summation summation = Summation::fused;
  // false: each product is first rounded to the accumulator format with the
  // accumulator's rounding (an FMA-less multiply, as MMA-Sim's pairwise_dot).
  bool exact_products = true;
  // Fused only: K products summed by one multi-term adder.
  int group_size = 32;
  // Fused only: F fraction bits kept below the group's largest exponent.
  int fraction_bits = 13;
  // Fused only: Mode::rtz truncates the aligned products (the hardware's: no
  // sticky bit); Mode::rne rounds each to nearest, ties to even, instead.
  Mode alignment = Mode::rtz;
  // Fused only: integer bits of the multi-term adder above the unit 2^emax.
  // 0 = wide enough for any group; otherwise the sum wraps around modulo
  // 2^(F + 2 + carry_bits) in two's complement, as a narrower adder would
  // (Fasi et al.'s carry-out probe detects fewer than 3).
  int carry_bits = 0;
  // Fused only: c joins the group's alignment (true, the NVIDIA paths), or the
  // group's exact sum and c are added and rounded once afterwards (false).
  bool c_in_group = true;
  // The running sum's format and rounding (fused: each group's result).
  Format accumulator{};
  Rounding accumulator_rounding{};
  // Promotion interval N_C in products; 0 = never. Every N_C products the
  // partial sum is added into `promoted` and the chain restarts from 0.
  int promotion_interval = 0;
  Format promoted{};
  Rounding promoted_rounding{};

  friend bool operator==(const AccumulationModel&, const AccumulationModel&) = default;
};

// A named model with a one-line description of what it emulates and the source.
struct AccumulationPreset {
  std::string_view name;
  AccumulationModel model;
  std::string_view note;
};

// Every preset, in the order `fpscope gemm` lists them.
std::span<const AccumulationPreset> accumulation_presets();

// The preset with this name, or nullptr.
const AccumulationPreset* find_accumulation_preset(std::string_view name);

// Parses a preset name optionally followed by options, or a spec that starts
// with the summation: "fused:k=32:f=13:acc=e8m13:round=rtz:promote=128",
// "seq:acc=bf16:round=rne", "pairwise:acc=fp32:products=rounded",
// "nv-h100-fp8:promote=256". Options: k=, f=, align=rtz|rne, carry=, c=group|late,
// acc=FORMAT, round=MODE, products=exact|rounded, promote=N, promote-acc=FORMAT,
// promote-round=MODE. A format value takes its own options (acc=e5m10:nosub).
// Throws fpscope::Error naming the spec and what is wrong.
AccumulationModel parse_accumulation_model(std::string_view spec);

// The preset name when the model is a preset, otherwise its canonical spec.
std::string accumulation_model_name(const AccumulationModel& model);

// Throws fpscope::Error (naming `what`) if the model cannot be evaluated.
void validate(const AccumulationModel& model, std::string_view what);

// A dot product under `model`: sum_i a[i] * b[i] + c, with a's values in format
// fa and b's in fb (the operands' formats after scaling; their emin sets the
// exponent of subnormal inputs) and c a value of the accumulator format.
// Returns the result's value (a value of the accumulator format, or of the
// promoted format with promotion). Throws fpscope::Error when an operand is not
// a value of its format. This is the straightforward scalar implementation;
// model_gemm() takes faster paths that the tests check against it bit for bit.
double model_dot(const AccumulationModel& model, std::span<const double> a, const Format& fa,
                 std::span<const double> b, const Format& fb, double c = 0.0);

// Shapes of a GEMM in the layout nn.Linear uses (Y = X W^T): A is rows x depth,
// B is cols x depth, both row-major; out[i * cols + j] = dot(A row i, B row j).
struct GemmShape {
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t depth = 0;  // K of the reduction (not the group size)
};

// out = model_dot of every (row of A, row of B) pair with c = 0. `threads`
// splits rows (0 = hardware concurrency); results never depend on it.
void model_gemm(const AccumulationModel& model, std::span<const double> a, const Format& fa,
                std::span<const double> b, const Format& fb, GemmShape shape, std::span<double> out,
                int threads = 1);

// out = the exact dot products correctly rounded to binary64 (core/exact_dot.h).
void exact_gemm(std::span<const double> a, std::span<const double> b, GemmShape shape,
                std::span<double> out, int threads = 1);

}  // namespace fpscope
