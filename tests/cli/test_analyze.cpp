// tests/cli/test_analyze.cpp: `fpscope analyze`: JSON/CSV outputs, thread/chunk invariance of the bytes, exit codes 0/1/2.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/npy.h"
#include "core/format.h"
#include "core/round.h"
#include "tests/cli/run_fpscope.h"
#include "tests/temp_dir_test.h"

namespace fs = std::filesystem;
using fpscope::test::lines_of;
using fpscope::test::read_whole_file;
using fpscope::test::run_fpscope;

namespace {

class CliAnalyze : public fpscope::test::TempDirTest {
 protected:
  // A safetensors file with float32 tensors (8-byte header length, JSON header, data).
  std::string write_safetensors(const std::string& name,
                                const std::vector<std::pair<std::string, std::vector<float>>>& tensors) {
    nlohmann::json header = nlohmann::json::object();
    std::string data;
    for (const auto& [tname, values] : tensors) {
      const std::size_t begin = data.size();
      data.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
      header[tname] = {{"dtype", "F32"},
                       {"shape", {static_cast<std::int64_t>(values.size() / 16), 16}},
                       {"data_offsets", {begin, data.size()}}};
    }
    const std::string text = header.dump();
    const std::uint64_t n = text.size();
    std::ofstream out(path(name), std::ios::binary);
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << text << data;
    return path(name);
  }

  std::vector<float> gaussian(std::size_t n, unsigned seed, float sigma) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> d(0.0f, sigma);
    std::vector<float> v(n);
    for (float& x : v) x = d(gen);
    return v;
  }

};

TEST_F(CliAnalyze, writes_json_and_csv_identical_for_any_threads_and_chunks) {
  const std::string file = write_safetensors(
      "w.safetensors", {{"layer.weight", gaussian(64 * 16, 1, 0.02f)}, {"layer.bias", gaussian(32, 2, 1e-3f)}});
  const std::vector<std::string> common{"analyze", file, "--formats", "e4m3,bf16,e2m1", "--recipes", "none,tensor,mx,nvfp4",
                                        "--rounding", "rne,sr"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = common;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  const auto one = run_fpscope(with({"--json", path("a.json"), "--csv", path("a.csv"), "--threads", "1"}));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const auto two = run_fpscope(with({"--json", path("b.json"), "--csv", path("b.csv"), "--threads", "2",
                                     "--chunk-elements", "16"}));
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(read_whole_file(path("a.json")), read_whole_file(path("b.json")));
  EXPECT_EQ(read_whole_file(path("a.csv")), read_whole_file(path("b.csv")));

  const nlohmann::json doc = nlohmann::json::parse(read_whole_file(path("a.json")));
  EXPECT_EQ(doc["schema_version"], "1.0");
  // e4m3: none, tensor, mx; bf16: none, tensor; e2m1: none, tensor, mx, nvfp4 -> 9, times 2 roundings.
  ASSERT_EQ(doc["combinations"].size(), 18u);
  ASSERT_EQ(doc["tensors"].size(), 2u);
  const nlohmann::json& weight = doc["tensors"][1];
  EXPECT_EQ(weight["name"], "layer.weight");
  EXPECT_EQ(weight["results"].size(), 18u);
  EXPECT_EQ(weight["source"]["count"], 1024);
  // bf16 without scaling: the error statistics of a direct per-element computation.
  const std::vector<float> w = gaussian(64 * 16, 1, 0.02f);
  const fpscope::Format bf16 = fpscope::find_preset("bf16")->format;
  double max_abs = 0;
  for (float x : w) max_abs = std::max(max_abs, std::fabs(fpscope::quantize(x, bf16, {}) - x));
  const nlohmann::json& bf16_none = weight["results"][6];
  EXPECT_EQ(bf16_none["combination"], "bf16/none/rne");
  EXPECT_EQ(bf16_none["errors"]["max_abs"].get<double>(), max_abs);
  EXPECT_EQ(bf16_none["te_debug"].size(), 13u);
  // CSV: a header and one row per tensor x combination.
  EXPECT_EQ(lines_of(read_whole_file(path("a.csv"))).size(), 1u + 2u * 18u);
  // The terminal summary names the layer table and the verdict columns.
  EXPECT_NE(one.out.find("cheapest tolerated"), std::string::npos);
  EXPECT_NE(one.out.find("e4m3/tensor/rne"), std::string::npos);
}

TEST_F(CliAnalyze, unreadable_file_exits_1_and_still_analyses_the_rest) {
  const std::string good = write_safetensors("good.safetensors", {{"a.weight", gaussian(32, 3, 1.0f)}});
  std::ofstream(path("bad.safetensors"), std::ios::binary) << "\x10\x00\x00";  // truncated length
  const auto r = run_fpscope({"analyze", good, path("bad.safetensors"), "--formats", "fp16", "--recipes", "none",
                              "--json", path("r.json"), "--quiet"});
  EXPECT_EQ(r.exit_code, 1);
  const auto err = lines_of(r.err);
  ASSERT_EQ(err.size(), 1u) << r.err;
  EXPECT_NE(err[0].find("bad.safetensors"), std::string::npos);
  const nlohmann::json doc = nlohmann::json::parse(read_whole_file(path("r.json")));
  EXPECT_EQ(doc["tensors"].size(), 1u);
  EXPECT_EQ(doc["failures"].size(), 1u);
}

TEST_F(CliAnalyze, usage_errors_exit_2_with_one_line_and_no_output) {
  const std::string good = write_safetensors("good.safetensors", {{"a.weight", gaussian(32, 3, 1.0f)}});
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  std::ofstream(path("thresholds.json")) << R"({"default": {"sqnr": {"tolerated": 1, "marginal": 0}}})";
  const std::vector<Case> cases{
      {{"--formats", "e4m3,nope"}, "nope"},
      {{"--recipes", "blocky"}, "recipe 'blocky': unknown recipe 'blocky'"},
      {{"--rounding", "fast"}, "fast"},
      {{"--formats", "bf16", "--recipes", "mx"}, "--recipes 'mx' applies to none of --formats 'bf16'"},
      {{"--filter", "("}, "--filter '(': not a valid regular expression"},
      {{"--thresholds", path("thresholds.json")}, "unknown statistic 'sqnr'"},
      {{"--thresholds", path("missing.json")}, "missing.json: cannot open the thresholds file"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args{"analyze", good, "--json", path("out.json")};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto r = run_fpscope(args);
    EXPECT_EQ(r.exit_code, 2) << c.message;
    const auto err = lines_of(r.err);
    ASSERT_EQ(err.size(), 1u) << r.err;
    EXPECT_NE(err[0].find(c.message), std::string::npos) << err[0];
    EXPECT_FALSE(fs::exists(path("out.json")));
  }
}

TEST_F(CliAnalyze, thresholds_file_changes_the_verdict) {
  const std::string good = write_safetensors("good.safetensors", {{"a.weight", gaussian(64, 4, 1.0f)}});
  std::ofstream(path("strict.json")) << R"({"default": {"sqnr_db": {"tolerated": 200, "marginal": 100}}})";
  const auto r = run_fpscope({"analyze", good, "--formats", "bf16", "--recipes", "none", "--thresholds",
                              path("strict.json"), "--json", path("r.json"), "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json doc = nlohmann::json::parse(read_whole_file(path("r.json")));
  const nlohmann::json& v = doc["tensors"][0]["results"][0]["verdict"];
  EXPECT_EQ(v["status"], "not_tolerated");
  EXPECT_EQ(v["failures"][0]["statistic"], "sqnr_db");
  EXPECT_EQ(doc["thresholds"]["default"]["sqnr_db"]["tolerated"], 200);
}

}  // namespace
