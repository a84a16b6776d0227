// tests/analysis/test_verdict.cpp: thresholds (defaults, files, errors), judging, layer aggregation and ranking.
#include "analysis/verdict.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "core/error.h"

namespace fpscope {
namespace {

// A QuantStats with a chosen SQNR and underflow: n elements of 1.0 quantized to 1 + e, plus zeros-out.
QuantStats stats(double sqnr_db, std::uint64_t underflowed, std::uint64_t n = 100) {
  QuantStats q;
  const double e = std::sqrt(std::pow(10.0, -sqnr_db / 10.0));  // sum x^2 / sum e^2 = 10^(sqnr/10) for x = 1
  for (std::uint64_t i = 0; i < n; ++i) q.add(1.0, 1.0 + e, kInexact, Class::normal);
  for (std::uint64_t i = 0; i < underflowed; ++i) q.add(1e-9, 0.0, kInexact | kUnderflow, Class::zero);
  return q;
}

std::string error_of(const nlohmann::json& doc) {
  try {
    parse_thresholds(doc, "t.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(judge, tolerated_marginal_and_not) {
  std::vector<Threshold> limits;
  for (const Threshold& t : default_thresholds().defaults) {
    if (t.statistic == "sqnr_db" || t.statistic == "underflow_pct") limits.push_back(t);
  }
  EXPECT_EQ(judge(stats(30, 0), limits).status, Status::tolerated);
  Verdict v = judge(stats(15, 0), limits);  // between 12 and 20 dB
  EXPECT_EQ(v.status, Status::marginal);
  ASSERT_EQ(v.failures.size(), 1u);
  EXPECT_EQ(v.failures[0].statistic, "sqnr_db");
  EXPECT_NEAR(v.failures[0].by, 5.0, 1e-9);
  EXPECT_TRUE(v.failures[0].marginal);
  EXPECT_EQ(v.failures[0].describe().substr(0, 16), "sqnr_db 15 < 20 ");
  // 20 of 120 elements underflow: 16.7% > 10% -> not tolerated, listed first.
  v = judge(stats(15, 20), limits);
  EXPECT_EQ(v.status, Status::not_tolerated);
  EXPECT_EQ(v.failures[0].statistic, "underflow_pct");
  EXPECT_NEAR(v.failures[0].by, (100.0 * 20 / 120) / 1.0, 1e-9);
  EXPECT_FALSE(v.failures[0].marginal);
}

TEST(judge, mx_is_not_judged_on_its_by_design_saturation) {
  // 5 of 100 elements saturated: far beyond the 0.01% overflow limit.
  QuantStats q = stats(30, 0, 95);
  for (int i = 0; i < 5; ++i) q.add(1.8, 1.75, kInexact | kOverflow, Class::normal);
  const Thresholds thresholds = default_thresholds();
  const Verdict tensor = judge(q, limits_for(thresholds, Role::activation, parse_recipe("tensor")));
  EXPECT_EQ(tensor.status, Status::not_tolerated);
  ASSERT_FALSE(tensor.failures.empty());
  EXPECT_EQ(tensor.failures[0].statistic, "overflow_pct");
  const std::vector<Threshold> mx = limits_for(thresholds, Role::activation, parse_recipe("mx"));
  for (const Threshold& t : mx) EXPECT_NE(t.statistic, "overflow_pct");
  EXPECT_EQ(mx.size() + 1, limits_for(thresholds, Role::activation, parse_recipe("tensor")).size());
  for (const Failure& f : judge(q, mx).failures) EXPECT_NE(f.statistic, "overflow_pct");
}

TEST(thresholds, file_overrides_defaults_and_roles) {
  const Thresholds t = parse_thresholds(
      nlohmann::json::parse(R"({"default": {"sqnr_db": {"tolerated": 25, "marginal": 15}, "mean_rel_error": null},
                                "roles": {"grad_activation": {"underflow_pct": {"tolerated": 5, "marginal": 20}}}})"),
      "t.json");
  auto find = [](const std::vector<Threshold>& v, const char* name) -> const Threshold* {
    for (const Threshold& th : v) {
      if (th.statistic == name) return &th;
    }
    return nullptr;
  };
  EXPECT_EQ(find(t.defaults, "sqnr_db")->tolerated, 25.0);
  EXPECT_EQ(find(t.defaults, "mean_rel_error"), nullptr);
  EXPECT_EQ(find(t.defaults, "underflow_pct")->tolerated, 1.0);
  EXPECT_EQ(find(t.for_role(Role::grad_activation), "underflow_pct")->tolerated, 5.0);
  EXPECT_EQ(find(t.for_role(Role::grad_activation), "sqnr_db")->tolerated, 25.0);
  EXPECT_EQ(find(t.for_role(Role::weight), "underflow_pct")->tolerated, 1.0);
  // Round trip through JSON.
  const Thresholds back = parse_thresholds(thresholds_to_json(t), "x");
  EXPECT_EQ(thresholds_to_json(back), thresholds_to_json(t));
}

TEST(thresholds, errors_name_the_file_and_key) {
  EXPECT_EQ(error_of(nlohmann::json::parse(R"({"defaults": {}})")), "t.json: unknown key 'defaults' (valid: default, roles)");
  EXPECT_EQ(error_of(nlohmann::json::parse(R"({"default": {"snr": null}})")),
            "t.json: default: unknown statistic 'snr' (valid: sqnr_db, cosine, underflow_pct, overflow_pct, nan_pct, "
            "mean_rel_error, max_rel_error, subnormal_pct, gemm_rel_frobenius)");
  EXPECT_EQ(error_of(nlohmann::json::parse(R"({"default": {"sqnr_db": 20}})")),
            "t.json: default.sqnr_db: expected {\"tolerated\": number, \"marginal\": number} or null");
  EXPECT_NE(error_of(nlohmann::json::parse(R"({"roles": {"gradient": {}}})")).find("unknown role 'gradient'"),
            std::string::npos);
  const std::string path = ::testing::TempDir() + "fpscope_bad_thresholds.json";
  std::ofstream(path) << "{not json";
  try {
    load_thresholds(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path + ": not valid JSON", 0), 0u);
  }
}

TEST(judge_all, layers_cheapest_choice_and_ranking) {
  const auto combos = make_combinations({"bf16", "e4m3"}, {"none"}, {"rne"});
  DatasetAnalysis a;
  auto tensor = [&](std::string layer, Role role, std::int64_t step, QuantStats bf16, QuantStats e4m3) {
    TensorAnalysis t;
    t.info.name = layer + ".t" + std::to_string(step);
    t.info.layer = layer;
    t.info.role = role;
    t.info.step = step;
    t.rows = 1;
    t.cols = 100;
    t.results = {bf16, e4m3};
    a.tensors.push_back(t);
  };
  // "easy" tolerates e4m3 at both steps; "hard" fails e4m3 at step 1 only (the worst step decides).
  tensor("easy", Role::weight, 0, stats(50, 0), stats(30, 0));
  tensor("easy", Role::weight, 1, stats(50, 0), stats(30, 0));
  tensor("hard", Role::weight, 0, stats(50, 0), stats(30, 0));
  tensor("hard", Role::weight, 1, stats(50, 0), stats(8, 0));
  tensor("lost", Role::grad_weight, 0, stats(10, 0), stats(5, 0));
  const VerdictReport r = judge_all(a, combos, default_thresholds());
  ASSERT_EQ(r.layers.size(), 3u);
  EXPECT_EQ(r.layers[0].layer, "easy");
  EXPECT_EQ(r.layers[0].steps, (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(combination_id(combos[r.layers[0].entries[r.layers[0].cheapest].combination]), "e4m3/none/rne");
  EXPECT_EQ(r.layers[1].entries[1].status, Status::not_tolerated);
  EXPECT_EQ(r.layers[1].entries[1].worst_tensor, 3u);
  EXPECT_EQ(combination_id(combos[r.layers[1].entries[r.layers[1].cheapest].combination]), "bf16/none/rne");
  EXPECT_NE(r.layers[1].reason.find("e4m3/none/rne (8 bits) fails sqnr_db 8 < 20"), std::string::npos) << r.layers[1].reason;
  EXPECT_EQ(r.layers[2].cheapest, -1);
  // Most sensitive first: nothing tolerated, then 16 bits needed, then 8.
  EXPECT_EQ(r.layers[r.ranking[0]].layer, "lost");
  EXPECT_EQ(r.layers[r.ranking[1]].layer, "hard");
  EXPECT_EQ(r.layers[r.ranking[2]].layer, "easy");
}

TEST(judge_all, gemm_error_beyond_the_threshold_is_not_tolerated_even_with_tolerated_inputs) {
  const auto combos = make_combinations({"bf16", "e4m3"}, {"none"}, {"rne"});
  DatasetAnalysis a;
  auto tensor = [&](std::string layer, Role role) {
    TensorAnalysis t;
    t.info.name = layer + "." + role_name(role);
    t.info.layer = layer;
    t.info.role = role;
    t.rows = 1;
    t.cols = 100;
    t.results = {stats(50, 0), stats(30, 0)};  // both formats tolerated on the inputs alone
    a.tensors.push_back(t);
  };
  tensor("fc", Role::weight);
  tensor("fc", Role::activation);
  tensor("fc", Role::grad_weight);  // the output of dW, not a GEMM operand
  tensor("other", Role::weight);
  // fc: bf16 GEMM error 0.15 (marginal: between 0.1 and 0.25), e4m3 0.4 and 0.05 (worst counts).
  const std::vector<GemmCheck> gemm{{"fc", 0, 0.15}, {"fc", 1, 0.05}, {"fc", 1, 0.4}, {"other", 1, 0.05}};
  const VerdictReport plain = judge_all(a, combos, default_thresholds());
  for (const LayerVerdict& lv : plain.layers) {
    for (const auto& e : lv.entries) EXPECT_EQ(e.status, Status::tolerated) << lv.layer;
  }
  const VerdictReport r = judge_all(a, combos, default_thresholds(), gemm);
  ASSERT_EQ(r.layers.size(), 4u);
  // Sorted by (layer, role): fc/weight, fc/activation, fc/grad_weight, other/weight.
  for (std::size_t i : {0u, 1u}) {
    const LayerVerdict& lv = r.layers[i];
    ASSERT_EQ(lv.layer, "fc");
    EXPECT_EQ(lv.entries[0].status, Status::marginal);
    EXPECT_EQ(lv.entries[1].status, Status::not_tolerated);
    ASSERT_EQ(lv.entries[1].failures.size(), 1u);
    EXPECT_EQ(lv.entries[1].failures[0].statistic, "gemm_rel_frobenius");
    EXPECT_EQ(lv.entries[1].failures[0].value, 0.4);
    EXPECT_EQ(lv.entries[1].failures[0].limit, 0.1);
    EXPECT_NEAR(lv.entries[1].failures[0].by, 4.0, 1e-12);
    EXPECT_EQ(lv.cheapest, -1);  // bf16 marginal, e4m3 not tolerated
    EXPECT_NE(lv.reason.find("bf16/none/rne (16 bits) fails gemm_rel_frobenius 0.15 > 0.1"), std::string::npos) << lv.reason;
  }
  EXPECT_EQ(r.layers[2].role, Role::grad_weight);
  EXPECT_EQ(r.layers[2].entries[1].status, Status::tolerated);
  EXPECT_EQ(r.layers[3].layer, "other");
  EXPECT_EQ(r.layers[3].entries[1].status, Status::tolerated);
  // An overflowed GEMM (+inf) and a NaN error fail too.
  const VerdictReport inf = judge_all(a, combos, default_thresholds(),
                                      {{"fc", 0, std::numeric_limits<double>::infinity()},
                                       {"fc", 1, std::numeric_limits<double>::quiet_NaN()}});
  EXPECT_EQ(inf.layers[0].entries[0].status, Status::not_tolerated);
  EXPECT_EQ(inf.layers[0].entries[1].status, Status::not_tolerated);
  // A thresholds file can move or turn off the limit; judge() ignores it for a tensor's statistics.
  const Thresholds loose = parse_thresholds(
      nlohmann::json::parse(R"({"default": {"gemm_rel_frobenius": {"tolerated": 0.5, "marginal": 1}}})"), "t.json");
  EXPECT_EQ(judge_all(a, combos, loose, gemm).layers[0].entries[1].status, Status::tolerated);
  const Thresholds off = parse_thresholds(nlohmann::json::parse(R"({"default": {"gemm_rel_frobenius": null}})"), "t.json");
  EXPECT_EQ(judge_all(a, combos, off, gemm).layers[0].entries[1].status, Status::tolerated);
  EXPECT_EQ(judge(stats(30, 0), default_thresholds().defaults).status, Status::tolerated);
}

}  // namespace
}  // namespace fpscope
