// gpu/gemm_replay_host.cpp: the cuBLASLt replay's host side: supported formats and recipes, variants, operand packing and D unpacking.
#include "gpu/gemm_replay_host.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/round.h"
#include "gpu/fpscope_gpu.h"

namespace fpscope::gpu::detail {
namespace {

constexpr const char* kWhat = "gemm --device gpu";

// Everything of a Format but its overflow policy: replayed values are finite,
// so saturation (scaled_element_format) never changes an encoding.
bool same_values(const Format& f, const Format& preset) {
  Format g = f;
  g.overflow = preset.overflow;
  return g == preset;
}

Format preset_of(DeviceElement e) { return parse_format(device_element_name(e)); }

}  // namespace

std::optional<DeviceElement> device_element(const Format& f) {
  for (DeviceElement e : {DeviceElement::e4m3, DeviceElement::e5m2, DeviceElement::bf16, DeviceElement::fp16}) {
    if (same_values(f, preset_of(e))) return e;
  }
  return std::nullopt;
}

const char* device_element_name(DeviceElement e) {
  switch (e) {
    case DeviceElement::e4m3: return "e4m3";
    case DeviceElement::e5m2: return "e5m2";
    case DeviceElement::bf16: return "bf16";
    case DeviceElement::fp16: return "fp16";
  }
  return "?";
}

int device_element_bytes(DeviceElement e) { return is_fp8(e) ? 1 : 2; }

std::string device_gemm_unsupported(const Format& a, const Format& b, const Recipe& recipe) {
  if (recipe.kind != RecipeKind::tensor) {
    return std::string(kWhat) + ": recipe '" + recipe_name(recipe) +
           "' cannot replay on the device: cuBLASLt's FP8 GEMM takes one scale per operand (A/B_SCALE_POINTER), "
           "so only per-tensor recipes (tensor[:pow2][:margin=N]) run there";
  }
  const std::optional<DeviceElement> ea = device_element(a), eb = device_element(b);
  const std::string pair = format_name(a) + "*" + format_name(b);
  if (!ea || !eb) {
    return std::string(kWhat) + ": formats " + pair +
           ": cuBLASLt multiplies e4m3, e5m2 (FP8), bf16 and fp16 operands only";
  }
  if (is_fp8(*ea) != is_fp8(*eb) || (!is_fp8(*ea) && *ea != *eb)) {
    return std::string(kWhat) + ": formats " + pair +
           ": cuBLASLt takes two FP8 operands, or two operands of the same 16-bit format";
  }
  if (*ea == DeviceElement::e5m2 && *eb == DeviceElement::e5m2) {
    return std::string(kWhat) + ": formats " + pair +
           ": cuBLASLt has no e5m2 x e5m2 GEMM (NUMERICS.md s5: e4m3 x e4m3, e4m3 x e5m2, e5m2 x e4m3)";
  }
  return "";
}

std::vector<DeviceGemmVariant> device_gemm_variants(const Format& a, const Format& b, const Recipe& recipe) {
  if (const std::string why = device_gemm_unsupported(a, b, recipe); !why.empty()) throw Error(why);
  const DeviceElement ea = *device_element(a), eb = *device_element(b);
  const std::string stem = std::string("gpu:cublaslt ") + device_element_name(ea) + "*" + device_element_name(eb) + " fp32-out";
  if (!is_fp8(ea)) return {DeviceGemmVariant{stem, ea, eb, false, "nv-h100-hmma"}};
  // FAST_ACCUM off: cuBLASLt promotes the wgmma partial sums into fp32 (CUTLASS
  // GmmaFP8Accumulation, every 4 k32 MMAs = 128 products); on: never (NUMERICS.md s4).
  return {DeviceGemmVariant{stem, ea, eb, false, "nv-h100-fp8-promote128"},
          DeviceGemmVariant{stem + " fast-accum", ea, eb, true, "nv-h100-fp8"}};
}

namespace {

// `rows` rows of `depth` values into rows_padded x depth_padded little-endian encodings.
std::vector<std::uint8_t> pack_rows(std::span<const double> values, std::size_t rows, std::size_t depth,
                                    std::size_t rows_padded, std::size_t depth_padded, const Format& element,
                                    DeviceElement device, const char* operand) {
  const Format preset = preset_of(device);
  const auto bytes = static_cast<std::size_t>(device_element_bytes(device));
  std::vector<std::uint8_t> out(rows_padded * depth_padded * bytes, 0);  // +0 encodes as all-zero bits in all four
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t k = 0; k < depth; ++k) {
      const double v = values[i * depth + k];
      const Encoded e = encode(v, preset, Rounding{});
      if (e.flags != 0 || !std::isfinite(v)) {
        throw Error(std::string(kWhat) + ": operand " + operand + " element (" + std::to_string(i) + ", " +
                    std::to_string(k) + ") = " + std::to_string(v) + " is not a finite value of " + format_name(element));
      }
      const std::size_t at = (i * depth_padded + k) * bytes;
      out[at] = static_cast<std::uint8_t>(e.bits & 0xFF);
      if (bytes == 2) out[at + 1] = static_cast<std::uint8_t>((e.bits >> 8) & 0xFF);
    }
  }
  return out;
}

float per_tensor_scale(std::span<const double> scale_inv, const char* operand) {
  if (scale_inv.empty()) return 1.0f;
  for (double s : scale_inv) {
    if (s != scale_inv[0]) {
      throw Error(std::string(kWhat) + ": operand " + operand +
                  " has different scales per row; cuBLASLt's FP8 GEMM takes one per-tensor scale");
    }
  }
  const auto f = static_cast<float>(scale_inv[0]);
  if (static_cast<double>(f) != scale_inv[0]) {
    throw Error(std::string(kWhat) + ": operand " + operand + " scale " + std::to_string(scale_inv[0]) +
                " is not an fp32 value (A/B_SCALE_POINTER are fp32)");
  }
  return f;
}

}  // namespace

PackedGemmOperands pack_operands(const QuantizedGemm& q) {
  const std::vector<DeviceGemmVariant> variants = device_gemm_variants(q.a_element, q.b_element, q.recipe);
  const GemmShape s = q.shape;
  if (q.a.size() != s.rows * s.depth || q.b.size() != s.cols * s.depth || q.a_scale_inv.size() != s.rows ||
      q.b_scale_inv.size() != s.cols) {
    throw Error(std::string(kWhat) + ": the quantized operands do not match the shape " + std::to_string(s.rows) +
                " x " + std::to_string(s.cols) + " x " + std::to_string(s.depth));
  }
  PackedGemmOperands p;
  p.rows = s.rows;
  p.cols = s.cols;
  p.depth = s.depth;
  p.rows_padded = padded_extent(s.rows);
  p.cols_padded = padded_extent(s.cols);
  p.depth_padded = padded_extent(s.depth);
  p.a_element = variants.front().a;
  p.b_element = variants.front().b;
  p.a_scale_inv = per_tensor_scale(q.a_scale_inv, "A");
  p.b_scale_inv = per_tensor_scale(q.b_scale_inv, "B");
  p.a = pack_rows(q.a, s.rows, s.depth, p.rows_padded, p.depth_padded, q.a_element, p.a_element, "A");
  p.b = pack_rows(q.b, s.cols, s.depth, p.cols_padded, p.depth_padded, q.b_element, p.b_element, "B");
  return p;
}

std::vector<double> unpack_product(std::span<const float> d, const PackedGemmOperands& p, double scale) {
  if (d.size() != p.rows_padded * p.cols_padded) {
    throw Error(std::string(kWhat) + ": D has " + std::to_string(d.size()) + " elements, expected " +
                std::to_string(p.rows_padded) + " x " + std::to_string(p.cols_padded));
  }
  std::vector<double> out(p.rows * p.cols);
  for (std::size_t i = 0; i < p.rows; ++i) {
    for (std::size_t j = 0; j < p.cols; ++j) out[i * p.cols + j] = static_cast<double>(d[i + j * p.rows_padded]) * scale;
  }
  return out;
}

}  // namespace fpscope::gpu::detail

namespace fpscope::gpu {
std::string gemm_replay_unsupported(const Format& a, const Format& b, const Recipe& recipe) {
  return detail::device_gemm_unsupported(a, b, recipe);
}
}  // namespace fpscope::gpu
