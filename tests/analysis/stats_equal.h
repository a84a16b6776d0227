// tests/analysis/stats_equal.h: field-by-field equality of SourceStats and QuantStats, for tests that compare two ways of computing them.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <string>

#include "analysis/stats.h"

namespace fpscope::testing_support {

inline void expect_same_scales(const ScaleSummary& a, const ScaleSummary& b, const std::string& where) {
  EXPECT_EQ(a.count, b.count) << where;
  EXPECT_EQ(a.saturated, b.saturated) << where;
  EXPECT_EQ(a.underflowed, b.underflowed) << where;
  EXPECT_EQ(a.scale_min, b.scale_min) << where;
  EXPECT_EQ(a.scale_max, b.scale_max) << where;
  EXPECT_EQ(a.scale_inv_min, b.scale_inv_min) << where;
  EXPECT_EQ(a.scale_inv_max, b.scale_inv_max) << where;
}

inline void expect_same(const QuantStats& a, const QuantStats& b, const std::string& where) {
  EXPECT_EQ(a.count, b.count) << where;
  EXPECT_EQ(a.compared, b.compared) << where;
  EXPECT_EQ(a.exact, b.exact) << where;
  EXPECT_EQ(a.underflow_to_zero, b.underflow_to_zero) << where;
  EXPECT_EQ(a.subnormal, b.subnormal) << where;
  EXPECT_EQ(a.overflow, b.overflow) << where;
  EXPECT_EQ(a.nan_produced, b.nan_produced) << where;
  EXPECT_EQ(a.rel_count, b.rel_count) << where;
  EXPECT_EQ(a.max_abs_error, b.max_abs_error) << where;
  EXPECT_EQ(a.max_rel_error, b.max_rel_error) << where;
  EXPECT_TRUE(a.sum_error == b.sum_error) << where << ": sum_error " << a.sum_error.value() << " vs " << b.sum_error.value();
  EXPECT_TRUE(a.sum_sq_error == b.sum_sq_error) << where;
  EXPECT_TRUE(a.sum_rel_error == b.sum_rel_error) << where;
  EXPECT_TRUE(a.sum_xq == b.sum_xq) << where;
  EXPECT_TRUE(a.sum_qq == b.sum_qq) << where;
  EXPECT_TRUE(a.sum_xx == b.sum_xx) << where;
  EXPECT_TRUE(a.window == b.window) << where;
  EXPECT_TRUE(a.rel_error == b.rel_error) << where;
  expect_same_scales(a.scales, b.scales, where);
}

inline void expect_same(const SourceStats& a, const SourceStats& b, const std::string& where) {
  EXPECT_EQ(a.count, b.count) << where;
  EXPECT_EQ(a.zeros, b.zeros) << where;
  EXPECT_EQ(a.nans, b.nans) << where;
  EXPECT_EQ(a.infs, b.infs) << where;
  // Bit for bit: both order -0 below +0 (stats.h ordered_min / ordered_max, the device's order keys).
  EXPECT_EQ(std::bit_cast<std::uint64_t>(a.min), std::bit_cast<std::uint64_t>(b.min)) << where;
  EXPECT_EQ(std::bit_cast<std::uint64_t>(a.max), std::bit_cast<std::uint64_t>(b.max)) << where;
  EXPECT_EQ(a.amax, b.amax) << where;
  EXPECT_EQ(a.amin_nonzero, b.amin_nonzero) << where;
  EXPECT_TRUE(a.sum == b.sum) << where;
  EXPECT_TRUE(a.sum_abs == b.sum_abs) << where;
  EXPECT_TRUE(a.sum_sq == b.sum_sq) << where;
  EXPECT_TRUE(a.magnitudes == b.magnitudes) << where;
}

}  // namespace fpscope::testing_support
