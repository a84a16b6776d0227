// analysis/gemm_layers.cpp: collecting linear layers from a dump, replaying their GEMMs, and the shared "gemm" JSON section.
#include "analysis/gemm_layers.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "analysis/dataset.h"
#include "core/error.h"

namespace fpscope {
namespace {

std::vector<double> read_all(TensorReader& r) {
  std::vector<double> v(r.info().element_count());
  if (!v.empty()) r.read(0, v);
  return v;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::vector<LinearLayerTensors> collect_linear_layers(const std::vector<std::string>& paths, const std::regex* filter,
                                                      const std::function<void(const std::string&)>& on_error) {
  std::map<std::pair<std::string, std::string>, LinearLayerTensors> layers;
  for_each_entry(paths, [&](DatasetEntry&& entry) {
    if (entry.error) on_error(entry.error->message);
    if (!entry.reader) return;
    const TensorInfo& info = entry.reader->info();
    if (info.layer.empty() || !is_float(info.dtype)) return;
    if (!info.module_type.empty() && info.module_type != "Linear") return;
    if (filter != nullptr && !std::regex_search(info.layer, *filter)) return;
    const std::string& name = info.name;
    // capture.py's names (analysis/README.md): the weight is <layer>.weight, the hooks' tensors <layer>:input etc.
    const bool is_input = ends_with(name, ":input");
    const bool is_weight = name == info.layer + ".weight";
    const bool is_grad_output = ends_with(name, ":grad_output");
    if (!is_input && !is_weight && !is_grad_output) return;
    LinearLayerTensors& t = layers[{info.file, info.layer}];
    std::vector<double>& target = is_input ? t.input : is_weight ? t.weight : t.grad_output;
    std::vector<std::int64_t>& shape = is_input ? t.input_shape : is_weight ? t.weight_shape : t.grad_output_shape;
    t.file = info.file;
    t.layer = info.layer;
    t.step = info.step;
    try {
      target = read_all(*entry.reader);
      shape = info.shape;
    } catch (const Error& e) {
      on_error(e.what());
    }
  });
  std::vector<LinearLayerTensors> out;
  for (auto& [key, t] : layers) {
    if (!t.input.empty() && !t.weight.empty()) out.push_back(std::move(t));
  }
  return out;
}

std::vector<LayerGemmReplay> replay_linear_layer(const LinearLayerTensors& t, const std::string& label,
                                                 const GemmReplayOptions& options,
                                                 const ExternalGemmProducts& external) {
  const std::string where = t.file + ": layer '" + t.layer + "'";
  if (t.weight_shape.size() != 2) {
    throw Error(where + ": the weight has " + std::to_string(t.weight_shape.size()) +
                " dimensions; a linear layer's weight is out x in");
  }
  const auto out = static_cast<std::size_t>(t.weight_shape[0]);
  const auto in = static_cast<std::size_t>(t.weight_shape[1]);
  if (in == 0 || t.input.size() % in != 0 || t.input_shape.empty() ||
      t.input_shape.back() != static_cast<std::int64_t>(in)) {
    throw Error(where + ": the input's last dimension does not match the weight's " + std::to_string(in) + " columns");
  }
  const std::size_t tokens = t.input.size() / in;
  struct Gemm {
    const char* name;
    GemmOperands ops;
    bool a_is_gradient;
  };
  std::vector<Gemm> gemms;
  gemms.push_back({"forward", forward_operands(t.input, t.weight, tokens, in, out), false});
  if (!t.grad_output.empty()) {
    if (t.grad_output.size() != tokens * out) {
      throw Error(where + ": grad_output has " + std::to_string(t.grad_output.size()) + " elements, expected " +
                  std::to_string(tokens) + " x " + std::to_string(out));
    }
    gemms.push_back({"grad_input", grad_input_operands(t.grad_output, t.weight, tokens, in, out), true});
    gemms.push_back({"grad_weight", grad_weight_operands(t.grad_output, t.input, tokens, in, out), true});
  }
  std::vector<LayerGemmReplay> results;
  for (Gemm& g : gemms) {
    const std::size_t total_rows = g.ops.shape.rows;
    sample_rows(g.ops, options.sample_rows, options.seed);
    for (const GemmFormats& f : options.formats) {
      // dX = dY W and dW = dY^T X: A is the gradient, B the forward operand (FP8 training's e5m2 x e4m3).
      const Format& fa = g.a_is_gradient ? f.gradient : f.forward;
      for (const Recipe& r : options.recipes) {
        LayerGemmReplay lr;
        lr.file = t.file;
        lr.step = t.step;
        lr.replay = replay_gemm(g.ops, fa, f.forward, r, options.models, options.threads, external);
        lr.replay.layer = label;
        lr.replay.gemm = g.name;
        lr.replay.total_rows = total_rows;
        lr.replay.seed = options.seed;
        results.push_back(std::move(lr));
      }
    }
  }
  return results;
}

nlohmann::json gemm_replay_json(const LayerGemmReplay& r) {
  nlohmann::json j = to_json(r.replay);
  j["file"] = r.file;
  j["step"] = r.step;
  return j;
}

nlohmann::json gemm_section_json(const std::vector<LayerGemmReplay>& replays) {
  nlohmann::json out = nlohmann::json::array();
  for (const LayerGemmReplay& r : replays) out.push_back(gemm_replay_json(r));
  return out;
}

double worst_rel_frobenius(const GemmReplay& r, std::string* model) {
  double worst = 0.0;
  bool first = true;
  for (const GemmModelResult& m : r.models) {
    // Outputs that overflowed are left out of the statistics, so a model with any
    // counts as infinitely wrong here; a NaN error too.
    double e = m.total.rel_frobenius();
    if (m.total.nonfinite > 0 || std::isnan(e)) e = std::numeric_limits<double>::infinity();
    if (first || e > worst) {
      worst = e;
      if (model != nullptr) *model = m.model;
      first = false;
    }
  }
  return worst;
}

}  // namespace fpscope
