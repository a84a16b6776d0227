// analysis/result_json.cpp: the analysis as the versioned JSON document and as a CSV table.
#include "analysis/result_json.h"

#include <cmath>

#include <fmt/core.h>

#include "analysis/atomic_file.h"
#include "core/config.h"

namespace fpscope {
namespace {

using nlohmann::json;

template <class Counts>
std::pair<std::size_t, std::size_t> nonempty_range(const Counts& counts) {
  std::size_t lo = counts.size();
  std::size_t hi = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] != 0) {
      lo = std::min(lo, i);
      hi = i + 1;
    }
  }
  return lo < hi ? std::make_pair(lo, hi) : std::make_pair(std::size_t{0}, std::size_t{0});
}

json slice(const std::vector<std::uint64_t>& v, std::size_t lo, std::size_t hi) {
  return json(std::vector<std::uint64_t>(v.begin() + static_cast<std::ptrdiff_t>(lo), v.begin() + static_cast<std::ptrdiff_t>(hi)));
}

json binade_json(const BinadeHistogram& h) {
  const auto [lo, hi] = nonempty_range(h.counts);
  return {{"first_binade", BinadeHistogram::kMinBinade + static_cast<int>(lo)},
          {"counts", slice(h.counts, lo, hi)},
          {"zero", h.zero},
          {"inf", h.inf},
          {"nan", h.nan}};
}

json window_json(const WindowHistogram& w) {
  std::size_t lo = BinadeHistogram::kBins;
  std::size_t hi = 0;
  for (const auto& c : w.counts) {
    const auto [l, h] = nonempty_range(c);
    if (l < h) {
      lo = std::min(lo, l);
      hi = std::max(hi, h);
    }
  }
  // The vectors start at binade w.first (they cover only the binades seen); an empty window prints the first binade.
  const int first_binade = lo < hi ? w.first + static_cast<int>(lo) : BinadeHistogram::kMinBinade;
  if (lo >= hi) lo = hi = 0;
  return {{"first_binade", first_binade},
          {"underflow", slice(w.counts[WindowHistogram::underflow], lo, hi)},
          {"subnormal", slice(w.counts[WindowHistogram::subnormal], lo, hi)},
          {"normal", slice(w.counts[WindowHistogram::normal], lo, hi)},
          {"overflow", slice(w.counts[WindowHistogram::overflow], lo, hi)}};
}

json source_json(const SourceStats& s) {
  const SourceSummary sum = summarize(s);
  const bool any = s.finite() > 0;
  return {{"count", s.count},
          {"zeros", s.zeros},
          {"nan", s.nans},
          {"inf", s.infs},
          {"min", json_real(any ? s.min : 0.0)},
          {"max", json_real(any ? s.max : 0.0)},
          {"mean", json_real(sum.mean)},
          {"std", json_real(sum.std)},
          {"l1_norm", json_real(sum.l1_norm)},
          {"l2_norm", json_real(sum.l2_norm)},
          {"amax", json_real(s.amax)},
          {"amin_nonzero", json_real(std::isfinite(s.amin_nonzero) ? s.amin_nonzero : 0.0)},
          {"dynamic_range_binades", json_real(sum.dynamic_range_binades)},
          {"binade_histogram", binade_json(s.magnitudes)}};
}

json failure_json(const Failure& f) {
  return {{"statistic", f.statistic}, {"value", json_real(f.value)}, {"limit", f.limit}, {"by", json_real(f.by)},
          {"marginal", f.marginal}};
}

json failures_json(const std::vector<Failure>& fs) {
  json out = json::array();
  for (const Failure& f : fs) out.push_back(failure_json(f));
  return out;
}

json result_json(const TensorAnalysis& t, const Combination& c, const QuantStats& q, const Verdict& v) {
  const ErrorSummary e = summarize(q);
  const TeDebugStats te = te_debug_stats(t.source, q);
  const bool has_scales = q.scales.count > 0 && std::isfinite(q.scales.scale_min);
  return {
      {"combination", combination_id(c)},
      {"format", c.format_name},
      {"recipe", recipe_name(c.recipe)},
      {"rounding", c.rounding_name},
      {"bits_per_element", bits_per_element(c.format, c.recipe, t.rows, t.cols)},
      {"counts",
       {{"elements", q.count},
        {"compared", q.compared},
        {"exact", q.exact},
        {"underflow_to_zero", q.underflow_to_zero},
        {"subnormal", q.subnormal},
        {"overflow", q.overflow},
        {"nan_produced", q.nan_produced}}},
      {"errors",
       {{"max_abs", json_real(e.max_abs_error)},
        {"mse", json_real(e.mse)},
        {"rmse", json_real(e.rmse)},
        {"mean_rel", json_real(e.mean_rel_error)},
        {"max_rel", json_real(e.max_rel_error)},
        {"mean_error", json_real(e.mean_error)},
        {"sqnr_db", json_real(e.sqnr_db)},
        {"cosine", json_real(e.cosine)}}},
      {"scales",
       {{"count", q.scales.count},
        {"min", json_real(has_scales ? q.scales.scale_min : 1.0)},
        {"max", json_real(has_scales ? q.scales.scale_max : 1.0)},
        {"scale_inv_min", json_real(has_scales ? q.scales.scale_inv_min : 1.0)},
        {"scale_inv_max", json_real(has_scales ? q.scales.scale_inv_max : 1.0)},
        {"saturated", q.scales.saturated},
        {"underflowed", q.scales.underflowed}}},
      {"te_debug",
       {{"min", json_real(te.min)},
        {"max", json_real(te.max)},
        {"mean", json_real(te.mean)},
        {"std", json_real(te.std)},
        {"l1_norm", json_real(te.l1_norm)},
        {"l2_norm", json_real(te.l2_norm)},
        {"amax", json_real(te.amax)},
        {"dynamic_range", json_real(te.dynamic_range)},
        {"underflows%", json_real(te.underflows_pct)},
        {"overflows%", json_real(te.overflows_pct)},
        {"mse", json_real(te.mse)},
        {"scale_inv_min", json_real(te.scale_inv_min)},
        {"scale_inv_max", json_real(te.scale_inv_max)}}},
      {"window_histogram", window_json(q.window)},
      {"relative_error_histogram",
       {{"first_decade", RelErrorHistogram::kMinDecade},
        {"counts", json(std::vector<std::uint64_t>(q.rel_error.counts.begin(), q.rel_error.counts.end()))},
        {"exact", q.rel_error.exact}}},
      {"verdict", {{"status", status_name(v.status)}, {"failures", failures_json(v.failures)}}},
  };
}

json tensor_ref(const TensorInfo& info) {
  return {{"file", info.file}, {"name", info.name}, {"dtype", dtype_name(info.dtype)}, {"shape", info.shape},
          {"layer", info.layer}, {"role", role_name(info.role)}, {"step", info.step}};
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

json json_real(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  return x;
}

namespace {

// One entry of the "tensors" array.
json tensor_json(const DatasetAnalysis& analysis, std::size_t t, const std::vector<Combination>& combos,
                 const VerdictReport& verdicts) {
  const TensorAnalysis& ta = analysis.tensors[t];
  json results = json::array();
  for (std::size_t k = 0; k < combos.size(); ++k) {
    results.push_back(result_json(ta, combos[k], ta.results[k], verdicts.per_tensor[t][k]));
  }
  return {{"file", ta.info.file},
          {"name", ta.info.name},
          {"layer", ta.info.layer},
          {"role", role_name(ta.info.role)},
          {"role_inferred", ta.info.role_inferred},
          {"step", ta.info.step},
          {"module_type", ta.info.module_type},
          {"dtype", dtype_name(ta.info.dtype)},
          {"shape", ta.info.shape},
          {"rows", ta.rows},
          {"cols", ta.cols},
          {"elements", ta.source.count},
          {"passes", ta.passes},
          {"source", source_json(ta.source)},
          {"results", results}};
}

// The document; without `with_tensors` it lacks the "tensors" array (write_result_json streams it).
json result_document(const RunInfo& run, const DatasetAnalysis& analysis, const std::vector<Combination>& combos,
                     const Thresholds& thresholds, const VerdictReport& verdicts, const TrainingReport* training,
                     const std::vector<GemmSectionEntry>* gemm, bool with_tensors) {
  json doc;
  doc["schema_version"] = kResultSchemaVersion;
  doc["tool"] = {{"name", "fpscope"}, {"version", "0.1.0"}, {"command", "analyze"}};
  doc["inputs"] = run.inputs;
  doc["options"] = {{"formats", run.formats},
                    {"recipes", run.recipes},
                    {"rounding", run.roundings},
                    {"filter", run.filter ? json(*run.filter) : json(nullptr)},
                    {"seed", run.seed}};
  if (run.gemm_sample_rows) {
    doc["options"]["gemm"] = {{"models", run.gemm_models}, {"sample_rows", *run.gemm_sample_rows}};
  }
  doc["thresholds"] = thresholds_to_json(thresholds);
  std::uint64_t elements = 0;
  for (const TensorAnalysis& t : analysis.tensors) elements += t.source.count;
  doc["summary"] = {{"tensors_analysed", analysis.tensors.size()},
                    {"tensors_failed", analysis.failures.size()},
                    {"tensors_unsupported", analysis.unsupported.size()},
                    {"tensors_empty", analysis.empty.size()},
                    {"tensors_filtered_out", analysis.filtered_out},
                    {"elements", elements}};
  json combos_json = json::array();
  for (const Combination& c : combos) {
    combos_json.push_back({{"id", combination_id(c)},
                           {"format", c.format_name},
                           {"recipe", recipe_name(c.recipe)},
                           {"rounding", c.rounding_name},
                           {"element_bits", limits(c.format).total_bits},
                           // The element format's windows before scaling; the report shades
                           // them on each tensor's histogram shifted by the recipe's scales.
                           {"min_subnormal", json_real(limits(scaled_element_format(c.format, c.recipe)).min_subnormal)},
                           {"min_normal", json_real(limits(scaled_element_format(c.format, c.recipe)).min_normal)},
                           {"max_finite", json_real(limits(scaled_element_format(c.format, c.recipe)).max_finite)}});
  }
  doc["combinations"] = combos_json;
  if (with_tensors) {
    json tensors = json::array();
    for (std::size_t t = 0; t < analysis.tensors.size(); ++t) tensors.push_back(tensor_json(analysis, t, combos, verdicts));
    doc["tensors"] = tensors;
  }
  json failures = json::array();
  for (const ReadError& e : analysis.failures) {
    failures.push_back({{"file", e.file}, {"tensor", e.tensor}, {"message", e.message}});
  }
  doc["failures"] = failures;
  json unsupported = json::array();
  for (const TensorInfo& i : analysis.unsupported) unsupported.push_back(tensor_ref(i));
  doc["unsupported"] = unsupported;
  json empty = json::array();
  for (const TensorInfo& i : analysis.empty) empty.push_back(tensor_ref(i));
  doc["empty"] = empty;
  json layers = json::array();
  for (const LayerVerdict& lv : verdicts.layers) {
    json entries = json::array();
    for (const auto& e : lv.entries) {
      const TensorInfo& worst = analysis.tensors[e.worst_tensor].info;
      entries.push_back({{"combination", combination_id(combos[e.combination])},
                         {"status", status_name(e.status)},
                         {"bits_per_element", e.bits_per_element},
                         {"worst_tensor", worst.name.empty() ? worst.file : worst.name},
                         {"failures", failures_json(e.failures)}});
    }
    json cheapest = nullptr;
    if (lv.cheapest >= 0) {
      const auto& e = lv.entries[static_cast<std::size_t>(lv.cheapest)];
      cheapest = {{"combination", combination_id(combos[e.combination])}, {"bits_per_element", e.bits_per_element}};
    }
    layers.push_back({{"layer", lv.layer},
                      {"role", role_name(lv.role)},
                      {"tensors", lv.tensors.size()},
                      {"steps", lv.steps},
                      {"verdicts", entries},
                      {"cheapest_tolerated", cheapest}});
  }
  doc["layers"] = layers;
  json ranking = json::array();
  for (std::size_t r = 0; r < verdicts.ranking.size(); ++r) {
    const LayerVerdict& lv = verdicts.layers[verdicts.ranking[r]];
    const double bits = lv.cheapest < 0 ? std::numeric_limits<double>::infinity()
                                        : lv.entries[static_cast<std::size_t>(lv.cheapest)].bits_per_element;
    ranking.push_back({{"rank", r + 1},
                       {"layer", lv.layer},
                       {"role", role_name(lv.role)},
                       {"cheapest_bits_per_element", json_real(bits)},
                       {"reason", lv.reason}});
  }
  doc["ranking"] = ranking;
  if (training != nullptr) {
    json loss = json::array();
    for (const LossScaleCheck& c : training->loss_scaling) {
      loss.push_back({{"step", c.step},
                      {"format", c.format},
                      {"log2_scale", c.log2_scale},
                      {"elements", c.elements},
                      {"underflow_fraction", c.underflow_fraction},
                      {"subnormal_fraction", c.subnormal_fraction},
                      {"overflow_fraction", c.overflow_fraction},
                      {"unscaled_underflow_fraction", c.unscaled_underflow_fraction},
                      {"unscaled_subnormal_fraction", c.unscaled_subnormal_fraction},
                      {"unscaled_overflow_fraction", c.unscaled_overflow_fraction}});
    }
    json swamping = json::array();
    for (const SwampingCheck& c : training->update_swamping) {
      swamping.push_back({{"name", c.name},
                          {"step_before", c.step_before},
                          {"step_after", c.step_after},
                          {"format", c.format},
                          {"updates", c.updates},
                          {"lost_fraction_rne", c.lost_fraction_rne},
                          {"lost_fraction_sr", c.lost_fraction_sr},
                          {"retained_rne", json_real(c.retained_rne)},
                          {"retained_sr", json_real(c.retained_sr)}});
    }
    json storage = json::array();
    for (const StorageCost& c : training->storage) {
      storage.push_back({{"combination", c.combination},
                         {"bits_per_element", c.bits_per_element},
                         {"weight_bytes", c.weight_bytes},
                         {"grad_bytes", c.grad_bytes},
                         {"optimizer_state_bytes", c.optimizer_state_bytes},
                         {"total_bytes", c.total_bytes}});
    }
    doc["training"] = {{"loss_scaling", loss}, {"update_swamping", swamping}, {"storage", storage}};
  }
  if (gemm != nullptr) {
    json section = json::array();
    for (const GemmSectionEntry& g : *gemm) {
      json item = gemm_replay_json(g.replay);
      item["combination"] = combination_id(combos[g.combination]);
      section.push_back(std::move(item));
    }
    doc["gemm"] = section;
  }
  return doc;
}

// `text` (a value dumped on its own) as it appears nested `depth` levels deep with indent 1.
void write_nested(AtomicFile& out, const std::string& text, std::size_t depth) {
  const std::string newline = "\n" + std::string(depth, ' ');
  std::size_t start = 0;
  for (std::size_t end = text.find('\n'); end != std::string::npos; end = text.find('\n', start)) {
    out.write(std::string_view(text).substr(start, end - start));
    out.write(newline);
    start = end + 1;
  }
  out.write(std::string_view(text).substr(start));
}

}  // namespace

json result_to_json(const RunInfo& run, const DatasetAnalysis& analysis, const std::vector<Combination>& combos,
                    const Thresholds& thresholds, const VerdictReport& verdicts, const TrainingReport* training,
                    const std::vector<GemmSectionEntry>* gemm) {
  return result_document(run, analysis, combos, thresholds, verdicts, training, gemm, true);
}

void write_result_json(AtomicFile& out, const RunInfo& run, const DatasetAnalysis& analysis,
                       const std::vector<Combination>& combos, const Thresholds& thresholds,
                       const VerdictReport& verdicts, const TrainingReport* training,
                       const std::vector<GemmSectionEntry>* gemm) {
  const json doc = result_document(run, analysis, combos, thresholds, verdicts, training, gemm, false);
  // nlohmann::json objects keep their keys sorted (std::map): "tensors" goes where
  // the whole document's dump would put it.
  const std::string kTensors = "tensors";
  bool first = true;
  auto key = [&](const std::string& name) {
    out.write(first ? "{\n " : ",\n ");
    first = false;
    out.write(json(name).dump() + ": ");
  };
  bool tensors_written = false;
  auto tensors = [&] {
    key(kTensors);
    tensors_written = true;
    if (analysis.tensors.empty()) {
      out.write("[]");
      return;
    }
    for (std::size_t t = 0; t < analysis.tensors.size(); ++t) {
      out.write(t == 0 ? "[\n  " : ",\n  ");
      write_nested(out, tensor_json(analysis, t, combos, verdicts).dump(1), 2);
    }
    out.write("\n ]");
  };
  for (const auto& [name, value] : doc.items()) {
    if (!tensors_written && name > kTensors) tensors();
    key(name);
    write_nested(out, value.dump(1), 1);
  }
  if (!tensors_written) tensors();
  out.write("\n}\n");
}

std::string result_to_csv(const DatasetAnalysis& analysis, const std::vector<Combination>& combos,
                          const VerdictReport& verdicts) {
  std::string out =
      "file,name,layer,role,step,dtype,elements,format,recipe,rounding,bits_per_element,compared,exact,"
      "underflow_to_zero,subnormal,overflow,nan_produced,max_abs_error,mse,rmse,mean_rel_error,max_rel_error,"
      "mean_error,sqnr_db,cosine,scale_count,scale_min,scale_max,scale_inv_min,scale_inv_max,scales_saturated,"
      "status,worst_failure\n";
  for (std::size_t t = 0; t < analysis.tensors.size(); ++t) {
    const TensorAnalysis& ta = analysis.tensors[t];
    for (std::size_t k = 0; k < combos.size(); ++k) {
      const Combination& c = combos[k];
      const QuantStats& q = ta.results[k];
      const ErrorSummary e = summarize(q);
      const Verdict& v = verdicts.per_tensor[t][k];
      const bool has_scales = q.scales.count > 0 && std::isfinite(q.scales.scale_min);
      out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                         csv_field(ta.info.file), csv_field(ta.info.name), csv_field(ta.info.layer),
                         role_name(ta.info.role), ta.info.step, dtype_name(ta.info.dtype), ta.source.count,
                         csv_field(c.format_name), csv_field(recipe_name(c.recipe)), c.rounding_name,
                         bits_per_element(c.format, c.recipe, ta.rows, ta.cols), q.compared, q.exact,
                         q.underflow_to_zero, q.subnormal, q.overflow, q.nan_produced, e.max_abs_error, e.mse, e.rmse,
                         e.mean_rel_error, e.max_rel_error, e.mean_error, e.sqnr_db, e.cosine, q.scales.count,
                         has_scales ? q.scales.scale_min : 1.0, has_scales ? q.scales.scale_max : 1.0,
                         has_scales ? q.scales.scale_inv_min : 1.0, has_scales ? q.scales.scale_inv_max : 1.0,
                         q.scales.saturated, status_name(v.status),
                         csv_field(v.failures.empty() ? std::string() : v.failures.front().describe()));
    }
  }
  return out;
}

}  // namespace fpscope
