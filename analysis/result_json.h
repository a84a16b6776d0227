// analysis/result_json.h: the result document (reports/schema/result.schema.json, version 1.0) and the CSV table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/atomic_file.h"
#include "analysis/engine.h"
#include "analysis/gemm_layers.h"
#include "analysis/training_checks.h"
#include "analysis/verdict.h"

namespace fpscope {

inline constexpr const char* kResultSchemaVersion = "1.0";

// What the run was asked to do, as recorded in the document.
struct RunInfo {
  std::vector<std::string> inputs;
  std::vector<std::string> formats;
  std::vector<std::string> recipes;
  std::vector<std::string> roundings;
  std::optional<std::string> filter;
  std::uint64_t seed = 0;
  // `analyze --gemm`: the accumulation models and the rows of A kept per GEMM (options.gemm).
  std::vector<std::string> gemm_models;
  std::optional<std::size_t> gemm_sample_rows;
};

// A double as JSON: the number (shortest round-trip), or "inf" / "-inf" / "nan".
nlohmann::json json_real(double x);

// The whole document. Deterministic: the same analysis gives the same bytes
// (no timestamps, no thread counts).
// With `gemm`, the optional top-level "gemm" array: each replay as
// analysis/gemm_layers.h gemm_replay_json writes it (the shape `fpscope gemm --json`
// writes), plus the id of the combination it was replayed for.
struct GemmSectionEntry {
  LayerGemmReplay replay;
  std::size_t combination = 0;  // index into the combinations
};
nlohmann::json result_to_json(const RunInfo& run, const DatasetAnalysis& analysis,
                              const std::vector<Combination>& combos, const Thresholds& thresholds,
                              const VerdictReport& verdicts, const TrainingReport* training,
                              const std::vector<GemmSectionEntry>* gemm = nullptr);

// result_to_json(...).dump(1) + "\n", the same bytes, written to `out` piece by
// piece: the "tensors" array is built and written one tensor at a time, so
// memory holds one tensor's JSON tree, not the whole document's (about ten times
// the size of its text). The caller commits `out`.
void write_result_json(AtomicFile& out, const RunInfo& run, const DatasetAnalysis& analysis,
                       const std::vector<Combination>& combos, const Thresholds& thresholds,
                       const VerdictReport& verdicts, const TrainingReport* training,
                       const std::vector<GemmSectionEntry>* gemm = nullptr);

// One row per tensor x combination; a header row first. Numbers as in the JSON
// (shortest round-trip); fields with commas or quotes are quoted (RFC 4180).
std::string result_to_csv(const DatasetAnalysis& analysis, const std::vector<Combination>& combos,
                          const VerdictReport& verdicts);

}  // namespace fpscope
