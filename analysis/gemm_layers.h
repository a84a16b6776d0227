// analysis/gemm_layers.h: find the linear layers of a dump (X, W, dY per capture.py's names), replay their GEMMs, and the JSON section `fpscope gemm` and `fpscope analyze --gemm` both write.
//
// One implementation for both commands: `fpscope gemm` prints and writes what
// replay_linear_layer returns; `fpscope analyze --gemm` replays the same way per
// (format, recipe) of its combinations and feeds the worst error to the verdicts
// (analysis/verdict.h GemmCheck).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/gemm.h"

namespace fpscope {

// The tensors of one linear layer in one file: <layer>:input (X, tokens x in),
// <layer>.weight (W, out x in) and, where captured, <layer>:grad_output (dY, tokens x out).
struct LinearLayerTensors {
  std::string file;
  std::string layer;
  std::int64_t step = -1;
  std::vector<double> input, weight, grad_output;
  std::vector<std::int64_t> input_shape, weight_shape, grad_output_shape;
};

// Reads every linear layer's X, W and dY from `paths` (analysis/dataset.h rules),
// layers whose module_type is known and not "Linear" left out, and layers whose
// name does not match `filter` (when given) left out. Tensors that cannot be read
// are reported through `on_error` (one line naming the file and tensor) and skipped.
// Sorted by (file, layer).
std::vector<LinearLayerTensors> collect_linear_layers(const std::vector<std::string>& paths, const std::regex* filter,
                                                      const std::function<void(const std::string&)>& on_error);

struct GemmReplayOptions {
  std::vector<GemmFormats> formats;        // X and W in `forward`, dY in `gradient`
  std::vector<Recipe> recipes;             // parse_gemm_recipe's kinds only
  std::vector<AccumulationModel> models;
  std::size_t sample_rows = 256;           // rows of A kept per GEMM (0: all)
  std::uint64_t seed = 0;                  // of the row sampling
  int threads = 1;
};

// One replayed GEMM of one layer in one file.
struct LayerGemmReplay {
  std::string file;
  std::int64_t step = -1;
  GemmReplay replay;  // replay.layer is `label`
};

// The forward GEMM, and dX and dW where dY was captured, for each format x recipe.
// Shape mismatches (X's last dimension vs W's columns, dY's size) throw
// fpscope::Error naming the file and layer; `label` names the layer in the results
// (the layer, or layer@step when a dump holds several steps).
// `external` (replay_gemm) adds products computed elsewhere, e.g. on a device, to every GEMM.
std::vector<LayerGemmReplay> replay_linear_layer(const LinearLayerTensors& t, const std::string& label,
                                                 const GemmReplayOptions& options,
                                                 const ExternalGemmProducts& external = {});

// One item of the "gemm" array (reports/schema/result.schema.json $defs/gemm_replay):
// to_json(GemmReplay) plus "file" and "step".
nlohmann::json gemm_replay_json(const LayerGemmReplay& r);
// The "gemm" array.
nlohmann::json gemm_section_json(const std::vector<LayerGemmReplay>& replays);

// The worst relative Frobenius error (model vs the fp64 product) of a replay over
// its models, +inf for a model with outputs that overflowed (nonfinite > 0, left
// out of its statistics) or a NaN error; 0 when it has no model. `model` gets the worst's name.
double worst_rel_frobenius(const GemmReplay& r, std::string* model = nullptr);

}  // namespace fpscope
