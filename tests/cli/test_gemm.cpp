// tests/cli/test_gemm.cpp: `fpscope gemm`: the replay of a dump the test writes against its own products, exit codes and one-line messages, atomic JSON, and the bundled dump's error split.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/format.h"
#include "core/round.h"
#include "tests/cli/run_fpscope.h"
#include "tests/temp_dir_test.h"

#ifndef FPSCOPE_SOURCE_DIR
#error "FPSCOPE_SOURCE_DIR must name the source tree (tests/cli/CMakeLists.txt)"
#endif

namespace fs = std::filesystem;
using fpscope::test::lines_of;
using fpscope::test::read_whole_file;
using fpscope::test::run_fpscope;

namespace {

struct Tensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};

// A row-major matrix as doubles.
struct Matrix {
  std::size_t rows = 0, cols = 0;
  std::vector<double> v;
  double at(std::size_t i, std::size_t j) const { return v[i * cols + j]; }
};

std::vector<float> gaussian(std::size_t n, unsigned seed, float sigma) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

class CliGemm : public fpscope::test::TempDirTest {
 protected:
  // A float32 safetensors file without metadata: the layer and role come from the
  // names (<layer>:input, <layer>.weight, <layer>:grad_output; analysis/README.md).
  std::string write_safetensors(const std::string& name, const std::vector<Tensor>& tensors) {
    nlohmann::json header = nlohmann::json::object();
    std::string data;
    for (const Tensor& t : tensors) {
      const std::size_t begin = data.size();
      data.append(reinterpret_cast<const char*>(t.values.data()), t.values.size() * sizeof(float));
      header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
    }
    const std::string text = header.dump();
    const std::uint64_t n = text.size();
    std::ofstream out(path(name), std::ios::binary);
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << text << data;
    return path(name);
  }

};

constexpr std::size_t kTokens = 8, kIn = 32, kOut = 16;

// X (tokens x in), W (out x in), dY (tokens x out) of layer "fc", and a bias (not a GEMM operand).
std::vector<Tensor> linear_layer(std::size_t in_columns = kIn) {
  return {{"fc:input", {kTokens, static_cast<std::int64_t>(in_columns)}, gaussian(kTokens * in_columns, 1, 1.0f)},
          {"fc.weight", {kOut, kIn}, gaussian(kOut * kIn, 2, 0.5f)},
          {"fc.bias", {kOut}, gaussian(kOut, 3, 0.1f)},
          {"fc:grad_output", {kTokens, kOut}, gaussian(kTokens * kOut, 4, 0.01f)}};
}

Matrix to_matrix(const Tensor& t) {
  Matrix m{static_cast<std::size_t>(t.shape[0]), static_cast<std::size_t>(t.shape[1]), {}};
  m.v.assign(t.values.begin(), t.values.end());
  return m;
}

Matrix transpose(const Matrix& m) {
  Matrix t{m.cols, m.rows, std::vector<double>(m.v.size())};
  for (std::size_t i = 0; i < m.rows; ++i) {
    for (std::size_t j = 0; j < m.cols; ++j) t.v[j * m.rows + i] = m.at(i, j);
  }
  return t;
}

Matrix quantized(const Matrix& m, const fpscope::Format& f) {
  Matrix q = m;
  for (double& x : q.v) x = fpscope::quantize(x, f, fpscope::Rounding{});
  return q;
}

// A (rows x k) times B^T (cols x k), each dot product summed in long double: the
// products of these operands are exact in double and the sums of at most 32 terms
// carry far more bits than the comparisons below need.
std::vector<double> product(const Matrix& a, const Matrix& b) {
  std::vector<double> c(a.rows * b.rows);
  for (std::size_t i = 0; i < a.rows; ++i) {
    for (std::size_t j = 0; j < b.rows; ++j) {
      long double s = 0;
      for (std::size_t k = 0; k < a.cols; ++k) s += static_cast<long double>(a.at(i, k)) * b.at(j, k);
      c[i * b.rows + j] = static_cast<double>(s);
    }
  }
  return c;
}

double rel_frobenius(const std::vector<double>& approx, const std::vector<double>& ref) {
  long double err = 0, norm = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    err += static_cast<long double>(approx[i] - ref[i]) * (approx[i] - ref[i]);
    norm += static_cast<long double>(ref[i]) * ref[i];
  }
  return static_cast<double>(std::sqrt(err / norm));
}

const nlohmann::json* find_item(const nlohmann::json& gemm, const std::string& which) {
  for (const auto& item : gemm) {
    if (item["gemm"] == which) return &item;
  }
  return nullptr;
}

TEST_F(CliGemm, replays_forward_and_backward_gemms_against_independent_products) {
  const std::vector<Tensor> tensors = linear_layer();
  const std::string file = write_safetensors("step.safetensors", tensors);
  const auto r = run_fpscope({"gemm", file, "--formats", "e4m3", "--recipes", "none", "--models",
                              "fp32-seq,nv-h100-fp8", "--json", path("out.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  // Every model of every GEMM has its line in the table.
  std::size_t model_lines = 0;
  for (const std::string& line : lines_of(r.out)) {
    if (line.rfind("fc ", 0) == 0) ++model_lines;
  }
  EXPECT_EQ(model_lines, 3u * 2u) << r.out;
  const nlohmann::json doc = nlohmann::json::parse(read_whole_file(path("out.json")));
  ASSERT_TRUE(doc["gemm"].is_array());
  ASSERT_EQ(doc["gemm"].size(), 3u);
  const Matrix x = to_matrix(tensors[0]), w = to_matrix(tensors[1]), dy = to_matrix(tensors[3]);
  const fpscope::Format e4m3 = fpscope::parse_format("e4m3");
  // forward Y = X W^T; dX = dY W (B = W^T); dW = dY^T X (A = dY^T, B = X^T).
  struct Expected {
    const char* gemm;
    Matrix a, b;
  };
  const Expected expected[] = {{"forward", x, w}, {"grad_input", dy, transpose(w)},
                               {"grad_weight", transpose(dy), transpose(x)}};
  for (const Expected& e : expected) {
    SCOPED_TRACE(e.gemm);
    const nlohmann::json* item = find_item(doc["gemm"], e.gemm);
    ASSERT_NE(item, nullptr);
    EXPECT_EQ((*item)["layer"], "fc");
    EXPECT_EQ((*item)["file"], file);
    EXPECT_EQ((*item)["rows"], e.a.rows);
    EXPECT_EQ((*item)["cols"], e.b.rows);
    EXPECT_EQ((*item)["depth"], e.a.cols);
    EXPECT_EQ((*item)["sampling"]["rows_kept"], e.a.rows);
    EXPECT_EQ((*item)["sampling"]["rows_total"], e.a.rows);
    const std::vector<double> reference = product(e.a, e.b);
    const std::vector<double> quantized_exact = product(quantized(e.a, e4m3), quantized(e.b, e4m3));
    const double input_error = rel_frobenius(quantized_exact, reference);
    ASSERT_GT(input_error, 1e-3);  // e4m3 keeps 3 fraction bits
    EXPECT_NEAR((*item)["input_quantization"]["rel_frobenius"].get<double>(), input_error, 1e-9 * input_error);
    EXPECT_EQ((*item)["input_quantization"]["count"], reference.size());
    ASSERT_EQ((*item)["models"].size(), 2u);
    for (const auto& m : (*item)["models"]) {
      SCOPED_TRACE(m["model"].get<std::string>());
      // The accumulation of at most 32 exact products: an fp32 accumulator's error is a few ulps of
      // 2^-24; nv-h100-fp8 keeps 13 fraction bits (NUMERICS.md section 4), so at most a few 2^-13.
      const double acc = m["accumulation"]["rel_frobenius"].get<double>();
      EXPECT_LT(acc, m["model"] == "fp32-seq" ? 1e-6 : 1e-3);
      // Total = input quantization + accumulation, to first order.
      EXPECT_NEAR(m["total"]["rel_frobenius"].get<double>(), input_error, acc + 1e-9);
    }
  }
}

TEST_F(CliGemm, json_is_replaced_whole_and_left_alone_on_a_usage_error) {
  const std::string file = write_safetensors("step.safetensors", linear_layer());
  std::ofstream(path("out.json")) << "previous";
  const auto bad = run_fpscope({"gemm", file, "--models", "no-such-model", "--json", path("out.json")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(read_whole_file(path("out.json")), "previous");
  const auto ok = run_fpscope({"gemm", file, "--models", "fp32-seq", "--json", path("out.json")});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const std::string text = read_whole_file(path("out.json"));
  EXPECT_EQ(nlohmann::json::parse(text)["gemm"].size(), 3u);
  EXPECT_EQ(text.back(), '\n');
  // Written through a temporary file and renamed: nothing else is left in the directory.
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir_)) names.insert(entry.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"out.json", "step.safetensors"}));
  // A directory that does not exist: exit 2, one line naming the path.
  const auto missing = run_fpscope({"gemm", file, "--models", "fp32-seq", "--json", path("no/such/dir/out.json")});
  EXPECT_EQ(missing.exit_code, 2);
  ASSERT_EQ(lines_of(missing.err).size(), 1u) << missing.err;
  EXPECT_NE(missing.err.find(path("no/such/dir/out.json")), std::string::npos) << missing.err;
}

TEST_F(CliGemm, usage_errors_exit_2_with_one_line_naming_the_argument) {
  const std::string file = write_safetensors("step.safetensors", linear_layer());
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const Case cases[] = {
      {{"--models", "no-such-model"}, "fpscope: --models: "},
      {{"--models", "fp32-seq,,fp64"}, "fpscope: --models 'fp32-seq,,fp64': empty item in the comma-separated list"},
      {{"--formats", "e9m99"}, "e9m99"},
      {{"--recipes", "mx"}, "fpscope: --recipes 'mx': the GEMM replay takes recipes with one scale per row of each "
                            "operand (none, tensor, row)"},
      {{"--filter", "("}, "fpscope: --filter '(': "},
      {{"--threads", "-1"}, "fpscope: --threads must be >= 0"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args{"gemm", file};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto r = run_fpscope(args);
    SCOPED_TRACE(c.args.back());
    EXPECT_EQ(r.exit_code, 2);
    ASSERT_EQ(lines_of(r.err).size(), 1u) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
}

TEST_F(CliGemm, bad_data_exits_1_naming_the_file_and_layer_and_replays_the_rest) {
  // Layer "fc": X has 30 columns, W 32. Layer "ok" is fine.
  std::vector<Tensor> tensors = linear_layer(30);
  tensors.push_back({"ok:input", {4, 8}, gaussian(32, 5, 1.0f)});
  tensors.push_back({"ok.weight", {6, 8}, gaussian(48, 6, 1.0f)});
  const std::string file = write_safetensors("step.safetensors", tensors);
  const auto r = run_fpscope({"gemm", file, "--models", "fp32-seq", "--json", path("out.json")});
  EXPECT_EQ(r.exit_code, 1);
  ASSERT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_EQ(r.err, "fpscope gemm: " + file +
                       ": layer 'fc': the input's last dimension does not match the weight's 32 columns\n");
  const nlohmann::json doc = nlohmann::json::parse(read_whole_file(path("out.json")));
  ASSERT_EQ(doc["gemm"].size(), 1u);  // ok's forward GEMM (no dY captured)
  EXPECT_EQ(doc["gemm"][0]["layer"], "ok");

  // dY of the wrong size.
  std::vector<Tensor> wrong_dy = linear_layer();
  wrong_dy[3] = {"fc:grad_output", {kTokens, kOut - 1}, gaussian(kTokens * (kOut - 1), 4, 0.01f)};
  const std::string file2 = write_safetensors("dy.safetensors", wrong_dy);
  const auto r2 = run_fpscope({"gemm", file2, "--models", "fp32-seq"});
  EXPECT_EQ(r2.exit_code, 1);
  EXPECT_NE(r2.err.find(file2 + ": layer 'fc': grad_output has 120 elements, expected 8 x 16"), std::string::npos)
      << r2.err;

  // No linear layer at all; a file that is not safetensors; a path that does not exist.
  const std::string none = write_safetensors("none.safetensors", {{"fc.bias", {kOut}, gaussian(kOut, 3, 0.1f)}});
  const auto r3 = run_fpscope({"gemm", none});
  EXPECT_EQ(r3.exit_code, 1);
  EXPECT_EQ(r3.err, "fpscope gemm: no linear layer with a captured <layer>:input and <layer>.weight in " + none + "\n");
  std::ofstream(path("junk.safetensors")) << "not a safetensors file";
  const auto r4 = run_fpscope({"gemm", path("junk.safetensors")});
  EXPECT_EQ(r4.exit_code, 1);
  ASSERT_EQ(lines_of(r4.err).size(), 2u) << r4.err;  // the file's problem, then "no linear layer"
  EXPECT_EQ(lines_of(r4.err)[0].rfind("fpscope gemm: " + path("junk.safetensors") + ": ", 0), 0u) << r4.err;
  const auto r5 = run_fpscope({"gemm", path("missing.safetensors")});
  EXPECT_EQ(r5.exit_code, 1);
  EXPECT_NE(r5.err.find(path("missing.safetensors")), std::string::npos) << r5.err;
}

// `fpscope analyze --gemm`: the same replay (item for item) as `fpscope gemm` in the result
// document's "gemm" array, and the verdicts fail a layer whose GEMM error misses gemm_rel_frobenius.
TEST_F(CliGemm, analyze_gemm_joins_the_same_replays_and_the_verdicts_use_them) {
  std::vector<Tensor> tensors = linear_layer();
  tensors.push_back({"fc.weight:grad", {kOut, kIn}, gaussian(kOut * kIn, 7, 1e-3f)});  // role grad_weight
  const std::string file = write_safetensors("step.safetensors", tensors);
  const auto g = run_fpscope({"gemm", file, "--formats", "e4m3", "--recipes", "tensor", "--models", "fp32-seq,nv-h100-fp8",
                              "--sample-rows", "5", "--seed", "7", "--json", path("gemm.json")});
  ASSERT_EQ(g.exit_code, 0) << g.err;
  const std::vector<std::string> analyze{"analyze", file, "--formats", "e4m3", "--recipes", "none,tensor,mx",
                                         "--rounding", "rne,sr", "--seed", "7", "--quiet"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = analyze;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  const auto a = run_fpscope(with({"--gemm", "--gemm-models", "fp32-seq,nv-h100-fp8", "--gemm-sample-rows", "5",
                                   "--json", path("a.json")}));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  // Threads never change the bytes (the replay's products are exact or per-output sequential).
  const auto a2 = run_fpscope(with({"--gemm", "--gemm-models", "fp32-seq,nv-h100-fp8", "--gemm-sample-rows", "5",
                                    "--threads", "2", "--json", path("a2.json")}));
  ASSERT_EQ(a2.exit_code, 0) << a2.err;
  EXPECT_EQ(read_whole_file(path("a2.json")), read_whole_file(path("a.json")));
  const nlohmann::json gemm_doc = nlohmann::json::parse(read_whole_file(path("gemm.json")));
  const nlohmann::json doc = nlohmann::json::parse(read_whole_file(path("a.json")));
  EXPECT_EQ(doc["options"]["gemm"]["models"], (nlohmann::json{"fp32-seq", "nv-h100-fp8"}));
  EXPECT_EQ(doc["options"]["gemm"]["sample_rows"], 5);
  // Replayed: e4m3/none/rne and e4m3/tensor/rne only (mx scales vary along K; sr is not the replay's rounding).
  std::set<std::string> combinations;
  nlohmann::json tensor_items = nlohmann::json::array();
  for (nlohmann::json item : doc["gemm"]) {
    combinations.insert(item["combination"].get<std::string>());
    if (item["combination"] == "e4m3/tensor/rne") {
      item.erase("combination");
      tensor_items.push_back(item);
    }
  }
  EXPECT_EQ(combinations, (std::set<std::string>{"e4m3/none/rne", "e4m3/tensor/rne"}));
  EXPECT_EQ(tensor_items, gemm_doc["gemm"]);
  EXPECT_EQ(tensor_items.at(0)["sampling"]["rows_kept"], 5);

  // The inputs alone tolerate e4m3/tensor (about 31 dB); a GEMM limit below the GEMM's error fails fc's
  // weight, activation and grad_activation entries, not its grad_weight or the bias-only layer.
  std::ofstream(path("t.json")) << R"({"default": {"gemm_rel_frobenius": {"tolerated": 1e-6, "marginal": 2e-6}}})";
  auto statuses = [](const nlohmann::json& d) {
    std::map<std::string, std::string> out;
    for (const auto& layer : d["layers"]) {
      for (const auto& v : layer["verdicts"]) {
        if (v["combination"] == "e4m3/tensor/rne") out[layer["role"].get<std::string>()] = v["status"];
      }
    }
    return out;
  };
  const auto plain = run_fpscope(with({"--thresholds", path("t.json"), "--json", path("plain.json")}));
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  const nlohmann::json plain_doc = nlohmann::json::parse(read_whole_file(path("plain.json")));
  EXPECT_FALSE(plain_doc.contains("gemm"));
  EXPECT_EQ(statuses(plain_doc)["weight"], "tolerated");
  const auto strict = run_fpscope(with({"--gemm", "--thresholds", path("t.json"), "--json", path("strict.json")}));
  ASSERT_EQ(strict.exit_code, 0) << strict.err;
  const nlohmann::json strict_doc = nlohmann::json::parse(read_whole_file(path("strict.json")));
  const auto s = statuses(strict_doc);
  EXPECT_EQ(s.at("weight"), "not_tolerated");
  EXPECT_EQ(s.at("activation"), "not_tolerated");
  EXPECT_EQ(s.at("grad_activation"), "not_tolerated");
  EXPECT_EQ(s.at("grad_weight"), statuses(plain_doc).at("grad_weight"));
  bool named = false;
  for (const auto& layer : strict_doc["layers"]) {
    for (const auto& v : layer["verdicts"]) {
      if (layer["role"] == "weight" && v["combination"] == "e4m3/tensor/rne") {
        named = v["failures"].at(0)["statistic"] == "gemm_rel_frobenius";
      }
    }
  }
  EXPECT_TRUE(named);

  const auto bad = run_fpscope(with({"--gemm", "--gemm-models", "fp32-seq,nope"}));
  EXPECT_EQ(bad.exit_code, 2);
  ASSERT_EQ(lines_of(bad.err).size(), 1u) << bad.err;
  EXPECT_EQ(bad.err.rfind("fpscope: --gemm-models: ", 0), 0u) << bad.err;
}

TEST_F(CliGemm, analyze_gemm_reports_a_layer_shape_error_once_and_exits_1) {
  const std::string file = write_safetensors("step.safetensors", linear_layer(30));  // X has 30 columns, W 32
  const auto r = run_fpscope({"analyze", file, "--formats", "e4m3,bf16", "--recipes", "mx,tensor", "--gemm",
                              "--gemm-models", "fp32-seq", "--quiet", "--json", path("a.json")});
  EXPECT_EQ(r.exit_code, 1);
  ASSERT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_EQ(r.err, "fpscope: gemm: " + file +
                       ": layer 'fc': the input's last dimension does not match the weight's 32 columns\n");
  const nlohmann::json doc = nlohmann::json::parse(read_whole_file(path("a.json")));
  EXPECT_EQ(doc["gemm"], nlohmann::json::array());
  ASSERT_EQ(doc["failures"].size(), 1u);
  EXPECT_EQ(doc["failures"][0]["tensor"], "fc");
}

// The issue's "done when": on the bundled dump, per layer, how much of the error is the
// inputs' and how much the accumulation's, for fp32-seq, nv-h100-fp8 and nv-h100-fp8-promote128.
TEST_F(CliGemm, bundled_dump_splits_input_quantization_and_accumulation_error) {
  // One captured step holds every layer; one file keeps the test short under the sanitizers.
  const std::string dump = std::string(FPSCOPE_SOURCE_DIR) + "/examples/data/tiny-gpt/step_000399.safetensors";
  const auto r = run_fpscope({"gemm", dump, "--models", "fp32-seq,nv-h100-fp8,nv-h100-fp8-promote128",
                              "--sample-rows", "16", "--json", path("out.json")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json doc = nlohmann::json::parse(read_whole_file(path("out.json")));
  std::set<std::string> layers, gemms;
  for (const auto& item : doc["gemm"]) {
    const std::string label = item["layer"].get<std::string>() + " " + item["gemm"].get<std::string>();
    SCOPED_TRACE(label);
    layers.insert(item["layer"].get<std::string>().substr(0, item["layer"].get<std::string>().find('@')));
    gemms.insert(item["gemm"].get<std::string>());
    EXPECT_LE(item["rows"].get<int>(), 16);
    const double input_q = item["input_quantization"]["rel_frobenius"].get<double>();
    EXPECT_GT(input_q, 1e-3);  // FP8 operands: a percent-level error
    ASSERT_EQ(item["models"].size(), 3u);
    double fp32 = 0, fp8 = 0, promoted = 0;
    for (const auto& m : item["models"]) {
      const double acc = m["accumulation"]["rel_frobenius"].get<double>();
      const double share = m["accumulation_energy_share"].get<double>();
      EXPECT_GE(share, 0.0);
      EXPECT_LE(share, 1.0);
      if (m["model"] == "fp32-seq") fp32 = acc;
      if (m["model"] == "nv-h100-fp8") fp8 = acc;
      if (m["model"] == "nv-h100-fp8-promote128") promoted = acc;
    }
    // fp32 accumulation is far below the input quantization; the 13-bit FP8 accumulator is
    // above fp32's yet below the input quantization at these K (<= 256). Promotion every 128
    // products changes nothing up to K = 128 (the one partial sum enters the fp32 accumulator
    // exactly) and, with two partial sums at most, keeps the same order of error beyond.
    EXPECT_LT(fp32, 1e-3 * input_q);
    EXPECT_GT(fp8, fp32);
    EXPECT_LT(fp8, input_q);
    if (item["depth"].get<int>() <= 128) {
      EXPECT_EQ(promoted, fp8);
    } else {
      EXPECT_LT(promoted, 2 * fp8);
      EXPECT_GT(promoted, fp32);
    }
  }
  EXPECT_EQ(gemms, (std::set<std::string>{"forward", "grad_input", "grad_weight"}));
  // Every linear layer of the model (examples/data/tiny-gpt/README.md): 3 blocks x {qkv, proj, fc1, fc2} and the head.
  EXPECT_EQ(layers.size(), 13u);
  EXPECT_TRUE(layers.contains("head"));
  EXPECT_TRUE(layers.contains("blocks.2.mlp.fc2"));
  // The table says the rows were sampled and names the split's columns.
  EXPECT_NE(r.out.find("rows of A sampled: at most 16 per GEMM"), std::string::npos);
  EXPECT_NE(r.out.find("input_q"), std::string::npos);
  EXPECT_NE(r.out.find("accum"), std::string::npos);
}

}  // namespace

