// analysis/training_checks.h: mixed-precision training checks: loss scaling, update swamping, storage cost.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analysis/engine.h"
#include "analysis/stats.h"
#include "analysis/tensor.h"
#include "core/format.h"

namespace fpscope {

// Loss scaling (Micikevicius et al., "Mixed Precision Training", 2018, s3.2): the
// power-of-two scale 2^log2_scale that puts the step's largest gradient at or
// below the format's max finite (no overflow) with the least underflow, since
// underflow only falls as the scale grows. Fractions come from the gradients'
// binade histogram after shifting it by log2_scale: binades wholly below half
// the smallest subnormal underflow (RNE), the binade just below the smallest
// subnormal rounds up to it and counts as subnormal, binades above emax overflow.
struct LossScaleCheck {
  std::int64_t step = -1;
  std::string format;
  int log2_scale = 0;
  std::uint64_t elements = 0;  // non-zero finite gradient elements
  double underflow_fraction = 0.0;
  double subnormal_fraction = 0.0;
  double overflow_fraction = 0.0;
  double unscaled_underflow_fraction = 0.0;  // what the unscaled gradients lose
  double unscaled_subnormal_fraction = 0.0;
  double unscaled_overflow_fraction = 0.0;
};
LossScaleCheck loss_scale_check(const BinadeHistogram& grads, double amax, const Format& f);
// One check per (step, format) over the gradient tensors (grad_weight, grad_activation) of each step.
std::vector<LossScaleCheck> loss_scale_checks(const DatasetAnalysis& a, const std::vector<Combination>& combos);

// Update swamping: for a weight captured at two steps, delta = after - before;
// with the master copy kept in format f (w = quantize(before)), the update is
// lost when quantize(w + delta) == w. Under RNE small updates are lost for
// good; under SR they survive in expectation (retained ~ 1). retained is the
// mean over updated elements of (quantize(w + delta) - w) / delta.
struct SwampingCheck {
  std::string name;
  std::int64_t step_before = -1;
  std::int64_t step_after = -1;
  std::string format;
  std::uint64_t updates = 0;  // elements with delta != 0 (finite)
  double lost_fraction_rne = 0.0;
  double lost_fraction_sr = 0.0;
  double retained_rne = 0.0;
  double retained_sr = 0.0;
};
// Reads both tensors in chunks (same element count required; throws fpscope::Error otherwise).
SwampingCheck update_swamping(TensorReader& before, TensorReader& after, const Format& f,
                              const std::string& format_name, std::uint64_t seed = 0,
                              std::uint64_t chunk_elements = 1u << 20);

// Storage per (format, recipe): bits per element with scales, and the bytes the
// weights, gradients (grad_weight) and optimizer state would take, counting each
// tensor once (its latest captured step).
struct StorageCost {
  std::string combination;  // format/recipe
  double bits_per_element = 0.0;  // over all counted tensors, weighted by elements
  double weight_bytes = 0.0;
  double grad_bytes = 0.0;
  double optimizer_state_bytes = 0.0;
  double total_bytes = 0.0;
};
std::vector<StorageCost> storage_costs(const DatasetAnalysis& a, const std::vector<Combination>& combos);

struct TrainingReport {
  std::vector<LossScaleCheck> loss_scaling;
  std::vector<SwampingCheck> update_swamping;
  std::vector<StorageCost> storage;
};

}  // namespace fpscope
