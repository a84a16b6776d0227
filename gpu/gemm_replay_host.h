// gpu/gemm_replay_host.h: host side of the cuBLASLt replay of one GEMM that needs no CUDA: which element formats and recipes cuBLASLt takes, the variants, operand packing (encodings, zero padding, TN layout) and unpacking D.
//
// Compiled in every build (with or without nvcc) so tests/gpu checks the packing
// on the CPU. NUMERICS.md s5: cuBLASLt's FP8 GEMM on Hopper is TN only (A
// transposed), compute 32F, 16-byte aligned pointers and leading dimensions;
// A/B e4m3 x e4m3, e4m3 x e5m2 or e5m2 x e4m3 (not e5m2 x e5m2); per-tensor
// scales through A/B_SCALE_POINTER, applied after the accumulation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "analysis/gemm.h"
#include "core/format.h"
#include "core/scaling.h"

namespace fpscope::gpu::detail {

// The element types the replay hands to cuBLASLt.
enum class DeviceElement : std::uint8_t { e4m3, e5m2, bf16, fp16 };

// The device element whose values and encodings are those of `f` (the overflow
// policy aside: the replayed values are finite values of the format, so it never
// applies), or nothing.
std::optional<DeviceElement> device_element(const Format& f);
const char* device_element_name(DeviceElement e);
int device_element_bytes(DeviceElement e);
inline bool is_fp8(DeviceElement e) { return e == DeviceElement::e4m3 || e == DeviceElement::e5m2; }

// Why cuBLASLt cannot replay a GEMM of these operand formats under this recipe
// (one line naming the formats or the recipe), or "" when it can.
std::string device_gemm_unsupported(const Format& a, const Format& b, const Recipe& recipe);

// One cuBLASLt configuration of a replayed GEMM.
struct DeviceGemmVariant {
  std::string name;            // "gpu:cublaslt e4m3*e4m3 fp32-out fast-accum"
  DeviceElement a{}, b{};
  bool fast_accum = false;     // CUBLASLT_MATMUL_DESC_FAST_ACCUM (FP8 only)
  std::string matching_model;  // the core/accumulate.h preset it should reproduce
};

// FP8: promoted accumulation (matches nv-h100-fp8-promote128) and fast
// accumulation (nv-h100-fp8); bf16/fp16: one (nv-h100-hmma). Throws
// fpscope::Error with device_gemm_unsupported's reason.
std::vector<DeviceGemmVariant> device_gemm_variants(const Format& a, const Format& b, const Recipe& recipe);

// cuBLASLt's alignment (NUMERICS.md s5): K, and the leading dimensions M (of D)
// and K (of A and B), padded to multiples of 16 elements. Zero rows and zero
// columns add exact zero products, so the outputs kept are unchanged.
constexpr std::size_t kCublasLtPadding = 16;
constexpr std::size_t padded_extent(std::size_t n) { return (n + kCublasLtPadding - 1) / kCublasLtPadding * kCublasLtPadding; }

// A replayed GEMM's operands as cuBLASLt takes them: A is rows_padded rows of
// depth_padded encodings (the TN layout's K x M column-major, lda = depth_padded),
// B likewise (ldb = depth_padded); little-endian encodings, zero padding.
struct PackedGemmOperands {
  std::size_t rows = 0, cols = 0, depth = 0;  // the replay's M, N, K
  std::size_t rows_padded = 0, cols_padded = 0, depth_padded = 0;
  DeviceElement a_element{}, b_element{};
  std::vector<std::uint8_t> a, b;
  // The per-tensor decoding scales (fp32 values, as amax_scale stores them): the
  // FP8 A/B_SCALE_POINTER values. bf16/fp16 GEMMs run unscaled and the host
  // applies them to D in binary64, as replay_gemm does for its models.
  float a_scale_inv = 1.0f, b_scale_inv = 1.0f;
};

// Throws fpscope::Error when the formats or the recipe are unsupported, when the
// rows' scales differ (not a per-tensor scale), or when a value is not one of its
// element format's (the replay's values must encode exactly).
PackedGemmOperands pack_operands(const QuantizedGemm& q);

// D (rows_padded x cols_padded, column-major, ldd = rows_padded, fp32) to the
// replay's rows x cols row-major doubles, each multiplied by `scale`.
std::vector<double> unpack_product(std::span<const float> d, const PackedGemmOperands& p, double scale);

}  // namespace fpscope::gpu::detail
