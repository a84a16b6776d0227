// analysis/verdict.cpp: threshold files, judging results, layer aggregation and the sensitivity ranking.
#include "analysis/verdict.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <fmt/core.h>

#include "core/error.h"

namespace fpscope {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

struct StatisticInfo {
  const char* name;
  bool lower_bound;  // the value must be at least the limit
};
constexpr StatisticInfo kStatistics[] = {
    {"sqnr_db", true},         {"cosine", true},          {"underflow_pct", false}, {"overflow_pct", false},
    {"nan_pct", false},        {"mean_rel_error", false}, {"max_rel_error", false}, {"subnormal_pct", false},
    {"gemm_rel_frobenius", false},
};
// Judged on a layer's replayed GEMMs (judge_all's GemmCheck), not on a tensor's QuantStats.
constexpr const char* kGemmStatistic = "gemm_rel_frobenius";

const StatisticInfo* find_statistic(const std::string& name) {
  for (const StatisticInfo& s : kStatistics) {
    if (name == s.name) return &s;
  }
  return nullptr;
}

std::string statistic_list() {
  std::string out;
  for (const StatisticInfo& s : kStatistics) out += std::string(out.empty() ? "" : ", ") + s.name;
  return out;
}

const char* kRoles[] = {"unknown", "weight", "activation", "grad_weight", "grad_activation", "optimizer_state"};

void apply_limits(std::vector<Threshold>& limits, const nlohmann::json& obj, const std::string& where) {
  if (!obj.is_object()) throw Error(where + ": expected an object of statistics");
  for (const auto& [key, value] : obj.items()) {
    if (find_statistic(key) == nullptr) {
      throw Error(where + ": unknown statistic '" + key + "' (valid: " + statistic_list() + ")");
    }
    std::erase_if(limits, [&](const Threshold& t) { return t.statistic == key; });
    if (value.is_null()) continue;
    if (!value.is_object() || !value.contains("tolerated") || !value.contains("marginal") ||
        !value["tolerated"].is_number() || !value["marginal"].is_number()) {
      throw Error(where + "." + key + ": expected {\"tolerated\": number, \"marginal\": number} or null");
    }
    limits.push_back(Threshold{key, value["tolerated"].get<double>(), value["marginal"].get<double>()});
  }
}

bool passes(double value, double limit, bool lower_bound) {
  if (std::isnan(value)) return false;
  return lower_bound ? value >= limit : value <= limit;
}

int severity(Status s) { return static_cast<int>(s); }

}  // namespace

const char* status_name(Status s) {
  switch (s) {
    case Status::tolerated: return "tolerated";
    case Status::marginal: return "marginal";
    case Status::not_tolerated: return "not_tolerated";
  }
  return "?";
}

std::string combination_id(const Combination& c) {
  return c.format_name + "/" + recipe_name(c.recipe) + "/" + c.rounding_name;
}

const std::vector<Threshold>& Thresholds::for_role(Role r) const {
  if (auto it = roles.find(role_name(r)); it != roles.end()) return it->second;
  return defaults;
}

Thresholds default_thresholds() {
  Thresholds t;
  t.defaults = {
      {"sqnr_db", 20.0, 12.0},       {"underflow_pct", 1.0, 10.0}, {"overflow_pct", 0.01, 0.1},
      {"nan_pct", 0.0, 0.0},         {"mean_rel_error", 0.1, 0.3},
      {kGemmStatistic, 0.1, 0.25},
  };
  return t;
}

Thresholds parse_thresholds(const nlohmann::json& doc, const std::string& source) {
  Thresholds t = default_thresholds();
  if (!doc.is_object()) throw Error(source + ": expected a JSON object with \"default\" and/or \"roles\"");
  for (const auto& [key, value] : doc.items()) {
    if (key != "default" && key != "roles") {
      throw Error(source + ": unknown key '" + key + "' (valid: default, roles)");
    }
  }
  if (doc.contains("default")) apply_limits(t.defaults, doc["default"], source + ": default");
  if (doc.contains("roles")) {
    if (!doc["roles"].is_object()) throw Error(source + ": roles: expected an object keyed by role");
    for (const auto& [role, limits] : doc["roles"].items()) {
      if (std::find(std::begin(kRoles), std::end(kRoles), role) == std::end(kRoles)) {
        throw Error(source + ": roles: unknown role '" + role +
                    "' (valid: unknown, weight, activation, grad_weight, grad_activation, optimizer_state)");
      }
      std::vector<Threshold> merged = t.defaults;
      apply_limits(merged, limits, source + ": roles." + role);
      t.roles[role] = merged;
    }
  }
  return t;
}

Thresholds load_thresholds(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open the thresholds file");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
  return parse_thresholds(doc, path);
}

nlohmann::json thresholds_to_json(const Thresholds& t) {
  // A default statistic that was turned off is written as null, so the document reads back the same.
  const Thresholds defaults = default_thresholds();
  auto limits = [&](const std::vector<Threshold>& v) {
    nlohmann::json obj = nlohmann::json::object();
    for (const Threshold& d : defaults.defaults) obj[d.statistic] = nullptr;
    for (const Threshold& th : v) obj[th.statistic] = {{"tolerated", th.tolerated}, {"marginal", th.marginal}};
    return obj;
  };
  nlohmann::json doc = {{"default", limits(t.defaults)}};
  if (!t.roles.empty()) {
    doc["roles"] = nlohmann::json::object();
    for (const auto& [role, v] : t.roles) doc["roles"][role] = limits(v);
  }
  return doc;
}

std::string Failure::describe() const {
  const StatisticInfo* info = find_statistic(statistic);
  const bool lower = info != nullptr && info->lower_bound;
  std::string how;
  if (statistic == "sqnr_db") {
    how = fmt::format("by {:.3g} dB", by);
  } else if (lower) {
    how = fmt::format("by {:.3g}", by);
  } else {
    how = std::isinf(by) ? "limit 0" : fmt::format("x{:.3g}", by);
  }
  return fmt::format("{} {:.4g} {} {:.4g} ({})", statistic, value, lower ? "<" : ">", limit, how);
}

namespace {

// statistic_value with summarize(q) computed once by the caller (it rounds six exact sums).
double statistic_value(const std::string& statistic, const QuantStats& q, const ErrorSummary& e) {
  if (statistic == "sqnr_db") return e.sqnr_db;
  if (statistic == "cosine") return e.cosine;
  if (statistic == "underflow_pct") return e.underflow_pct;
  if (statistic == "overflow_pct") return e.overflow_pct;
  if (statistic == "subnormal_pct") return e.subnormal_pct;
  if (statistic == "nan_pct") return q.count == 0 ? 0.0 : 100.0 * static_cast<double>(q.nan_produced) / static_cast<double>(q.count);
  if (statistic == "mean_rel_error") return e.mean_rel_error;
  if (statistic == "max_rel_error") return e.max_rel_error;
  throw Error("unknown statistic '" + statistic + "' (valid: " + statistic_list() + ")");
}

// Adds the failure of `value` against `t` to `v`, if it misses the tolerated limit.
void judge_value(Verdict& v, const Threshold& t, double value) {
  const StatisticInfo* info = find_statistic(t.statistic);
  const bool lower = info->lower_bound;
  if (passes(value, t.tolerated, lower)) return;
  Failure f;
  f.statistic = t.statistic;
  f.value = value;
  f.limit = t.tolerated;
  f.marginal = passes(value, t.marginal, lower);
  if (lower) {
    f.by = std::isnan(value) ? kInf : t.tolerated - value;
  } else {
    f.by = t.tolerated == 0.0 ? kInf : value / t.tolerated;
  }
  if (!f.marginal) {
    v.status = Status::not_tolerated;
  } else if (v.status == Status::tolerated) {
    v.status = Status::marginal;
  }
  v.failures.push_back(f);
}

// Worst first: failures beyond the marginal limit, then the larger miss.
void sort_failures(std::vector<Failure>& failures) {
  std::stable_sort(failures.begin(), failures.end(), [](const Failure& a, const Failure& b) {
    if (a.marginal != b.marginal) return !a.marginal;
    return a.by > b.by;
  });
}

}  // namespace

double statistic_value(const std::string& statistic, const QuantStats& q) {
  return statistic_value(statistic, q, summarize(q));
}

Verdict judge(const QuantStats& q, const std::vector<Threshold>& limits) {
  Verdict v;
  const ErrorSummary e = summarize(q);
  for (const Threshold& t : limits) {
    if (t.statistic == kGemmStatistic) continue;  // a layer's statistic (judge_all)
    judge_value(v, t, statistic_value(t.statistic, q, e));
  }
  sort_failures(v.failures);
  return v;
}

std::vector<Threshold> limits_for(const Thresholds& thresholds, Role role, const Recipe& recipe) {
  std::vector<Threshold> limits = thresholds.for_role(role);
  if (recipe.kind == RecipeKind::mx) {
    // OCP MX v1.0 s6.3 chooses X = 2^(floor(log2 amax) - emax_elem) and clamps:
    // a block's largest elements saturate by design whenever their significand
    // exceeds the element format's largest one (1.75 for e4m3, 1.5 for e2m1).
    // That clipping is part of the recipe, and its cost is in SQNR and the
    // relative errors; judged as overflow it would fail every MX tensor.
    std::erase_if(limits, [](const Threshold& t) { return t.statistic == "overflow_pct"; });
  }
  return limits;
}

VerdictReport judge_all(const DatasetAnalysis& analysis, const std::vector<Combination>& combos,
                        const Thresholds& thresholds, const std::vector<GemmCheck>& gemm) {
  VerdictReport report;
  std::map<std::pair<std::string, int>, std::size_t> layer_index;
  for (std::size_t t = 0; t < analysis.tensors.size(); ++t) {
    const TensorAnalysis& ta = analysis.tensors[t];
    std::vector<Verdict> verdicts;
    for (std::size_t k = 0; k < combos.size(); ++k) {
      verdicts.push_back(judge(ta.results[k], limits_for(thresholds, ta.info.role, combos[k].recipe)));
    }
    report.per_tensor.push_back(std::move(verdicts));
    const std::string layer = ta.info.layer.empty() ? ta.info.name : ta.info.layer;
    const auto key = std::make_pair(layer, static_cast<int>(ta.info.role));
    if (!layer_index.contains(key)) {
      layer_index[key] = report.layers.size();
      LayerVerdict lv;
      lv.layer = layer;
      lv.role = ta.info.role;
      report.layers.push_back(lv);
    }
    report.layers[layer_index[key]].tensors.push_back(t);
  }
  // Sorted by (layer, role) for stable output.
  std::sort(report.layers.begin(), report.layers.end(), [](const LayerVerdict& a, const LayerVerdict& b) {
    if (a.layer != b.layer) return a.layer < b.layer;
    return a.role < b.role;
  });
  for (LayerVerdict& lv : report.layers) {
    std::set<std::int64_t> steps;
    for (std::size_t t : lv.tensors) steps.insert(analysis.tensors[t].info.step);
    lv.steps.assign(steps.begin(), steps.end());
    for (std::size_t k = 0; k < combos.size(); ++k) {
      LayerVerdict::Entry e;
      e.combination = k;
      e.worst_tensor = lv.tensors.front();
      bool first = true;
      for (std::size_t t : lv.tensors) {
        const TensorAnalysis& ta = analysis.tensors[t];
        e.bits_per_element = std::max(e.bits_per_element, bits_per_element(combos[k].format, combos[k].recipe, ta.rows, ta.cols));
        const Verdict& v = report.per_tensor[t][k];
        const bool worse = severity(v.status) > severity(e.status) ||
                           (severity(v.status) == severity(e.status) && !v.failures.empty() &&
                            (e.failures.empty() || v.failures.front().by > e.failures.front().by));
        if (first || worse) {
          e.status = v.status;
          e.failures = v.failures;
          e.worst_tensor = t;
          first = false;
        }
      }
      // The layer's GEMM error under this combination (worst over its checks), for the GEMMs' operands.
      const bool gemm_operand = lv.role == Role::weight || lv.role == Role::activation || lv.role == Role::grad_activation;
      const Threshold* gemm_limit = nullptr;
      for (const Threshold& t : thresholds.for_role(lv.role)) {
        if (t.statistic == kGemmStatistic) gemm_limit = &t;
      }
      if (gemm_operand && gemm_limit != nullptr) {
        bool found = false;
        double worst = 0.0;
        for (const GemmCheck& g : gemm) {
          if (g.layer != lv.layer || g.combination != k) continue;
          const double value = std::isnan(g.rel_frobenius) ? kInf : g.rel_frobenius;
          worst = found ? std::max(worst, value) : value;
          found = true;
        }
        if (found) {
          Verdict gv;
          judge_value(gv, *gemm_limit, worst);
          if (!gv.failures.empty()) {
            if (severity(gv.status) > severity(e.status)) e.status = gv.status;
            e.failures.push_back(gv.failures.front());
            sort_failures(e.failures);
          }
        }
      }
      lv.entries.push_back(e);
    }
    // The cheapest tolerated choice: fewest bits; ties go to the earlier combination.
    for (std::size_t i = 0; i < lv.entries.size(); ++i) {
      const auto& e = lv.entries[i];
      if (e.status != Status::tolerated) continue;
      if (lv.cheapest < 0 || e.bits_per_element < lv.entries[static_cast<std::size_t>(lv.cheapest)].bits_per_element) {
        lv.cheapest = static_cast<int>(i);
      }
    }
    // The reason: what fails below the chosen cost (the most expensive rejected cheaper choice).
    const double chosen_bits = lv.cheapest < 0 ? kInf : lv.entries[static_cast<std::size_t>(lv.cheapest)].bits_per_element;
    const LayerVerdict::Entry* blocker = nullptr;
    for (const auto& e : lv.entries) {
      if (e.status == Status::tolerated || e.bits_per_element >= chosen_bits) continue;
      if (blocker == nullptr || e.bits_per_element > blocker->bits_per_element ||
          (e.bits_per_element == blocker->bits_per_element && severity(e.status) < severity(blocker->status))) {
        blocker = &e;
      }
    }
    if (lv.cheapest < 0) {
      lv.reason = "no (format, recipe) tolerated";
      if (blocker != nullptr) {
        lv.reason += fmt::format("; {} ({:.3g} bits) fails {}", combination_id(combos[blocker->combination]),
                                 blocker->bits_per_element, blocker->failures.front().describe());
      }
    } else {
      const auto& chosen = lv.entries[static_cast<std::size_t>(lv.cheapest)];
      lv.reason = fmt::format("cheapest tolerated: {} ({:.3g} bits)", combination_id(combos[chosen.combination]),
                              chosen.bits_per_element);
      if (blocker != nullptr) {
        lv.reason += fmt::format("; {} ({:.3g} bits) fails {}", combination_id(combos[blocker->combination]),
                                 blocker->bits_per_element, blocker->failures.front().describe());
      }
    }
  }
  // Most sensitive first: no tolerated choice, then the most bits needed, then the
  // most combinations failed, then the largest miss of the cheaper blocker.
  report.ranking.resize(report.layers.size());
  for (std::size_t i = 0; i < report.ranking.size(); ++i) report.ranking[i] = i;
  auto cost = [&](const LayerVerdict& lv) {
    return lv.cheapest < 0 ? kInf : lv.entries[static_cast<std::size_t>(lv.cheapest)].bits_per_element;
  };
  auto failed = [](const LayerVerdict& lv) {
    int n = 0;
    for (const auto& e : lv.entries) n += severity(e.status);
    return n;
  };
  std::stable_sort(report.ranking.begin(), report.ranking.end(), [&](std::size_t a, std::size_t b) {
    const LayerVerdict& x = report.layers[a];
    const LayerVerdict& y = report.layers[b];
    if (cost(x) != cost(y)) return cost(x) > cost(y);
    return failed(x) > failed(y);
  });
  return report;
}

}  // namespace fpscope
