// tests/analysis/test_gemm.cpp: the GEMM replay: error statistics, operand layouts, sampling, the error split and the K sweep.
#include "analysis/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/exact_dot.h"

namespace fpscope {
namespace {

std::vector<AccumulationModel> models_of(std::initializer_list<const char*> names) {
  std::vector<AccumulationModel> v;
  for (const char* n : names) v.push_back(parse_accumulation_model(n));
  return v;
}

TEST(gemm_stats, hand_computed_errors_and_histogram) {
  const std::vector<double> ref{1.0, 2.0, 0.0, -3.0, 0.0, 10.0};
  const std::vector<double> approx{1.0, 2.5, 0.0, 3.0, 0.5, 10.0 + 1e-12};
  const GemmErrorStats s = compare_products(approx, ref);
  EXPECT_EQ(s.count, 6u);
  EXPECT_EQ(s.ref_zero, 1u);                   // 0.5 against 0
  EXPECT_EQ(s.rel_error_histogram[0], 2u);     // 1 and 0 exact
  EXPECT_EQ(s.rel_error_histogram[11], 1u);    // 0.25 in [0.1, 1)
  EXPECT_EQ(s.rel_error_histogram[12], 1u);    // 2 (6 / 3)
  EXPECT_EQ(s.rel_error_histogram[1], 1u);     // 1e-13 relative: below 1e-10
  EXPECT_EQ(s.rel_error_histogram[2], 0u);
  EXPECT_DOUBLE_EQ(s.max_rel_error, 2.0);
  EXPECT_DOUBLE_EQ(s.max_abs_error, 6.0);
  const double err2 = 0.25 + 36.0 + 0.25 + 1e-24;
  EXPECT_NEAR(s.rel_frobenius(), std::sqrt(err2 / (1 + 4 + 9 + 100)), 1e-12);
  EXPECT_NEAR(s.sqnr_db(), 10 * std::log10(114.0 / err2), 1e-9);
  EXPECT_DOUBLE_EQ(rel_error_bin_lower_edge(2), 1e-10);
  EXPECT_DOUBLE_EQ(rel_error_bin_lower_edge(11), 0.1);
  EXPECT_DOUBLE_EQ(rel_error_bin_lower_edge(12), 1.0);
}

TEST(gemm_stats, nonfinite_elements_are_counted_apart) {
  const std::vector<double> ref{1.0, 1.0};
  const std::vector<double> approx{std::nan(""), 1.0};
  const GemmErrorStats s = compare_products(approx, ref);
  EXPECT_EQ(s.nonfinite, 1u);
  EXPECT_EQ(s.count, 1u);
  EXPECT_TRUE(std::isinf(s.sqnr_db()));
  EXPECT_EQ(s.rel_frobenius(), 0.0);
}

// The three GEMMs' layouts against naive loops over X (3 x 4), W (2 x 4), dY (3 x 2).
TEST(gemm_operands, forward_and_backward_layouts_match_naive_products) {
  const std::size_t tokens = 3, in = 4, out = 2;
  std::vector<double> x(tokens * in), w(out * in), dy(tokens * out);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<double>(i) - 5.0;
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.5 * static_cast<double>(i) + 1.0;
  for (std::size_t i = 0; i < dy.size(); ++i) dy[i] = static_cast<double>(i * i) - 2.0;
  auto product = [](const GemmOperands& ops) {
    std::vector<double> c(ops.shape.rows * ops.shape.cols);
    exact_gemm(ops.a, ops.b, ops.shape, c);
    return c;
  };
  const std::vector<double> y = product(forward_operands(x, w, tokens, in, out));
  const std::vector<double> dx = product(grad_input_operands(dy, w, tokens, in, out));
  const std::vector<double> dw = product(grad_weight_operands(dy, x, tokens, in, out));
  for (std::size_t t = 0; t < tokens; ++t) {
    for (std::size_t o = 0; o < out; ++o) {
      double s = 0;
      for (std::size_t k = 0; k < in; ++k) s += x[t * in + k] * w[o * in + k];
      EXPECT_EQ(y[t * out + o], s);
    }
    for (std::size_t k = 0; k < in; ++k) {
      double s = 0;
      for (std::size_t o = 0; o < out; ++o) s += dy[t * out + o] * w[o * in + k];
      EXPECT_EQ(dx[t * in + k], s);
    }
  }
  for (std::size_t o = 0; o < out; ++o) {
    for (std::size_t k = 0; k < in; ++k) {
      double s = 0;
      for (std::size_t t = 0; t < tokens; ++t) s += dy[t * out + o] * x[t * in + k];
      EXPECT_EQ(dw[o * in + k], s);
    }
  }
  try {
    forward_operands(x, w, tokens, in + 1, out);
    ADD_FAILURE() << "shape mismatch accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the input X has 12 elements, expected 3 x 5"), std::string::npos) << e.what();
  }
}

TEST(gemm_operands, row_sampling_is_seeded_and_keeps_whole_rows) {
  GemmOperands ops = synthetic_operands(GemmShape{50, 3, 8}, 0.0, 1);
  const GemmOperands original = ops;
  GemmOperands again = ops;
  const std::vector<std::size_t> kept = sample_rows(ops, 10, 42);
  EXPECT_EQ(sample_rows(again, 10, 42), kept);
  ASSERT_EQ(kept.size(), 10u);
  EXPECT_TRUE(std::is_sorted(kept.begin(), kept.end()));
  EXPECT_EQ(ops.shape.rows, 10u);
  for (std::size_t i = 0; i < kept.size(); ++i) {
    for (std::size_t k = 0; k < 8; ++k) EXPECT_EQ(ops.a[i * 8 + k], original.a[kept[i] * 8 + k]);
  }
  GemmOperands other = original;
  EXPECT_NE(sample_rows(other, 10, 43), kept);
  GemmOperands all = original;
  EXPECT_EQ(sample_rows(all, 0, 42).size(), 50u);
  EXPECT_EQ(all.a, original.a);
}

// The split against an independent path: core/scaling.h's reference quantizer
// (quantize_with_recipe) and exact dot products per element.
TEST(gemm_replay, input_quantization_error_matches_the_reference_quantizer) {
  GemmOperands ops = synthetic_operands(GemmShape{6, 5, 64}, 0.3, 7);
  const Format e4m3 = parse_format("e4m3");
  for (const char* recipe_spec : {"tensor", "row", "none"}) {
    const Recipe recipe = parse_gemm_recipe(recipe_spec);
    const GemmReplay r = replay_gemm(ops, e4m3, e4m3, recipe, models_of({"fp64", "nv-h100-fp8"}));
    std::vector<double> qa(ops.a.size()), qb(ops.b.size());
    quantize_with_recipe(ops.a, qa, ops.shape.rows, ops.shape.depth, e4m3, recipe, Rounding{});
    quantize_with_recipe(ops.b, qb, ops.shape.cols, ops.shape.depth, e4m3, recipe, Rounding{});
    std::vector<double> qexact(ops.shape.rows * ops.shape.cols), ref(qexact.size());
    for (std::size_t i = 0; i < ops.shape.rows; ++i) {
      for (std::size_t j = 0; j < ops.shape.cols; ++j) {
        const std::size_t K = ops.shape.depth;
        qexact[i * ops.shape.cols + j] = exact_dot(std::span(qa).subspan(i * K, K), std::span(qb).subspan(j * K, K));
        ref[i * ops.shape.cols + j] = exact_dot(std::span(ops.a).subspan(i * K, K), std::span(ops.b).subspan(j * K, K));
      }
    }
    const GemmErrorStats want = compare_products(qexact, ref);
    EXPECT_EQ(r.input_quantization.error_sum_squares, want.error_sum_squares) << recipe_spec;
    EXPECT_EQ(r.input_quantization.max_rel_error, want.max_rel_error) << recipe_spec;
    EXPECT_GT(want.error_sum_squares, 0.0) << recipe_spec;
    // fp64 accumulation of the quantized operands (scales are powers of two or
    // fp32 values; the binary64 scaling adds at most a few ulps): tiny.
    ASSERT_EQ(r.models.size(), 2u);
    EXPECT_EQ(r.models[0].model, "fp64");
    EXPECT_LT(r.models[0].accumulation.rel_frobenius(), 1e-14) << recipe_spec;
    // The model's total error is the sum of the two parts, so its energy is close to theirs.
    const double total = r.models[1].total.error_sum_squares;
    const double parts = r.input_quantization.error_sum_squares + r.models[1].accumulation.error_sum_squares;
    EXPECT_LT(std::abs(std::sqrt(total) - std::sqrt(parts)), 0.5 * std::sqrt(parts)) << recipe_spec;
  }
}

TEST(gemm_replay, model_results_equal_model_dot_times_the_scales) {
  const GemmOperands ops = synthetic_operands(GemmShape{3, 4, 100}, 0.5, 3);
  const Format e4m3 = parse_format("e4m3");
  const Recipe tensor = parse_gemm_recipe("tensor");
  const std::vector<AccumulationModel> models = models_of({"nv-h100-fp8"});
  const GemmReplay r = replay_gemm(ops, e4m3, e4m3, tensor, models);
  // Recompute by hand: one scale per operand (core/scaling.h), the model on the format values.
  auto amax = [](const std::vector<double>& v) {
    double m = 0;
    for (double x : v) m = std::max(m, std::abs(x));
    return m;
  };
  const Scale sa = amax_scale(amax(ops.a), e4m3, tensor);
  const Scale sb = amax_scale(amax(ops.b), e4m3, tensor);
  const Format element = scaled_element_format(e4m3, tensor);
  std::vector<double> fa(ops.a.size()), fb(ops.b.size());
  for (std::size_t i = 0; i < fa.size(); ++i) fa[i] = quantize(ops.a[i] * sa.scale, element, Rounding{});
  for (std::size_t i = 0; i < fb.size(); ++i) fb[i] = quantize(ops.b[i] * sb.scale, element, Rounding{});
  std::vector<double> product(12), ref(12);
  for (std::size_t i = 0; i < 3; ++i) {
    for (std::size_t j = 0; j < 4; ++j) {
      product[i * 4 + j] = model_dot(models[0], std::span(fa).subspan(i * 100, 100), element,
                                     std::span(fb).subspan(j * 100, 100), element) *
                           (sa.scale_inv * sb.scale_inv);
      ref[i * 4 + j] = exact_dot(std::span(ops.a).subspan(i * 100, 100), std::span(ops.b).subspan(j * 100, 100));
    }
  }
  const GemmErrorStats want = compare_products(product, ref);
  EXPECT_EQ(r.models[0].total.error_sum_squares, want.error_sum_squares);
  EXPECT_EQ(r.models[0].total.max_rel_error, want.max_rel_error);
}

TEST(gemm_replay, k_sweep_shows_fp8_accumulation_error_growing_with_k) {
  const GemmOperands ops = synthetic_operands(GemmShape{4, 4, 2048}, 0.5, 11);
  const Format e4m3 = parse_format("e4m3");
  const std::vector<std::size_t> depths{64, 2048};
  const std::vector<KSweepPoint> points =
      k_sweep(ops, depths, e4m3, e4m3, parse_gemm_recipe("tensor"), models_of({"nv-h100-fp8", "fp32-seq"}));
  ASSERT_EQ(points.size(), 4u);
  EXPECT_EQ(points[0].depth, 64u);
  EXPECT_EQ(points[0].model, "nv-h100-fp8");
  EXPECT_EQ(points[2].depth, 2048u);
  // The 13-bit accumulator loses more as the running sum grows.
  EXPECT_GT(points[2].accumulation.rel_frobenius(), 3 * points[0].accumulation.rel_frobenius());
  EXPECT_GT(points[2].accumulation.rel_frobenius(), 1e-3);
  EXPECT_LT(points[3].accumulation.rel_frobenius(), 1e-5);  // fp32-seq
  EXPECT_THROW(k_sweep(ops, std::vector<std::size_t>{4096}, e4m3, e4m3, parse_gemm_recipe("tensor"),
                       models_of({"fp32-seq"})),
               Error);
}

TEST(gemm_options, formats_and_recipes_parse_with_clear_errors) {
  const GemmFormats f = parse_gemm_formats("e4m3/e5m2");
  EXPECT_EQ(format_name(f.forward), "e4m3");
  EXPECT_EQ(format_name(f.gradient), "e5m2");
  EXPECT_EQ(format_name(parse_gemm_formats("bf16").gradient), "bf16");
  try {
    parse_gemm_formats("e4m3/e9");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--formats 'e4m3/e9'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(parse_gemm_recipe("row").kind, RecipeKind::row);
  try {
    parse_gemm_recipe("mx");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("scales vary along the reduction"), std::string::npos) << e.what();
  }
}

TEST(gemm_json, replay_document_has_the_split_and_the_sampling) {
  GemmOperands ops = synthetic_operands(GemmShape{20, 3, 40}, 0.5, 1);
  sample_rows(ops, 5, 9);
  GemmReplay r = replay_gemm(ops, parse_format("e4m3"), parse_format("e4m3"), parse_gemm_recipe("tensor"),
                             models_of({"nv-h100-fp8"}));
  r.layer = "blocks.0.mlp.fc1";
  r.gemm = "forward";
  r.total_rows = 20;
  r.seed = 9;
  const nlohmann::json j = to_json(r);
  EXPECT_EQ(j["sampling"]["rows_kept"], 5);
  EXPECT_EQ(j["sampling"]["rows_total"], 20);
  EXPECT_EQ(j["sampling"]["seed"], 9);
  EXPECT_EQ(j["models"][0]["model"], "nv-h100-fp8");
  EXPECT_TRUE(j["models"][0].contains("accumulation"));
  EXPECT_TRUE(j["input_quantization"].contains("rel_error_histogram"));
  EXPECT_EQ(j["input_quantization"]["rel_error_histogram"]["counts"].size(), 13u);
}

// The external-products hook (gpu/'s cuBLASLt replay through the CLI): it sees the
// quantized operands the models take; its products are compared like a model's,
// and the agreement with the matching model counts bit-identical outputs.
TEST(gemm_external, products_from_the_hook_are_compared_and_agree_with_their_model) {
  const GemmOperands ops = synthetic_operands(GemmShape{6, 5, 70}, 0.5, 3);
  const Format e4m3 = parse_format("e4m3");
  const Format fp32 = parse_format("fp32");
  const AccumulationModel fp8 = parse_accumulation_model("nv-h100-fp8");
  int calls = 0;
  const ExternalGemmProducts hook = [&](const QuantizedGemm& q) {
    ++calls;
    EXPECT_EQ(q.shape.rows, 6u);
    EXPECT_EQ(q.a.size(), 6u * 70u);
    EXPECT_EQ(q.b_scale_inv.size(), 5u);
    EXPECT_EQ(q.recipe.kind, RecipeKind::tensor);
    // Values of the element format (encode is exact on them).
    for (double v : q.a) EXPECT_EQ(encode(v, q.a_element, Rounding{}).flags, 0u) << v;
    // The model's product computed here, independently of replay_gemm's loop.
    std::vector<double> model(30);
    model_gemm(fp8, q.a, q.a_element, q.b, q.b_element, q.shape, model, 1);
    for (std::size_t i = 0; i < 6; ++i) {
      for (std::size_t j = 0; j < 5; ++j) model[i * 5 + j] *= q.a_scale_inv[i] * q.b_scale_inv[j];
    }
    std::vector<double> as_fp32(model);
    for (double& v : as_fp32) v = static_cast<double>(static_cast<float>(v));
    std::vector<double> one_off(model);
    one_off[7] = std::nextafter(one_off[7], 1e300);
    return std::vector<ExternalGemmProduct>{{"same", model, "nv-h100-fp8", std::nullopt},
                                            {"fp32-stored", as_fp32, "nv-h100-fp8", fp32},
                                            {"one-off", one_off, "nv-h100-fp8", std::nullopt},
                                            {"unmatched", model, "", std::nullopt}};
  };
  const GemmReplay r =
      replay_gemm(ops, e4m3, e4m3, parse_gemm_recipe("tensor"), models_of({"nv-h100-fp8"}), 1, hook);
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(r.models.size(), 5u);
  EXPECT_FALSE(r.models[0].agreement.has_value());
  for (std::size_t i : {1u, 2u}) {
    SCOPED_TRACE(r.models[i].model);
    ASSERT_TRUE(r.models[i].agreement.has_value());
    EXPECT_EQ(r.models[i].agreement->model, "nv-h100-fp8");
    EXPECT_EQ(r.models[i].agreement->outputs, 30u);
    EXPECT_EQ(r.models[i].agreement->bit_identical, 30u);
    EXPECT_EQ(r.models[i].agreement->max_rel_diff, 0.0);
  }
  // The same product compares exactly as the model does.
  EXPECT_EQ(r.models[1].total.error_sum_squares, r.models[0].total.error_sum_squares);
  EXPECT_EQ(r.models[1].accumulation.max_rel_error, r.models[0].accumulation.max_rel_error);
  ASSERT_TRUE(r.models[3].agreement.has_value());
  EXPECT_EQ(r.models[3].agreement->bit_identical, 29u);
  EXPECT_GT(r.models[3].agreement->max_rel_diff, 0.0);
  EXPECT_LT(r.models[3].agreement->max_rel_diff, 1e-15);
  EXPECT_FALSE(r.models[4].agreement.has_value());
  const nlohmann::json j = to_json(r);
  EXPECT_EQ(j["models"][3]["agreement"]["bit_identical"], 29);
  EXPECT_NEAR(j["models"][3]["agreement"]["bit_identical_fraction"].get<double>(), 29.0 / 30.0, 1e-15);
  EXPECT_FALSE(j["models"][4].contains("agreement"));
}

TEST(gemm_external, a_product_of_the_wrong_size_is_refused) {
  const GemmOperands ops = synthetic_operands(GemmShape{4, 3, 16}, 0.5, 3);
  const ExternalGemmProducts hook = [](const QuantizedGemm&) {
    return std::vector<ExternalGemmProduct>{{"gpu:short", std::vector<double>(5), "", std::nullopt}};
  };
  try {
    replay_gemm(ops, parse_format("e4m3"), parse_format("e4m3"), parse_gemm_recipe("tensor"), {}, 1, hook);
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "gemm: the external product 'gpu:short' has 5 outputs, expected 4 x 3");
  }
}

}  // namespace
}  // namespace fpscope
