// analysis/result_json.h: the result document (reports/schema/result.schema.json, version 1.0) and the CSV table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/engine.h"
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
};

// A double as JSON: the number (shortest round-trip), or "inf" / "-inf" / "nan".
nlohmann::json json_real(double x);

// The whole document. Deterministic: the same analysis gives the same bytes
// (no timestamps, no thread counts).
nlohmann::json result_to_json(const RunInfo& run, const DatasetAnalysis& analysis,
                              const std::vector<Combination>& combos, const Thresholds& thresholds,
                              const VerdictReport& verdicts, const TrainingReport* training);

// One row per tensor x combination; a header row first. Numbers as in the JSON
// (shortest round-trip); fields with commas or quotes are quoted (RFC 4180).
std::string result_to_csv(const DatasetAnalysis& analysis, const std::vector<Combination>& combos,
                          const VerdictReport& verdicts);

}  // namespace fpscope
