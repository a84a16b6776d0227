// tests/analysis/test_training_checks.cpp: loss-scale choice by hand, update swamping under RNE and SR, storage bytes.
#include "analysis/training_checks.h"

#include <gtest/gtest.h>

#include <cmath>

namespace fpscope {
namespace {

class VectorReader : public TensorReader {
 public:
  VectorReader(std::string name, std::int64_t step, std::vector<double> v) : v_(std::move(v)) {
    info_.name = std::move(name);
    info_.step = step;
    info_.shape = {static_cast<std::int64_t>(v_.size())};
  }
  const TensorInfo& info() const override { return info_; }
  void read(std::uint64_t first, std::span<double> out) override {
    std::copy_n(v_.begin() + static_cast<std::ptrdiff_t>(first), out.size(), out.begin());
  }
  void read(std::uint64_t first, std::span<float> out) override {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<float>(v_[first + i]);
  }
  TensorInfo info_;
  std::vector<double> v_;
};

TEST(loss_scale_check, fp16_by_hand) {
  // Gradients: 90 at 2^-30 (below fp16's 2^-24 subnormal: underflow unscaled), 10 at 2^-4 (the amax).
  BinadeHistogram h;
  for (int i = 0; i < 90; ++i) h.add(std::ldexp(1.0, -30));
  for (int i = 0; i < 10; ++i) h.add(std::ldexp(1.0, -4));
  const LossScaleCheck c = loss_scale_check(h, std::ldexp(1.0, -4), find_preset("fp16")->format);
  // fp16 max 65504 = 1.999 * 2^15: 2^-4 * 2^19 = 2^15 <= 65504 < 2^16.
  EXPECT_EQ(c.log2_scale, 19);
  EXPECT_EQ(c.elements, 100u);
  EXPECT_EQ(c.underflow_fraction, 0.0);        // 2^-30 * 2^19 = 2^-11: normal
  EXPECT_EQ(c.overflow_fraction, 0.0);
  EXPECT_EQ(c.unscaled_underflow_fraction, 0.9);  // 2^-30 <= 2^-26 (half of half the min subnormal binade)
  // 2^-25 (the binade just below fp16's min subnormal 2^-24) rounds up to it: subnormal, not lost.
  BinadeHistogram edge;
  edge.add(std::ldexp(1.0, -25));
  edge.add(std::ldexp(1.0, -26));
  const LossScaleCheck e = loss_scale_check(edge, std::ldexp(1.0, 15), find_preset("fp16")->format);
  EXPECT_EQ(e.log2_scale, 0);
  EXPECT_EQ(e.underflow_fraction, 0.5);
  EXPECT_EQ(e.subnormal_fraction, 0.5);
}

TEST(update_swamping, rne_loses_small_updates_sr_keeps_them_in_expectation) {
  // Weights 1.0 with an update of a quarter of bf16's gap at 1 (2^-7 / 4 = 2^-9): RNE loses every one;
  // SR rounds up with probability 1/4, so the mean retained ratio is close to 1.
  const std::size_t n = 20000;
  VectorReader before("w", 0, std::vector<double>(n, 1.0));
  VectorReader after("w", 1, std::vector<double>(n, 1.0 + std::ldexp(1.0, -9)));
  const SwampingCheck c = update_swamping(before, after, find_preset("bf16")->format, "bf16", 7, 1000);
  EXPECT_EQ(c.updates, n);
  EXPECT_EQ(c.lost_fraction_rne, 1.0);
  EXPECT_EQ(c.retained_rne, 0.0);
  EXPECT_NEAR(c.lost_fraction_sr, 0.75, 0.02);  // 4 sigma for n = 20000
  EXPECT_NEAR(c.retained_sr, 1.0, 0.05);
  // fp32 keeps every update exactly.
  const SwampingCheck f = update_swamping(before, after, find_preset("fp32")->format, "fp32");
  EXPECT_EQ(f.lost_fraction_rne, 0.0);
  EXPECT_EQ(f.retained_rne, 1.0);
}

TEST(storage_costs, bytes_per_role_with_scales) {
  const auto combos = make_combinations({"e4m3"}, {"none", "mx"}, {"rne", "sr"});
  DatasetAnalysis a;
  auto add = [&](std::string name, Role role, std::int64_t step, std::uint64_t rows, std::uint64_t cols) {
    TensorAnalysis t;
    t.info.name = std::move(name);
    t.info.role = role;
    t.info.step = step;
    t.rows = rows;
    t.cols = cols;
    t.source.count = rows * cols;
    a.tensors.push_back(t);
  };
  add("w", Role::weight, 0, 4, 64);
  add("w", Role::weight, 5, 4, 64);  // the same tensor later: counted once
  add("w.grad", Role::grad_weight, 5, 4, 64);
  add("exp_avg", Role::optimizer_state, 5, 2, 64);
  add("act", Role::activation, 5, 100, 64);  // activations are not stored state
  const auto costs = storage_costs(a, combos);
  ASSERT_EQ(costs.size(), 2u);  // roundings do not change storage
  EXPECT_EQ(costs[0].combination, "e4m3/none");
  EXPECT_EQ(costs[0].weight_bytes, 256.0);
  EXPECT_EQ(costs[0].grad_bytes, 256.0);
  EXPECT_EQ(costs[0].optimizer_state_bytes, 128.0);
  EXPECT_EQ(costs[1].weight_bytes, 256.0 * 8.25 / 8.0);
  EXPECT_EQ(costs[1].bits_per_element, 8.25);
}

}  // namespace
}  // namespace fpscope
