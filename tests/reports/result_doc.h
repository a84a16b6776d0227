// tests/reports/result_doc.h: small result documents written by hand (not by the analysis code) for the report tests.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace fpscope::test {

// A valid schema-1.0 document with no tensors.
inline nlohmann::json empty_result_doc() {
  return nlohmann::json::parse(R"({
    "schema_version": "1.0",
    "tool": {"name": "fpscope", "version": "0.1.0", "command": "analyze"},
    "inputs": ["dump/"],
    "options": {"formats": ["e4m3"], "recipes": ["tensor"], "rounding": ["rne"], "filter": null, "seed": 0},
    "thresholds": {"default": {"sqnr_db": {"tolerated": 20, "marginal": 15}, "max_rel": null}},
    "summary": {"tensors_analysed": 0, "tensors_failed": 0, "tensors_unsupported": 0, "tensors_empty": 0,
                "tensors_filtered_out": 0, "elements": 0},
    "combinations": [], "tensors": [], "failures": [], "unsupported": [], "empty": [], "layers": [], "ranking": []
  })");
}

// One result of a tensor; `sqnr` decides the verdict text, `by` how far it missed.
inline nlohmann::json result_entry(const std::string& combination, const std::string& status, double sqnr, double by) {
  nlohmann::json failures = nlohmann::json::array();
  if (status != "tolerated") {
    failures.push_back({{"statistic", "sqnr_db"}, {"value", sqnr}, {"limit", 20}, {"by", by}, {"marginal", status == "marginal"}});
  }
  return {{"combination", combination}, {"format", "e4m3"}, {"recipe", "tensor"}, {"rounding", "rne"},
          {"bits_per_element", 8.0},
          {"counts", {{"elements", 4}, {"compared", 4}, {"exact", 1}, {"underflow_to_zero", 1}, {"subnormal", 0},
                      {"overflow", 0}, {"nan_produced", 0}}},
          {"errors", {{"max_abs", 0.5}, {"mse", 0.1}, {"rmse", 0.3}, {"mean_rel", 0.01}, {"max_rel", 1},
                      {"mean_error", 0}, {"sqnr_db", sqnr}, {"cosine", 0.99}}},
          {"scales", {{"count", 1}, {"min", 2}, {"max", 2}, {"scale_inv_min", 0.5}, {"scale_inv_max", 0.5},
                      {"saturated", 0}, {"underflowed", 0}}},
          {"te_debug", {{"min", -1}, {"max", 1}, {"mean", 0}, {"std", 1}, {"l1_norm", 4}, {"l2_norm", 2},
                        {"amax", 1}, {"dynamic_range", 10}, {"underflows%", 25}, {"overflows%", 0}, {"mse", 0.1},
                        {"scale_inv_min", 0.5}, {"scale_inv_max", 0.5}}},
          {"window_histogram", {{"first_binade", -20}, {"underflow", {1, 0}}, {"subnormal", {0, 0}},
                                {"normal", {0, 2}}, {"overflow", {0, 0}}}},
          {"relative_error_histogram", {{"first_decade", -12}, {"counts", {0, 2, 1}}, {"exact", 1}}},
          {"verdict", {{"status", status}, {"failures", failures}}}};
}

// A tensor with one result per (combination, status, sqnr, by).
inline nlohmann::json tensor_entry(const std::string& name, const std::string& layer, long long step,
                                   const nlohmann::json& results) {
  return {{"file", "dump/step.safetensors"}, {"name", name}, {"layer", layer}, {"role", "weight"},
          {"role_inferred", false}, {"step", step}, {"dtype", "float32"}, {"shape", {2, 2}}, {"rows", 2},
          {"cols", 2}, {"elements", 4}, {"passes", 2},
          {"source", {{"count", 4}, {"zeros", 0}, {"nan", 0}, {"inf", 0}, {"min", -1}, {"max", 1}, {"mean", 0},
                      {"std", 1}, {"l1_norm", 4}, {"l2_norm", 2}, {"amax", 1}, {"amin_nonzero", 1e-6},
                      {"dynamic_range_binades", 20},
                      {"binade_histogram", {{"first_binade", -20}, {"counts", {1, 3}}, {"zero", 0}, {"inf", 0}, {"nan", 0}}}}},
          {"results", results}};
}

// The empty document with two layers over two combinations and three tensors:
// "blocks.0|odd" (a '|' to escape) tolerates both; "blocks.1" fails e4m3 by 9 dB, one tensor by 2 dB.
inline nlohmann::json two_layer_doc() {
  nlohmann::json doc = empty_result_doc();
  doc["combinations"] = nlohmann::json::parse(R"([
    {"id": "e4m3/tensor/rne", "format": "e4m3", "recipe": "tensor", "rounding": "rne", "element_bits": 8,
     "min_subnormal": 0.001953125, "min_normal": 0.015625, "max_finite": 448},
    {"id": "bf16/none/rne", "format": "bf16", "recipe": "none", "rounding": "rne", "element_bits": 16}])");
  doc["tensors"].push_back(tensor_entry("blocks.0|odd.weight", "blocks.0|odd", 0,
                                        {result_entry("e4m3/tensor/rne", "tolerated", 30, 0),
                                         result_entry("bf16/none/rne", "tolerated", 50, 0)}));
  doc["tensors"].push_back(tensor_entry("blocks.1.weight", "blocks.1", 0,
                                        {result_entry("e4m3/tensor/rne", "not_tolerated", 18, 2),
                                         result_entry("bf16/none/rne", "tolerated", 50, 0)}));
  doc["tensors"].push_back(tensor_entry("blocks.1.weight", "blocks.1", 200,
                                        {result_entry("e4m3/tensor/rne", "not_tolerated", 11, 9),
                                         result_entry("bf16/none/rne", "marginal", 19, 1)}));
  doc["layers"] = nlohmann::json::parse(R"([
    {"layer": "blocks.0|odd", "role": "weight", "tensors": 1, "steps": [0],
     "verdicts": [{"combination": "e4m3/tensor/rne", "status": "tolerated", "bits_per_element": 8.00002, "worst_tensor": "blocks.0|odd.weight", "failures": []},
                  {"combination": "bf16/none/rne", "status": "tolerated", "bits_per_element": 16, "worst_tensor": "blocks.0|odd.weight", "failures": []}],
     "cheapest_tolerated": {"combination": "e4m3/tensor/rne", "bits_per_element": 8.00002}},
    {"layer": "blocks.1", "role": "weight", "tensors": 2, "steps": [0, 200],
     "verdicts": [{"combination": "e4m3/tensor/rne", "status": "not_tolerated", "bits_per_element": 8.00002, "worst_tensor": "blocks.1.weight",
                   "failures": [{"statistic": "sqnr_db", "value": 11, "limit": 20, "by": 9, "marginal": false}]},
                  {"combination": "bf16/none/rne", "status": "marginal", "bits_per_element": 16, "worst_tensor": "blocks.1.weight",
                   "failures": [{"statistic": "sqnr_db", "value": 19, "limit": 20, "by": 1, "marginal": true}]}],
     "cheapest_tolerated": null}])");
  doc["ranking"] = nlohmann::json::parse(R"([
    {"rank": 1, "layer": "blocks.1", "role": "weight", "cheapest_bits_per_element": "inf", "reason": "nothing tolerated"},
    {"rank": 2, "layer": "blocks.0|odd", "role": "weight", "cheapest_bits_per_element": 8.00002, "reason": "e4m3 enough"}])");
  doc["summary"]["tensors_analysed"] = 3;
  doc["summary"]["elements"] = 12;
  return doc;
}

}  // namespace fpscope::test
