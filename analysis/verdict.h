// analysis/verdict.h: thresholds, per-tensor and per-layer verdicts, the cheapest tolerated choice, and the sensitivity ranking.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/engine.h"
#include "analysis/stats.h"

namespace fpscope {

enum class Status : std::uint8_t { tolerated, marginal, not_tolerated };
const char* status_name(Status s);  // "tolerated", "marginal", "not_tolerated"

// One statistic's limits. For a lower bound (sqnr_db, cosine) a value must be
// >= the limit; for the others <= the limit. Statistics: sqnr_db, cosine,
// underflow_pct, overflow_pct, nan_pct, mean_rel_error, max_rel_error, subnormal_pct,
// and gemm_rel_frobenius (a layer's GEMM error, not a tensor's: judge() skips it).
struct Threshold {
  std::string statistic;
  double tolerated = 0.0;
  double marginal = 0.0;
};

// The default limits (every role), and why:
//  - sqnr_db >= 20 tolerated, >= 12 marginal. 20 dB is quantization noise at 1%
//    of the signal power (cosine ~ 0.995): what well-scaled FP8 gives (e4m3
//    ~ 31 dB, e5m2 ~ 25 dB for bell-shaped tensors); 12 dB is where block-scaled
//    FP4 (MXFP4 / NVFP4) lands, usable only with care.
//  - underflow_pct <= 1 tolerated, <= 10 marginal: flushing a few percent of
//    small gradients to zero is what loss scaling exists to avoid.
//  - overflow_pct <= 0.01 tolerated, <= 0.1 marginal: saturation clips the
//    outliers that carry much of the signal in transformer activations (LLM.int8,
//    Dettmers et al. 2022), so even a small fraction is costly.
//  - nan_pct <= 0 (both): a NaN produced by the format poisons training.
//  - mean_rel_error <= 0.1 tolerated, <= 0.3 marginal: every 8-bit format keeps
//    at least 2 mantissa bits (relative spacing 2^-2..2^-3), so mean errors beyond
//    these come from underflow, not from rounding.
//  - max_rel_error and cosine: off by default (one underflowed element gives a
//    relative error of 1; cosine follows SQNR).
//  - gemm_rel_frobenius <= 0.1 tolerated, <= 0.25 marginal: the layer's GEMMs
//    replayed under the accumulation models (`fpscope analyze --gemm`,
//    analysis/gemm_layers.h), ||model - fp64 product||_F / ||fp64 product||_F.
//    The same signal-to-noise bar as sqnr_db (20 dB is a relative error of 0.1,
//    12 dB of 0.25), applied to the layer's output instead of its inputs. Judged
//    per layer (LayerVerdict), only where GEMM results are given to judge_all.
struct Thresholds {
  std::vector<Threshold> defaults;
  std::map<std::string, std::vector<Threshold>> roles;  // role name -> limits overriding the defaults

  const std::vector<Threshold>& for_role(Role r) const;
};
Thresholds default_thresholds();

// Reads a thresholds JSON file:
//   {"default": {"sqnr_db": {"tolerated": 25, "marginal": 15}, "underflow_pct": null},
//    "roles": {"grad_activation": {"underflow_pct": {"tolerated": 5, "marginal": 20}}}}
// Keys left out keep their defaults; null turns a statistic off. Unknown keys,
// roles or malformed values throw fpscope::Error naming the file and the key.
Thresholds load_thresholds(const std::string& path);
Thresholds parse_thresholds(const nlohmann::json& doc, const std::string& source);
nlohmann::json thresholds_to_json(const Thresholds& t);

// A limit a result missed. `by`: dB below for sqnr_db, how far below for cosine,
// otherwise value / limit (inf when the limit is 0).
struct Failure {
  std::string statistic;
  double value = 0.0;
  double limit = 0.0;    // the tolerated limit
  double by = 0.0;
  bool marginal = false; // within the marginal limit
  std::string describe() const;  // "sqnr_db 14.2 < 20 (by 5.8 dB)"
};

struct Verdict {
  Status status = Status::tolerated;
  std::vector<Failure> failures;  // worst first
};

// The value of a named statistic for a result.
double statistic_value(const std::string& statistic, const QuantStats& q);
Verdict judge(const QuantStats& q, const std::vector<Threshold>& limits);

// The limits a (role, recipe) is judged by: the role's, less overflow_pct for
// `mx`, whose scale saturates a block's top elements by design (OCP MX v1.0 s6.3).
std::vector<Threshold> limits_for(const Thresholds& thresholds, Role role, const Recipe& recipe);

// One (layer, role): its tensors over every step, judged per combination by the worst tensor.
struct LayerVerdict {
  std::string layer;  // the tensor's layer, or its name when no layer is known
  Role role = Role::unknown;
  std::vector<std::size_t> tensors;  // indexes into DatasetAnalysis::tensors
  std::vector<std::int64_t> steps;
  struct Entry {
    std::size_t combination = 0;
    Status status = Status::tolerated;
    double bits_per_element = 0.0;  // the largest over the layer's tensors
    std::size_t worst_tensor = 0;   // index into DatasetAnalysis::tensors
    std::vector<Failure> failures;  // of the worst tensor
  };
  std::vector<Entry> entries;   // one per combination, in combination order
  int cheapest = -1;            // index into entries of the cheapest tolerated choice; -1 if none
  std::string reason;           // why it ranks where it does
};

struct VerdictReport {
  std::vector<std::vector<Verdict>> per_tensor;  // [tensor][combination]
  std::vector<LayerVerdict> layers;              // sorted by layer, then role
  std::vector<std::size_t> ranking;              // indexes into layers, most sensitive first
};

// A linear layer's GEMM error under one combination: the worst relative Frobenius
// error over its replayed GEMMs, models and steps (analysis/gemm_layers.h
// worst_rel_frobenius; +inf when outputs overflowed).
struct GemmCheck {
  std::string layer;            // TensorInfo::layer
  std::size_t combination = 0;  // index into the combinations
  double rel_frobenius = 0.0;
};

// With `gemm` checks, the layer's weight, activation and grad_activation entries
// (the GEMMs' operands) also fail gemm_rel_frobenius where the layer's GEMM error
// misses it: a layer is not tolerated when its product is too wrong, even if each
// input is quantized well enough.
VerdictReport judge_all(const DatasetAnalysis& analysis, const std::vector<Combination>& combos,
                        const Thresholds& thresholds, const std::vector<GemmCheck>& gemm = {});

// "e4m3/tensor/rne": how a combination is named in tables and JSON.
std::string combination_id(const Combination& c);

}  // namespace fpscope
