// analysis/training_checks.cpp: loss-scale search on gradient binades, update swamping on weight pairs, storage cost.
#include "analysis/training_checks.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/error.h"
#include "core/random.h"

namespace fpscope {
namespace {

struct Fractions {
  double underflow = 0.0;
  double subnormal = 0.0;
  double overflow = 0.0;
};

// The histogram shifted by 2^k against format f's window (training_checks.h).
Fractions window_fractions(const BinadeHistogram& h, int k, const Format& f, std::uint64_t total) {
  const FormatLimits l = limits(f);
  const int min_sub_binade = static_cast<int>(std::lround(std::log2(l.min_subnormal)));
  std::uint64_t under = 0, sub = 0, over = 0;
  for (int i = 0; i < BinadeHistogram::kBins; ++i) {
    const std::uint64_t c = h.counts[i];
    if (c == 0) continue;
    const int b = BinadeHistogram::kMinBinade + i + k;
    if (b <= min_sub_binade - 2) {
      under += c;
    } else if (b < l.emin) {
      sub += c;
    } else if (b > l.emax) {
      over += c;
    }
  }
  if (total == 0) return {};
  const double n = static_cast<double>(total);
  return {static_cast<double>(under) / n, static_cast<double>(sub) / n, static_cast<double>(over) / n};
}

}  // namespace

LossScaleCheck loss_scale_check(const BinadeHistogram& grads, double amax, const Format& f) {
  LossScaleCheck c;
  c.format = format_name(f);
  for (auto n : grads.counts) c.elements += n;
  const double max_finite = limits(f).max_finite;
  int k = 0;
  if (amax > 0.0 && std::isfinite(amax)) {
    // The largest k with amax * 2^k <= max_finite.
    k = std::ilogb(max_finite) - std::ilogb(amax);
    while (std::ldexp(amax, k) > max_finite) --k;
    while (std::ldexp(amax, k + 1) <= max_finite) ++k;
  }
  c.log2_scale = k;
  const Fractions scaled = window_fractions(grads, k, f, c.elements);
  const Fractions unscaled = window_fractions(grads, 0, f, c.elements);
  c.underflow_fraction = scaled.underflow;
  c.subnormal_fraction = scaled.subnormal;
  c.overflow_fraction = scaled.overflow;
  c.unscaled_underflow_fraction = unscaled.underflow;
  c.unscaled_subnormal_fraction = unscaled.subnormal;
  c.unscaled_overflow_fraction = unscaled.overflow;
  return c;
}

std::vector<LossScaleCheck> loss_scale_checks(const DatasetAnalysis& a, const std::vector<Combination>& combos) {
  struct StepGrads {
    BinadeHistogram hist;
    double amax = 0.0;
  };
  std::map<std::int64_t, StepGrads> steps;
  for (const TensorAnalysis& t : a.tensors) {
    if (t.info.role != Role::grad_weight && t.info.role != Role::grad_activation) continue;
    StepGrads& s = steps[t.info.step];
    s.hist.merge(t.source.magnitudes);
    s.amax = std::max(s.amax, t.source.amax);
  }
  std::vector<std::string> formats;
  std::vector<Format> parsed;
  for (const Combination& c : combos) {
    if (std::find(formats.begin(), formats.end(), c.format_name) == formats.end()) {
      formats.push_back(c.format_name);
      parsed.push_back(c.format);
    }
  }
  std::vector<LossScaleCheck> out;
  for (const auto& [step, s] : steps) {
    for (std::size_t i = 0; i < parsed.size(); ++i) {
      LossScaleCheck c = loss_scale_check(s.hist, s.amax, parsed[i]);
      c.step = step;
      c.format = formats[i];
      out.push_back(c);
    }
  }
  return out;
}

SwampingCheck update_swamping(TensorReader& before, TensorReader& after, const Format& f,
                              const std::string& format_name, std::uint64_t seed, std::uint64_t chunk_elements) {
  const std::uint64_t n = before.info().element_count();
  if (after.info().element_count() != n) {
    throw Error(after.info().file + ": tensor '" + after.info().name + "': " + std::to_string(after.info().element_count()) +
                " elements, but step " + std::to_string(before.info().step) + " has " + std::to_string(n));
  }
  SwampingCheck c;
  c.name = before.info().name;
  c.step_before = before.info().step;
  c.step_after = after.info().step;
  c.format = format_name;
  std::uint64_t lost_rne = 0, lost_sr = 0;
  ExactSum kept_rne, kept_sr;
  chunk_elements = std::max<std::uint64_t>(chunk_elements, 1);
  std::vector<double> a, b;
  const Rounding rne{Mode::rne};
  const Rounding sr{Mode::sr, 32};
  for (std::uint64_t first = 0; first < n; first += chunk_elements) {
    const std::uint64_t count = std::min(chunk_elements, n - first);
    a.resize(count);
    b.resize(count);
    before.read(first, a);
    after.read(first, b);
    for (std::uint64_t i = 0; i < count; ++i) {
      const double delta = b[i] - a[i];
      if (delta == 0.0 || !std::isfinite(delta)) continue;
      const double w = quantize(a[i], f, rne);  // the master copy held in f
      if (!std::isfinite(w)) continue;
      ++c.updates;
      const double next_rne = quantize(w + delta, f, rne);
      const double next_sr = quantize(w + delta, f, sr, sr_random_bits(seed, first + i));
      lost_rne += next_rne == w ? 1 : 0;
      lost_sr += next_sr == w ? 1 : 0;
      kept_rne.add((next_rne - w) / delta);
      kept_sr.add((next_sr - w) / delta);
    }
  }
  if (c.updates > 0) {
    const double u = static_cast<double>(c.updates);
    c.lost_fraction_rne = static_cast<double>(lost_rne) / u;
    c.lost_fraction_sr = static_cast<double>(lost_sr) / u;
    c.retained_rne = kept_rne.value() / u;
    c.retained_sr = kept_sr.value() / u;
  }
  return c;
}

std::vector<StorageCost> storage_costs(const DatasetAnalysis& a, const std::vector<Combination>& combos) {
  // Each tensor once: its latest captured step.
  std::map<std::string, const TensorAnalysis*> latest;
  for (const TensorAnalysis& t : a.tensors) {
    const Role r = t.info.role;
    if (r != Role::weight && r != Role::grad_weight && r != Role::optimizer_state) continue;
    const std::string key = history_key(t.info) + "\x1f" + role_name(r);
    auto it = latest.find(key);
    if (it == latest.end() || it->second->info.step < t.info.step) latest[key] = &t;
  }
  std::vector<StorageCost> out;
  std::set<std::string> seen;
  for (const Combination& c : combos) {
    const std::string id = c.format_name + "/" + recipe_name(c.recipe);
    if (!seen.insert(id).second) continue;
    StorageCost s;
    s.combination = id;
    double elements = 0.0;
    for (const auto& [key, t] : latest) {
      const double n = static_cast<double>(t->source.count);
      const double bytes = n * bits_per_element(c.format, c.recipe, t->rows, t->cols) / 8.0;
      elements += n;
      switch (t->info.role) {
        case Role::weight: s.weight_bytes += bytes; break;
        case Role::grad_weight: s.grad_bytes += bytes; break;
        default: s.optimizer_state_bytes += bytes; break;
      }
    }
    s.total_bytes = s.weight_bytes + s.grad_bytes + s.optimizer_state_bytes;
    s.bits_per_element = elements > 0 ? 8.0 * s.total_bytes / elements : limits(c.format).total_bits;
    out.push_back(s);
  }
  return out;
}

}  // namespace fpscope
