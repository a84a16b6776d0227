// analysis/metadata.h: the per-tensor metadata convention of fpscope dumps, and role/layer/step inference from names.
//
// The convention (format "1", shared with python/fpscope/capture.py; described
// for users in analysis/README.md): a safetensors `__metadata__` map holds
// "fpscope.format": "1" and, per tensor, "fpscope.tensor.<tensor name>" whose
// value is a compact JSON object {layer, role, step, module_type, orig_dtype,
// io?, state?, sampling?}. Without it, role and layer are guessed from the name.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/tensor.h"

namespace fpscope {

inline constexpr std::string_view kMetadataFormatKey = "fpscope.format";
inline constexpr std::string_view kMetadataFormatVersion = "1";
inline constexpr std::string_view kMetadataTensorPrefix = "fpscope.tensor.";

// "weight" -> Role::weight, ...; nullopt for anything else (role_name() is the inverse).
std::optional<Role> parse_role(std::string_view name);

// Fills info.layer, role, step, module_type, orig_dtype, io, state and
// sampling_json from one per-tensor metadata value (role_inferred = false).
// Keys it does not know are ignored (newer writers may add some). Throws
// fpscope::Error "<file>: tensor '<name>': metadata 'fpscope.tensor.<name>': ..."
// when the value is not a JSON object or a known key has the wrong type or value;
// info is then left unchanged.
void apply_tensor_metadata(TensorInfo& info, std::string_view json_value);

// Guesses role, layer, io and state from info.name (or, when the name is empty
// as for a .npy file, from the file name without directory and extension):
//   <layer>.weight / <layer>.bias (also .kernel, .gamma, .beta)  -> weight
//   <param>:grad, <param>.grad, grad.<param>, <param>_grad        -> grad_weight
//   <param>:exp_avg, <param>.exp_avg_sq, ...exp_avg..., momentum_buffer -> optimizer_state
//   <layer>:input / <layer>:output                                -> activation
//   <layer>:grad_input / <layer>:grad_output                      -> grad_activation
// where the layer is <param> without a trailing .weight/.bias. Sets
// role_inferred = true when it found a role; otherwise leaves role unknown.
void infer_from_name(TensorInfo& info);

// The training step a path names: the last "step", "iter", "iteration",
// "global_step", "checkpoint" or "ckpt" word followed by digits (optionally after
// '_' or '-') in the file name, else in the closest directory name that has one:
// "dump/step_000123.safetensors" -> 123, "checkpoint-500/model.safetensors" -> 500.
// -1 when there is none.
std::int64_t step_from_path(std::string_view path);

// Describes one tensor of a file: the per-tensor metadata entry when there is a
// valid one, otherwise infer_from_name(); the step from the path when the
// metadata gives none. Returns the problems found (one message each, naming file
// and tensor), empty when there were none. `file_metadata` is the whole
// `__metadata__` map of the file (empty for a .npy file).
std::vector<std::string> describe_tensor(TensorInfo& info,
                                         const std::map<std::string, std::string>& file_metadata);

// Problems with the file-level part of the convention (an "fpscope.format" other
// than "1"), one message each naming the file; empty when there are none.
std::vector<std::string> check_metadata_format(const std::string& file,
                                               const std::map<std::string, std::string>& file_metadata);

}  // namespace fpscope
