// core/scaling.h: the arithmetic of the scaling recipes (tensor, delayed, row, col, block, MX, NVFP4). No I/O.
//
// A recipe maps a group of source values (a tensor, a row, a column, an RxC
// block) to one scale chosen from the group's amax; each element is multiplied
// by the scale, rounded to the element format by the one rounding core
// (core/round.h encode), and the stored value times the decoding scale
// (scale_inv) is what the tensor then represents. The scales are themselves
// values of a format (fp32, e8m0, e4m3) and are rounded into it here.
// NUMERICS.md s6 lists the recipes; each function cites its source.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/config.h"
#include "core/format.h"
#include "core/round.h"

namespace fpscope {

enum class RecipeKind : std::uint8_t {
  none,     // the values as they are, the element format's own overflow policy
  tensor,   // current per-tensor scaling: scale = max_finite / (amax * 2^margin)
  delayed,  // Transformer Engine DelayedScaling: amax from the history of earlier steps
  row,      // one scale per row (torchao ROWWISE)
  col,      // one scale per column
  block,    // one scale per RxC block (DeepSeek-V3: 1x128 activations, 128x128 weights)
  mx,       // OCP MX v1.0: 1x32 blocks along the last dim, e8m0 power-of-two scale
  nvfp4,    // 1x16 blocks of e2m1, e4m3 block scale, fp32 per-tensor scale
};

// How delayed scaling reduces the amax history (TE DelayedScaling.amax_compute_algo).
enum class AmaxAlgo : std::uint8_t { max, most_recent };

// A recipe and its options. Parse one with parse_recipe(); the spec syntax is
//   none | tensor[:pow2][:margin=N] | delayed[:len=N][:algo=max|most_recent][:pow2][:margin=N]
//   | row[:pow2] | col[:pow2] | block:RxC[:pow2] | mx | nvfp4
struct Recipe {
  RecipeKind kind = RecipeKind::none;
  bool pow2_scale = false;  // round the scale down to a power of two (torchao round_scales_to_power_of_2)
  int margin = 0;           // TE margin: scale = max_finite / (amax * 2^margin)
  int history_len = 1024;   // delayed: amax_history_len (TE default 1024)
  AmaxAlgo amax_algo = AmaxAlgo::max;
  int block_rows = 1;       // block: R (mx, nvfp4: 1)
  int block_cols = 1;       // block: C (mx: 32, nvfp4: 16)

  friend constexpr bool operator==(const Recipe&, const Recipe&) = default;
};

// Throws fpscope::Error naming the spec and listing the valid recipes.
Recipe parse_recipe(std::string_view spec);
// The canonical spec (parse_recipe(recipe_name(r)) == r).
std::string recipe_name(const Recipe& r);
const char* recipe_kind_name(RecipeKind k);

// Whether a recipe can be used with an element format: mx needs one of the OCP
// MX v1.0 element formats (e4m3, e5m2, e3m2, e2m3, e2m1), nvfp4 needs e2m1;
// every other recipe applies to every signed format with a zero.
bool recipe_applies(const Recipe& r, const Format& element);

// The element format a recipe rounds into. Scaled recipes saturate (TE's FP8
// casts use satfinite; OCP MX v1.0 s6.3 "clamp to max normal"); `none` keeps
// the format's own overflow policy.
Format scaled_element_format(const Format& element, const Recipe& r);

// Storage bits per element, scales included, for a tensor of rows x cols
// (1-D: rows = 1): the element bits plus 32 bits per fp32 scale (tensor,
// delayed, row, col, block), 8 per 32 elements (mx), 8 per 16 elements plus
// one fp32 per tensor (nvfp4).
double bits_per_element(const Format& element, const Recipe& r, std::uint64_t rows, std::uint64_t cols);

// One scale: source * scale is rounded to the element format; stored * scale_inv
// is the value represented. `saturated` says that the ideal scale was outside
// its own format and was clamped; `underflowed` that a non-zero block's scale
// rounded to zero (nvfp4's e4m3 block scale).
struct Scale {
  double scale = 1.0;
  double scale_inv = 1.0;
  bool saturated = false;
  bool underflowed = false;
};

// The scale functions below are FPSCOPE_HD (host and device): the analysis
// engine calls them on the CPU and gpu/ calls the same code per block on the GPU.
namespace detail {
// (Functions, not constexpr variables: device code may not refer to host variables of class type.)
FPSCOPE_HD constexpr Format scale_fp32() { return Format{.exp_bits = 8, .man_bits = 23, .bias = 127}; }
// fp32 that saturates: scales beyond fp32's range are clamped, never inf.
FPSCOPE_HD constexpr Format scale_fp32_sat() {
  return Format{.exp_bits = 8, .man_bits = 23, .bias = 127, .overflow = Overflow::saturate};
}
// OFP8 E4M3 saturating, the NVFP4 block-scale format (satfinite conversion).
FPSCOPE_HD constexpr Format scale_e4m3_sat() {
  return Format{.exp_bits = 4, .man_bits = 3, .bias = 7, .specials = Specials::fn, .overflow = Overflow::saturate};
}
inline constexpr double kFp4Max = 6.0;      // e2m1 max finite (OCP MX v1.0 s5.3.3)
inline constexpr double kE4m3Max = 448.0;   // OFP8 rev 1.0 E4M3 max finite
FPSCOPE_HD inline double to_fp32(double x) { return quantize(x, scale_fp32_sat(), Rounding{}); }
}  // namespace detail

// tensor, delayed, row, col, block. TE (transformer_engine/common/recipe):
// scale = max_finite / (amax * 2^margin), rounded to fp32 (RNE); with pow2 rounded
// down to a power of two (torchao); amax == 0 or not finite gives scale 1 (TE
// keeps the previous scale; with no previous one it is 1). A scale beyond fp32's
// range is clamped to fp32's max finite (or min normal) and marked saturated.
// scale_inv = 1 / scale rounded to fp32, as TE stores it.
FPSCOPE_HD inline Scale amax_scale(double amax, const Format& element, const Recipe& r) {
  Scale s;
  if (!(amax > 0.0) || !std::isfinite(amax)) return s;
  const double ideal = detail::ldexp_exact(limits(element).max_finite / amax, -r.margin);
  const Encoded e = encode(ideal, detail::scale_fp32_sat(), Rounding{});
  s.scale = decode(e.bits, detail::scale_fp32_sat());
  if ((e.flags & kOverflow) != 0) s.saturated = true;
  if (s.scale == 0.0) {  // amax beyond fp32's reach (fp64 sources): the smallest fp32 scale
    s.scale = limits(detail::scale_fp32()).min_subnormal;
    s.saturated = true;
  }
  if (r.pow2_scale) {
    int exp = 0;
    (void)std::frexp(s.scale, &exp);  // scale in [2^(exp-1), 2^exp)
    s.scale = std::ldexp(1.0, exp - 1);
  }
  s.scale_inv = detail::to_fp32(1.0 / s.scale);
  return s;
}

// OCP MX v1.0 s6.3: X = 2^(floor(log2(amax)) - emax_elem), the exponent clamped
// to e8m0's [-127, 127] (clamping marks the scale saturated); amax == 0 gives
// X = 2^-127. scale = 1/X, scale_inv = X (both exact powers of two).
FPSCOPE_HD inline Scale mx_scale_for_emax(double amax, int element_emax) {
  Scale s;
  int shared_exp = -127;
  if (amax > 0.0 && std::isfinite(amax)) {
    shared_exp = std::ilogb(amax) - element_emax;
    if (shared_exp > 127 || shared_exp < -127) {
      s.saturated = true;
      shared_exp = std::clamp(shared_exp, -127, 127);
    }
  }
  s.scale = std::ldexp(1.0, -shared_exp);
  s.scale_inv = std::ldexp(1.0, shared_exp);
  return s;
}
FPSCOPE_HD inline Scale mx_scale(double amax, const Format& element) {
  return mx_scale_for_emax(amax, limits(element).emax);
}
// (mx_scale_for_emax: the same with limits(element).emax computed once by the caller.)

// NVFP4 (NVIDIA Transformer Engine / cuBLASLt convention): the fp32 per-tensor
// encode scale S_enc = (6 * 448) / tensor_amax (1 when amax is 0).
FPSCOPE_HD inline double nvfp4_tensor_scale(double tensor_amax) {
  if (!(tensor_amax > 0.0) || !std::isfinite(tensor_amax)) return 1.0;
  return detail::to_fp32(detail::kFp4Max * detail::kE4m3Max / tensor_amax);
}
// The block scale: S_dec_b = block_amax / 6 * S_enc rounded to e4m3 (RNE,
// saturating); elements are multiplied by fp32(S_enc / S_dec_b) and decoded
// with S_dec_b * fp32(1 / S_enc). A zero block scale gives zero elements.
FPSCOPE_HD inline Scale nvfp4_block_scale(double block_amax, double tensor_scale) {
  Scale s;
  const double ideal = detail::to_fp32(block_amax / detail::kFp4Max * tensor_scale);
  const Encoded e = encode(ideal, detail::scale_e4m3_sat(), Rounding{});
  const double stored = decode(e.bits, detail::scale_e4m3_sat());
  s.saturated = (e.flags & kOverflow) != 0;
  if (stored == 0.0) {
    s.underflowed = block_amax > 0.0;
    s.scale = 0.0;
    s.scale_inv = 0.0;
    return s;
  }
  s.scale = detail::to_fp32(tensor_scale / stored);
  s.scale_inv = stored * detail::to_fp32(1.0 / tensor_scale);
  return s;
}

// Rounds x * s.scale to the element format (already scaled_element_format) and
// returns the encoding; value = decode(bits) * s.scale_inv.
struct ScaledResult {
  double value = 0.0;
  Encoded encoded{};
};
FPSCOPE_FORCEINLINE ScaledResult quantize_scaled(double x, const Scale& s, const Format& element,
                                                Rounding rounding, std::uint32_t random) {
  ScaledResult out;
  out.encoded = encode(x * s.scale, element, rounding, random);
  out.value = decode(out.encoded.bits, element) * s.scale_inv;
  return out;
}

// Statistics of the scales a recipe chose for one tensor.
struct ScaleSummary {
  std::uint64_t count = 0;        // number of scales (groups)
  double scale_min = 0.0;         // over groups with a non-zero amax
  double scale_max = 0.0;
  double scale_inv_min = 0.0;
  double scale_inv_max = 0.0;
  std::uint64_t saturated = 0;    // scales clamped to their format's range
  std::uint64_t underflowed = 0;  // non-zero groups whose scale rounded to zero
};

// Quantizes a row-major rows x cols array (1-D: rows = 1) with a recipe, out of
// place: out[i] = the value element i represents. For delayed scaling pass the
// history's amax as `delayed_amax` (a negative value means no history: scale 1).
// SR draws element i's bits from sr_random_bits(seed, i). A reference
// implementation for tests and for the GEMM replay; the analysis engine
// streams the same arithmetic chunk by chunk.
ScaleSummary quantize_with_recipe(std::span<const double> in, std::span<double> out, std::uint64_t rows,
                                  std::uint64_t cols, const Format& element, const Recipe& r,
                                  Rounding rounding, std::uint64_t seed = 0, double delayed_amax = -1.0);

}  // namespace fpscope
