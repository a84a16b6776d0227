// tests/gpu/test_gemm_replay.cpp: gpu/gemm_replay_host.h (formats, recipes, variants, operand packing, D unpacking) on the CPU, and on a device replay_gemm_on_device against the fp64 product and the CPU models.
//
// Without FPSCOPE_GPU_DEVICE_TESTS (label unit) only the host side runs; with it
// (label gpu) the device tests skip visibly ("skipped: no CUDA device") without one.
#include "gpu/gemm_replay_host.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "analysis/gemm.h"
#include "core/accumulate.h"
#include "core/error.h"
#include "core/round.h"
#include "core/scaling.h"
#include "gpu/fpscope_gpu.h"
#include "tests/gpu/require_device.h"

namespace fpscope::gpu {
namespace {

Recipe tensor() { return parse_recipe("tensor"); }

// The operands replay_gemm would hand the hook, built here from values that are
// already element values (so the packing has an independent expectation).
struct OwnedQuantizedGemm {
  std::vector<double> a, b, a_scale_inv, b_scale_inv;
  QuantizedGemm view(GemmShape s, const Format& fa, const Format& fb, const Recipe& r) const {
    return QuantizedGemm{s, r, fa, fb, a, b, a_scale_inv, b_scale_inv};
  }
};

#ifndef FPSCOPE_GPU_DEVICE_TESTS

TEST(gemm_replay_host, device_elements_ignore_only_the_overflow_policy) {
  using detail::DeviceElement;
  EXPECT_EQ(detail::device_element(parse_format("e4m3")), DeviceElement::e4m3);
  // replay_gemm's element formats saturate (scaled_element_format): the same encodings.
  EXPECT_EQ(detail::device_element(scaled_element_format(parse_format("e4m3"), tensor())), DeviceElement::e4m3);
  EXPECT_EQ(detail::device_element(scaled_element_format(parse_format("e5m2"), tensor())), DeviceElement::e5m2);
  EXPECT_EQ(detail::device_element(parse_format("bfloat16")), DeviceElement::bf16);
  EXPECT_EQ(detail::device_element(parse_format("fp16")), DeviceElement::fp16);
  EXPECT_FALSE(detail::device_element(parse_format("e4m3fnuz")).has_value());  // other bias and NaN
  EXPECT_FALSE(detail::device_element(parse_format("e4m3:nosub")).has_value());
  EXPECT_FALSE(detail::device_element(parse_format("e3m2")).has_value());
  EXPECT_FALSE(detail::device_element(parse_format("fp32")).has_value());
}

TEST(gemm_replay_host, unsupported_recipes_and_formats_say_why) {
  const Format e4m3 = parse_format("e4m3"), e5m2 = parse_format("e5m2"), bf16 = parse_format("bf16");
  EXPECT_EQ(gemm_replay_unsupported(e4m3, e4m3, tensor()), "");
  EXPECT_EQ(gemm_replay_unsupported(e5m2, e4m3, parse_recipe("tensor:pow2")), "");
  EXPECT_EQ(gemm_replay_unsupported(e4m3, e5m2, tensor()), "");
  EXPECT_EQ(gemm_replay_unsupported(bf16, bf16, tensor()), "");
  EXPECT_EQ(gemm_replay_unsupported(e4m3, e4m3, parse_recipe("row")),
            "gemm --device gpu: recipe 'row' cannot replay on the device: cuBLASLt's FP8 GEMM takes one scale per "
            "operand (A/B_SCALE_POINTER), so only per-tensor recipes (tensor[:pow2][:margin=N]) run there");
  EXPECT_NE(gemm_replay_unsupported(e4m3, e4m3, parse_recipe("none")).find("recipe 'none' cannot replay"),
            std::string::npos);
  EXPECT_EQ(gemm_replay_unsupported(e5m2, e5m2, tensor()),
            "gemm --device gpu: formats e5m2*e5m2: cuBLASLt has no e5m2 x e5m2 GEMM (NUMERICS.md s5: e4m3 x e4m3, "
            "e4m3 x e5m2, e5m2 x e4m3)");
  EXPECT_EQ(gemm_replay_unsupported(bf16, e4m3, tensor()),
            "gemm --device gpu: formats bf16*e4m3: cuBLASLt takes two FP8 operands, or two operands of the same "
            "16-bit format");
  EXPECT_EQ(gemm_replay_unsupported(parse_format("e3m2"), e4m3, tensor()),
            "gemm --device gpu: formats e3m2*e4m3: cuBLASLt multiplies e4m3, e5m2 (FP8), bf16 and fp16 operands only");
}

TEST(gemm_replay_host, variants_name_the_device_and_their_matching_model) {
  const auto fp8 = detail::device_gemm_variants(parse_format("e5m2"), parse_format("e4m3"), tensor());
  ASSERT_EQ(fp8.size(), 2u);
  EXPECT_EQ(fp8[0].name, "gpu:cublaslt e5m2*e4m3 fp32-out");
  EXPECT_FALSE(fp8[0].fast_accum);
  EXPECT_EQ(fp8[0].matching_model, "nv-h100-fp8-promote128");
  EXPECT_EQ(fp8[1].name, "gpu:cublaslt e5m2*e4m3 fp32-out fast-accum");
  EXPECT_TRUE(fp8[1].fast_accum);
  EXPECT_EQ(fp8[1].matching_model, "nv-h100-fp8");
  // The matching models are presets (replay_gemm parses them).
  for (const auto& v : fp8) EXPECT_NE(find_accumulation_preset(v.matching_model), nullptr) << v.matching_model;
  const auto half = detail::device_gemm_variants(parse_format("fp16"), parse_format("fp16"), tensor());
  ASSERT_EQ(half.size(), 1u);
  EXPECT_EQ(half[0].name, "gpu:cublaslt fp16*fp16 fp32-out");
  EXPECT_EQ(half[0].matching_model, "nv-h100-hmma");
  EXPECT_NE(find_accumulation_preset(half[0].matching_model), nullptr);
  try {
    detail::device_gemm_variants(parse_format("e5m2"), parse_format("e5m2"), tensor());
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no e5m2 x e5m2 GEMM"), std::string::npos) << e.what();
  }
}

TEST(gemm_replay_host, padding_rounds_up_to_sixteen) {
  EXPECT_EQ(detail::padded_extent(0), 0u);
  EXPECT_EQ(detail::padded_extent(1), 16u);
  EXPECT_EQ(detail::padded_extent(16), 16u);
  EXPECT_EQ(detail::padded_extent(17), 32u);
  EXPECT_EQ(detail::padded_extent(4100), 4112u);
}

// Known encodings (OCP FP8 v1.0 table; bf16 = the top half of binary32), row
// layout with K padded by zeros, and the per-tensor scales.
TEST(gemm_replay_host, packing_writes_the_encodings_in_the_tn_layout_with_zero_padding) {
  const GemmShape s{2, 3, 20};
  OwnedQuantizedGemm o;
  o.a.assign(s.rows * s.depth, 0.0);
  o.b.assign(s.cols * s.depth, 0.0);
  o.a[0] = 448.0;    // e4m3 0b0'1111'110 = 0x7E
  o.a[1] = -0.0;     // 0x80
  o.a[20 + 19] = -1.0;  // row 1, k 19: 0b1'0111'000 = 0xB8
  o.a[20 + 5] = std::ldexp(1.0, -9);  // the smallest subnormal: 0x01
  o.b[2 * 20 + 3] = 57344.0;  // e5m2 max 0b0'11110'11 = 0x7B
  o.a_scale_inv = {0.5, 0.5};
  o.b_scale_inv = {0.25, 0.25, 0.25};
  const Format e4m3 = scaled_element_format(parse_format("e4m3"), tensor());
  const Format e5m2 = scaled_element_format(parse_format("e5m2"), tensor());
  const detail::PackedGemmOperands p = detail::pack_operands(o.view(s, e4m3, e5m2, tensor()));
  EXPECT_EQ(p.rows_padded, 16u);
  EXPECT_EQ(p.cols_padded, 16u);
  EXPECT_EQ(p.depth_padded, 32u);
  ASSERT_EQ(p.a.size(), 16u * 32u);
  ASSERT_EQ(p.b.size(), 16u * 32u);
  EXPECT_EQ(p.a[0], 0x7E);
  EXPECT_EQ(p.a[1], 0x80);
  EXPECT_EQ(p.a[32 + 19], 0xB8);  // row 1 starts at lda = 32
  EXPECT_EQ(p.a[32 + 5], 0x01);
  EXPECT_EQ(p.b[2 * 32 + 3], 0x7B);
  int nonzero = 0;
  for (std::uint8_t byte : p.a) nonzero += byte != 0;
  for (std::uint8_t byte : p.b) nonzero += byte != 0;
  EXPECT_EQ(nonzero, 5);  // everything else, padding included, is +0
  EXPECT_EQ(p.a_scale_inv, 0.5f);
  EXPECT_EQ(p.b_scale_inv, 0.25f);

  // 16-bit operands: little-endian pairs (bf16 1.0 = 0x3F80, -2.5 = 0xC020).
  OwnedQuantizedGemm h;
  h.a = {1.0, -2.5};
  h.b = {0.0, 1.0};
  h.a_scale_inv = {1.0};
  h.b_scale_inv = {1.0};
  const Format bf16 = scaled_element_format(parse_format("bf16"), tensor());
  const detail::PackedGemmOperands q = detail::pack_operands(h.view(GemmShape{1, 1, 2}, bf16, bf16, tensor()));
  ASSERT_EQ(q.a.size(), 16u * 16u * 2u);
  EXPECT_EQ(q.a[0], 0x80);
  EXPECT_EQ(q.a[1], 0x3F);
  EXPECT_EQ(q.a[2], 0x20);
  EXPECT_EQ(q.a[3], 0xC0);
}

TEST(gemm_replay_host, packing_refuses_what_cublaslt_cannot_take) {
  const Format e4m3 = scaled_element_format(parse_format("e4m3"), tensor());
  const GemmShape s{2, 1, 2};
  OwnedQuantizedGemm o;
  o.a = {1.0, 2.0, 3.0, 4.0};
  o.b = {1.0, 1.0};
  o.a_scale_inv = {0.5, 0.25};  // row scales: not per-tensor
  o.b_scale_inv = {1.0};
  const auto message = [&](const QuantizedGemm& q) {
    try {
      detail::pack_operands(q);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  EXPECT_EQ(message(o.view(s, e4m3, e4m3, tensor())),
            "gemm --device gpu: operand A has different scales per row; cuBLASLt's FP8 GEMM takes one per-tensor scale");
  o.a_scale_inv = {0.1, 0.1};  // not an fp32 value
  EXPECT_EQ(message(o.view(s, e4m3, e4m3, tensor())).rfind("gemm --device gpu: operand A scale 0.100000 is not an fp32 value", 0), 0u)
      << message(o.view(s, e4m3, e4m3, tensor()));
  o.a_scale_inv = {0.5, 0.5};
  o.a[3] = 0.3;  // not an e4m3 value
  EXPECT_EQ(message(o.view(s, e4m3, e4m3, tensor())),
            "gemm --device gpu: operand A element (1, 1) = 0.300000 is not a finite value of e4m3:sat=finite");
  o.a[3] = 4.0;
  EXPECT_NE(message(o.view(s, e4m3, e4m3, parse_recipe("row"))).find("recipe 'row' cannot replay"), std::string::npos);
  EXPECT_NE(message(o.view(GemmShape{2, 1, 3}, e4m3, e4m3, tensor())).find("do not match the shape 2 x 1 x 3"),
            std::string::npos);
}

TEST(gemm_replay_host, unpacking_turns_column_major_d_into_the_replay_rows) {
  detail::PackedGemmOperands p;
  p.rows = 2;
  p.cols = 3;
  p.rows_padded = 16;
  p.cols_padded = 16;
  std::vector<float> d(16 * 16, 99.0f);  // padding outputs must not appear
  for (std::size_t i = 0; i < 2; ++i) {
    for (std::size_t j = 0; j < 3; ++j) d[i + j * 16] = static_cast<float>(10 * i + j);
  }
  EXPECT_EQ(detail::unpack_product(d, p, 0.5), (std::vector<double>{0.0, 0.5, 1.0, 5.0, 5.5, 6.0}));
  try {
    detail::unpack_product(std::vector<float>(3), p, 1.0);
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "gemm --device gpu: D has 3 elements, expected 16 x 16");
  }
}

// What cuBLASLt computes from the packed bytes (TN: D[i + j ldd] = sum_k A[k + i lda] B[k + j ldb],
// times the scales), done here on the CPU: the exact product of replay_gemm's quantized operands.
TEST(gemm_replay_host, the_packed_layout_multiplies_to_the_quantized_product) {
  const GemmOperands ops = synthetic_operands(GemmShape{5, 7, 37}, 0.0, 4);
  const Format e4m3 = parse_format("e4m3"), e5m2 = parse_format("e5m2");
  bool called = false;
  const ExternalGemmProducts hook = [&](const QuantizedGemm& q) {
    called = true;
    const detail::PackedGemmOperands p = detail::pack_operands(q);
    const Format ea = parse_format("e5m2"), eb = parse_format("e4m3");
    std::vector<float> d(p.rows_padded * p.cols_padded);
    for (std::size_t i = 0; i < p.rows_padded; ++i) {
      for (std::size_t j = 0; j < p.cols_padded; ++j) {
        double sum = 0.0;  // fp8 products summed in binary64: far below fp32's rounding of D
        for (std::size_t k = 0; k < p.depth_padded; ++k) {
          sum += decode(p.a[k + i * p.depth_padded], ea) * decode(p.b[k + j * p.depth_padded], eb);
        }
        d[i + j * p.rows_padded] = static_cast<float>(sum);
      }
    }
    std::vector<ExternalGemmProduct> out;
    out.push_back({"cpu-tn", detail::unpack_product(d, p, double{p.a_scale_inv} * double{p.b_scale_inv}), "", std::nullopt});
    return out;
  };
  const GemmReplay r = replay_gemm(ops, e5m2, e4m3, tensor(), {}, 1, hook);
  ASSERT_TRUE(called);
  ASSERT_EQ(r.models.size(), 1u);
  // Against the exact quantized product only the fp32 store of D differs.
  EXPECT_EQ(r.models[0].accumulation.count, 35u);
  EXPECT_LE(r.models[0].accumulation.max_rel_error, std::ldexp(1.0, -24));
  EXPECT_GT(r.input_quantization.rel_frobenius(), 0.0);
}

TEST(gemm_replay_host, a_build_without_cuda_says_so) {
  if (built_with_cuda()) GTEST_SKIP() << "skipped: this build has CUDA";
  try {
    replay_gemm_on_device(QuantizedGemm{});
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "gemm --device gpu: this fpscope was built without CUDA (nvcc was not found at configure time)");
  }
}

#else  // FPSCOPE_GPU_DEVICE_TESTS

const GemmModelResult& model_named(const GemmReplay& r, const std::string& name) {
  for (const GemmModelResult& m : r.models) {
    if (m.model == name) return m;
  }
  throw Error("no model " + name);
}

void print_agreement(const GemmModelResult& m) {
  if (!m.agreement) return;
  std::printf("agreement: %s vs %s: %llu/%llu outputs bit-identical (%.2f%%), max rel diff %.3g; rel_frob %.4g, accum %.4g\n",
              m.model.c_str(), m.agreement->model.c_str(), static_cast<unsigned long long>(m.agreement->bit_identical),
              static_cast<unsigned long long>(m.agreement->outputs), 100.0 * m.agreement->bit_identical_fraction(),
              m.agreement->max_rel_diff, m.total.rel_frobenius(), m.accumulation.rel_frobenius());
}

// Error bound for N(0, 1) operands (mean 0, independent), Higham & Mary 2019's
// probabilistic model: RNE quantization gives each operand a relative error
// |delta| <= u = 2^-p (p = significand bits; tensor scaling keeps nearly every
// value normal), so each product's is about delta_a + delta_b and, the terms
// being independent, ||AB - A^B^||_F / ||AB||_F ~ sqrt(E delta_a^2 + E delta_b^2)
// <= sqrt(u_a^2 + u_b^2); 1.5x for the sample. The accumulation (F = 13 bits
// kept per group of 32 with fast accumulation, NUMERICS.md s4) adds at most
// about 2^-13 sqrt(K) with random-signed truncations; promotion adds less.
double derived_bound(const Format& fa, const Format& fb, std::size_t depth) {
  const double ua = std::ldexp(1.0, -limits(fa).precision), ub = std::ldexp(1.0, -limits(fb).precision);
  return 1.5 * std::sqrt(ua * ua + ub * ub) + std::ldexp(1.0, -13) * std::sqrt(static_cast<double>(depth));
}

// A synthetic GEMM whose K (4100) and N (40) break the 16-element alignment.
TEST(gemm_replay_device, fp8_products_are_within_the_derived_bound_and_agree_with_the_models) {
  FPSCOPE_REQUIRE_DEVICE();
  const GemmOperands ops = synthetic_operands(GemmShape{64, 40, 4100}, 0.0, 7);
  const ExternalGemmProducts hook = [](const QuantizedGemm& q) { return replay_gemm_on_device(q); };
  for (const auto& [fa_name, fb_name] : {std::pair{"e4m3", "e4m3"}, std::pair{"e5m2", "e4m3"}}) {
    const Format fa = parse_format(fa_name), fb = parse_format(fb_name);
    const GemmReplay r = replay_gemm(ops, fa, fb, tensor(), {}, 4, hook);
    const std::string stem = std::string("gpu:cublaslt ") + fa_name + "*" + fb_name + " fp32-out";
    const GemmModelResult& promoted = model_named(r, stem);
    const GemmModelResult& fast = model_named(r, stem + " fast-accum");
    const double bound = derived_bound(fa, fb, ops.shape.depth);
    for (const GemmModelResult* m : {&promoted, &fast}) {
      SCOPED_TRACE(m->model);
      print_agreement(*m);
      EXPECT_EQ(m->total.nonfinite, 0u);  // every output finite
      EXPECT_EQ(m->total.count, 64u * 40u);
      EXPECT_LT(m->total.rel_frobenius(), bound);
      ASSERT_TRUE(m->agreement.has_value());
      EXPECT_EQ(m->agreement->outputs, 64u * 40u);
    }
    EXPECT_EQ(promoted.agreement->model, "nv-h100-fp8-promote128");
    EXPECT_EQ(fast.agreement->model, "nv-h100-fp8");
    // Fast accumulation (no promotion) is not more accurate than the promoted path beyond noise.
    EXPECT_GE(fast.accumulation.rel_frobenius(), 0.9 * promoted.accumulation.rel_frobenius() - 1e-7);
  }
}

TEST(gemm_replay_device, bf16_and_fp16_products_are_within_the_derived_bound) {
  FPSCOPE_REQUIRE_DEVICE();
  const GemmOperands ops = synthetic_operands(GemmShape{32, 24, 1000}, 0.0, 8);
  const ExternalGemmProducts hook = [](const QuantizedGemm& q) { return replay_gemm_on_device(q); };
  for (const char* name : {"bf16", "fp16"}) {
    const Format f = parse_format(name);
    const GemmReplay r = replay_gemm(ops, f, f, tensor(), {}, 4, hook);
    const GemmModelResult& m = model_named(r, std::string("gpu:cublaslt ") + name + "*" + name + " fp32-out");
    print_agreement(m);
    EXPECT_EQ(m.total.nonfinite, 0u);
    EXPECT_LT(m.total.rel_frobenius(), derived_bound(f, f, ops.shape.depth));
    // fp32 accumulation of exact 16-bit products: far below the inputs' quantization.
    EXPECT_LT(m.accumulation.rel_frobenius(), 1e-5);
    ASSERT_TRUE(m.agreement.has_value());
    EXPECT_EQ(m.agreement->model, "nv-h100-hmma");
  }
}

// Small integers: every accumulation is exact, so D must equal the exact product
// of the quantized operands up to the fp32 epilogue (a layout or padding error would not).
TEST(gemm_replay_device, an_exactly_representable_product_comes_back_in_place) {
  FPSCOPE_REQUIRE_DEVICE();
  GemmOperands ops;
  ops.shape = GemmShape{3, 5, 20};
  for (std::size_t i = 0; i < 3 * 20; ++i) ops.a.push_back(static_cast<double>(static_cast<int>(i % 5) - 2));
  for (std::size_t i = 0; i < 5 * 20; ++i) ops.b.push_back(static_cast<double>(static_cast<int>((i * 7) % 5) - 2));
  const ExternalGemmProducts hook = [](const QuantizedGemm& q) { return replay_gemm_on_device(q); };
  const Recipe pow2 = parse_recipe("tensor:pow2");  // power-of-two scales: the epilogue is exact too
  const GemmReplay r = replay_gemm(ops, parse_format("e4m3"), parse_format("e4m3"), pow2, {}, 1, hook);
  for (const GemmModelResult& m : r.models) {
    SCOPED_TRACE(m.model);
    EXPECT_EQ(m.accumulation.error_sum_squares, 0.0);
    EXPECT_EQ(m.total.error_sum_squares, 0.0);
    ASSERT_TRUE(m.agreement.has_value());
    EXPECT_EQ(m.agreement->bit_identical, 15u);
  }
}

#endif  // FPSCOPE_GPU_DEVICE_TESTS

}  // namespace
}  // namespace fpscope::gpu
