// tests/analysis/test_gemm_layers.cpp: finding linear layers in a dump, replaying their GEMMs per format and recipe, the worst error the verdicts use, and the JSON items.
#include "analysis/gemm_layers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "core/error.h"
#include "tests/temp_dir_test.h"

namespace fs = std::filesystem;

namespace fpscope {
namespace {

struct Tensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};

std::vector<float> gaussian(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

// A float32 safetensors file; `metadata` becomes __metadata__; `bad_offsets` gives that tensor a data range past the end.
std::string write_safetensors(const std::string& path, const std::vector<Tensor>& tensors,
                              const nlohmann::json& metadata = nullptr, const std::string& bad_offsets = "") {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.is_null()) header["__metadata__"] = metadata;
  std::string data;
  for (const Tensor& t : tensors) {
    const std::size_t begin = data.size();
    data.append(reinterpret_cast<const char*>(t.values.data()), t.values.size() * sizeof(float));
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
    if (t.name == bad_offsets) header[t.name]["data_offsets"] = {begin + 1000000, data.size() + 1000000};
  }
  const std::string text = header.dump();
  const std::uint64_t n = text.size();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << text << data;
  return path;
}

class GemmLayers : public fpscope::test::TempDirTest {
 protected:
};

TEST_F(GemmLayers, collects_linear_layers_with_input_and_weight_only) {
  const nlohmann::json metadata = {
      {"fpscope.format", "1"},
      {"fpscope.tensor.ln:input", R"({"layer":"ln","module_type":"LayerNorm","role":"activation"})"},
      {"fpscope.tensor.ln.weight", R"({"layer":"ln","module_type":"LayerNorm","role":"weight"})"}};
  const std::string file = write_safetensors(
      path("a.safetensors"),
      {{"fc:input", {4, 8}, gaussian(32, 1)},
       {"fc.weight", {6, 8}, gaussian(48, 2)},
       {"fc.weight:grad", {6, 8}, gaussian(48, 3)},
       {"fc:grad_output", {4, 6}, gaussian(24, 4)},
       {"ln:input", {4, 8}, gaussian(32, 5)},      // not a Linear module
       {"ln.weight", {8, 8}, gaussian(64, 6)},
       {"half:input", {4, 8}, gaussian(32, 7)}},   // no weight captured
      metadata);
  std::vector<std::string> errors;
  const auto on_error = [&](const std::string& m) { errors.push_back(m); };
  const std::vector<LinearLayerTensors> layers = collect_linear_layers({file}, nullptr, on_error);
  EXPECT_TRUE(errors.empty());
  ASSERT_EQ(layers.size(), 1u);
  const LinearLayerTensors& fc = layers[0];
  EXPECT_EQ(fc.layer, "fc");
  EXPECT_EQ(fc.file, file);
  EXPECT_EQ(fc.input_shape, (std::vector<std::int64_t>{4, 8}));
  EXPECT_EQ(fc.weight_shape, (std::vector<std::int64_t>{6, 8}));
  EXPECT_EQ(fc.grad_output_shape, (std::vector<std::int64_t>{4, 6}));
  const std::vector<float> w = gaussian(48, 2);  // the weight, not its gradient
  ASSERT_EQ(fc.weight.size(), w.size());
  for (std::size_t i = 0; i < w.size(); ++i) EXPECT_EQ(fc.weight[i], static_cast<double>(w[i]));

  const std::regex none("^x");
  EXPECT_TRUE(collect_linear_layers({file}, &none, on_error).empty());
}

TEST_F(GemmLayers, unreadable_tensors_are_reported_and_their_layer_skipped) {
  const std::string file =
      write_safetensors(path("b.safetensors"),
                        {{"fc:input", {4, 8}, gaussian(32, 1)}, {"fc.weight", {6, 8}, gaussian(48, 2)},
                         {"g:input", {4, 8}, gaussian(32, 3)}, {"g.weight", {6, 8}, gaussian(48, 4)}},
                        nullptr, "g.weight");
  std::vector<std::string> errors;
  const auto layers = collect_linear_layers({file}, nullptr, [&](const std::string& m) { errors.push_back(m); });
  ASSERT_EQ(layers.size(), 1u);
  EXPECT_EQ(layers[0].layer, "fc");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind(file + ": tensor 'g.weight': ", 0), 0u) << errors[0];
}

TEST_F(GemmLayers, replays_each_gemm_per_format_and_recipe_with_the_gradient_format_on_dy) {
  LinearLayerTensors t;
  t.file = "f.safetensors";
  t.layer = "fc";
  t.step = 3;
  auto doubles = [](const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); };
  t.input = doubles(gaussian(32, 1));
  t.input_shape = {4, 8};
  t.weight = doubles(gaussian(48, 2));
  t.weight_shape = {6, 8};
  t.grad_output = doubles(gaussian(24, 3));
  t.grad_output_shape = {4, 6};
  GemmReplayOptions options;
  options.formats = {parse_gemm_formats("e4m3/e5m2")};
  options.recipes = {parse_gemm_recipe("none"), parse_gemm_recipe("tensor")};
  options.models = {parse_accumulation_model("fp32-seq")};
  options.sample_rows = 3;
  options.seed = 11;
  const std::vector<LayerGemmReplay> replays = replay_linear_layer(t, "fc@3", options);
  ASSERT_EQ(replays.size(), 3u * 2u);
  const char* gemms[] = {"forward", "forward", "grad_input", "grad_input", "grad_weight", "grad_weight"};
  const std::size_t total_rows[] = {4, 4, 4, 4, 6, 6};  // A: X, dY, dY^T
  for (std::size_t i = 0; i < replays.size(); ++i) {
    const GemmReplay& r = replays[i].replay;
    SCOPED_TRACE(i);
    EXPECT_EQ(replays[i].file, "f.safetensors");
    EXPECT_EQ(replays[i].step, 3);
    EXPECT_EQ(r.layer, "fc@3");
    EXPECT_EQ(r.gemm, gemms[i]);
    EXPECT_EQ(r.recipe, i % 2 == 0 ? "none" : "tensor");
    EXPECT_EQ(r.format_a, r.gemm == "forward" ? "e4m3" : "e5m2");
    EXPECT_EQ(r.format_b, "e4m3");
    EXPECT_EQ(r.total_rows, total_rows[i]);
    EXPECT_EQ(r.shape.rows, 3u);
    EXPECT_EQ(r.seed, 11u);
    ASSERT_EQ(r.models.size(), 1u);
  }
  const nlohmann::json items = gemm_section_json(replays);
  ASSERT_EQ(items.size(), replays.size());
  nlohmann::json expected = to_json(replays[2].replay);
  expected["file"] = "f.safetensors";
  expected["step"] = 3;
  EXPECT_EQ(items[2], expected);

  LinearLayerTensors bad = t;
  bad.input_shape = {8, 4};
  bad.input = doubles(gaussian(32, 1));
  try {
    replay_linear_layer(bad, "fc", options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "f.safetensors: layer 'fc': the input's last dimension does not match the weight's 8 columns");
  }
  bad = t;
  bad.grad_output.pop_back();
  try {
    replay_linear_layer(bad, "fc", options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "f.safetensors: layer 'fc': grad_output has 23 elements, expected 4 x 6");
  }
}

TEST(worst_rel_frobenius, largest_over_models_and_overflow_is_infinite) {
  auto model = [](const char* name, double ref_ss, double err_ss, std::uint64_t nonfinite) {
    GemmModelResult m;
    m.model = name;
    m.total.ref_sum_squares = ref_ss;
    m.total.error_sum_squares = err_ss;
    m.total.nonfinite = nonfinite;
    return m;
  };
  GemmReplay r;
  EXPECT_EQ(worst_rel_frobenius(r), 0.0);
  r.models = {model("a", 4.0, 0.04, 0), model("b", 4.0, 0.16, 0), model("c", 4.0, 0.01, 0)};
  std::string name;
  EXPECT_DOUBLE_EQ(worst_rel_frobenius(r, &name), 0.2);  // sqrt(0.16 / 4)
  EXPECT_EQ(name, "b");
  r.models.push_back(model("d", 4.0, 0.0, 1));
  EXPECT_EQ(worst_rel_frobenius(r, &name), std::numeric_limits<double>::infinity());
  EXPECT_EQ(name, "d");
}

}  // namespace
}  // namespace fpscope
