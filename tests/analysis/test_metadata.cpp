// tests/analysis/test_metadata.cpp: the per-tensor metadata convention, role inference from names, steps from paths.
#include "analysis/metadata.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace fpscope {
namespace {

TensorInfo named(std::string name, std::string file = "d/f.safetensors") {
  TensorInfo info;
  info.name = std::move(name);
  info.file = std::move(file);
  return info;
}

TEST(parse_role, round_trips_role_name) {
  for (const Role r : {Role::weight, Role::activation, Role::grad_weight, Role::grad_activation,
                       Role::optimizer_state}) {
    EXPECT_EQ(parse_role(role_name(r)), r);
  }
  EXPECT_EQ(parse_role("unknown"), std::nullopt);
  EXPECT_EQ(parse_role("Weight"), std::nullopt);
}

TEST(apply_tensor_metadata, fills_every_field) {
  TensorInfo info = named("blocks.0.fc1.weight:exp_avg_sq");
  info.role_inferred = true;
  apply_tensor_metadata(info, R"({"layer":"blocks.0.fc1","module_type":"Linear","orig_dtype":"float32",)"
                              R"("role":"optimizer_state","state":"exp_avg_sq","step":123,"future_key":[1]})");
  EXPECT_EQ(info.layer, "blocks.0.fc1");
  EXPECT_EQ(info.role, Role::optimizer_state);
  EXPECT_FALSE(info.role_inferred);
  EXPECT_EQ(info.step, 123);
  EXPECT_EQ(info.module_type, "Linear");
  EXPECT_EQ(info.orig_dtype, "float32");
  EXPECT_EQ(info.state, "exp_avg_sq");
  EXPECT_EQ(info.io, "");
  EXPECT_EQ(info.sampling_json, "");
}

TEST(apply_tensor_metadata, sampling_is_kept_as_json) {
  TensorInfo info = named("a:input");
  apply_tensor_metadata(info, R"({"role":"activation","io":"input","sampling":{"kept":4,"method":"uniform_rows",)"
                              R"("original_shape":[8,16],"seed":0,"total":8}})");
  EXPECT_EQ(info.io, "input");
  EXPECT_EQ(info.sampling_json, R"({"kept":4,"method":"uniform_rows","original_shape":[8,16],"seed":0,"total":8})");
}

std::string error_of(std::string_view json) {
  TensorInfo info = named("t");
  const TensorInfo before = info;
  try {
    apply_tensor_metadata(info, json);
  } catch (const Error& e) {
    EXPECT_EQ(info.layer, before.layer);  // unchanged on error
    EXPECT_EQ(info.role, before.role);
    return e.what();
  }
  return "no error";
}

TEST(apply_tensor_metadata, errors_name_file_tensor_and_key) {
  const std::string where = "d/f.safetensors: tensor 't': metadata 'fpscope.tensor.t': ";
  EXPECT_EQ(error_of("{"), where + "not valid JSON");
  EXPECT_EQ(error_of("[]"), where + "a JSON array, expected an object");
  EXPECT_EQ(error_of(R"({"role":"bias"})"),
            where + "role 'bias' is not one of weight, activation, grad_weight, grad_activation, optimizer_state");
  EXPECT_EQ(error_of(R"({"role":1})"), where + "'role' is a JSON integer, expected a string");
  EXPECT_EQ(error_of(R"({"layer":"x","step":-2})"), where + "'step' is negative, expected a non-negative integer");
  EXPECT_EQ(error_of(R"({"step":"2"})"), where + "'step' is a JSON string, expected a non-negative integer");
  EXPECT_EQ(error_of(R"({"step":2.5})"), where + "'step' is a JSON float, expected a non-negative integer");
  EXPECT_EQ(error_of(R"({"layer":["x"]})"), where + "'layer' is a JSON array, expected a string");
  EXPECT_EQ(error_of(R"({"io":"in"})"), where + "io 'in' is not one of input, output");
  EXPECT_EQ(error_of(R"({"state":"m"})"), where + "state 'm' is not one of exp_avg, exp_avg_sq");
  EXPECT_EQ(error_of(R"({"sampling":"all"})"), where + "'sampling' is a JSON string, expected an object");
}

struct Guess {
  const char* name;
  Role role;
  const char* layer;
  const char* io;
  const char* state;
};

TEST(infer_from_name, capture_convention_and_common_names) {
  const Guess cases[] = {
      // python/fpscope/capture.py names.
      {"blocks.0.mlp.fc1.weight", Role::weight, "blocks.0.mlp.fc1", "", ""},
      {"blocks.0.mlp.fc1.bias", Role::weight, "blocks.0.mlp.fc1", "", ""},
      {"blocks.0.mlp.fc1.weight:grad", Role::grad_weight, "blocks.0.mlp.fc1", "", ""},
      {"blocks.0.mlp.fc1.weight:exp_avg", Role::optimizer_state, "blocks.0.mlp.fc1", "", "exp_avg"},
      {"blocks.0.mlp.fc1.bias:exp_avg_sq", Role::optimizer_state, "blocks.0.mlp.fc1", "", "exp_avg_sq"},
      {"blocks.0.attn:input", Role::activation, "blocks.0.attn", "input", ""},
      {"blocks.0.attn:output", Role::activation, "blocks.0.attn", "output", ""},
      {"head:grad_input", Role::grad_activation, "head", "input", ""},
      {"head:grad_output", Role::grad_activation, "head", "output", ""},
      // Other common spellings.
      {"model.layers.3.self_attn.q_proj.weight", Role::weight, "model.layers.3.self_attn.q_proj", "", ""},
      {"dense/kernel", Role::weight, "dense", "", ""},
      {"ln_f.gamma", Role::weight, "ln_f", "", ""},
      {"weight", Role::weight, "", "", ""},
      {"fc.weight.grad", Role::grad_weight, "fc", "", ""},
      {"grad.fc.weight", Role::grad_weight, "fc", "", ""},
      {"fc.weight_grad", Role::grad_weight, "fc", "", ""},
      {"fc.weight.exp_avg", Role::optimizer_state, "fc", "", "exp_avg"},
      {"state.3.exp_avg_sq", Role::optimizer_state, "state.3", "", "exp_avg_sq"},
      {"exp_avg.fc.bias", Role::optimizer_state, "fc", "", "exp_avg"},
      {"fc.weight.momentum_buffer", Role::optimizer_state, "fc", "", ""},
  };
  for (const Guess& g : cases) {
    SCOPED_TRACE(g.name);
    TensorInfo info = named(g.name);
    infer_from_name(info);
    EXPECT_EQ(info.role, g.role);
    EXPECT_TRUE(info.role_inferred);
    EXPECT_EQ(info.layer, g.layer);
    EXPECT_EQ(info.io, g.io);
    EXPECT_EQ(info.state, g.state);
  }
}

TEST(infer_from_name, unknown_names_stay_unknown) {
  for (const char* name : {"logits", "running_mean", "bn.running_var", "", "a:b", "weights_table"}) {
    SCOPED_TRACE(name);
    TensorInfo info = named(name, name[0] ? "f.safetensors" : "d/x.y.npy");
    infer_from_name(info);
    EXPECT_EQ(info.role, Role::unknown);
    EXPECT_FALSE(info.role_inferred);
    EXPECT_EQ(info.layer, "");
  }
}

TEST(infer_from_name, npy_files_are_named_by_their_file) {
  TensorInfo info = named("", "dump/blocks.1.fc2.weight.npy");
  infer_from_name(info);
  EXPECT_EQ(info.role, Role::weight);
  EXPECT_EQ(info.layer, "blocks.1.fc2");
}

TEST(step_from_path, finds_the_step_in_the_file_or_its_directories) {
  EXPECT_EQ(step_from_path("step_000123.safetensors"), 123);
  EXPECT_EQ(step_from_path("dump/step_000123.safetensors"), 123);
  EXPECT_EQ(step_from_path("run/checkpoint-500/model.safetensors"), 500);
  EXPECT_EQ(step_from_path("run/global_step42/mp_rank_00.npy"), 42);
  EXPECT_EQ(step_from_path("run/ckpt_7/iter_0009.npy"), 9);  // the file name first
  EXPECT_EQ(step_from_path("weights-iteration-77.npy"), 77);
  EXPECT_EQ(step_from_path("STEP12.npy"), 12);
  EXPECT_EQ(step_from_path("model.safetensors"), -1);
  EXPECT_EQ(step_from_path("footstep_5.npy"), -1);  // "step" must start a word
  EXPECT_EQ(step_from_path("steps.npy"), -1);
  EXPECT_EQ(step_from_path("step_5x.npy"), -1);
  EXPECT_EQ(step_from_path("step_99999999999999999999.npy"), -1);  // does not fit int64
  EXPECT_EQ(step_from_path("/"), -1);
  EXPECT_EQ(step_from_path(""), -1);
}

TEST(describe_tensor, metadata_first_then_inference_then_file_name) {
  const std::map<std::string, std::string> meta{
      {"fpscope.format", "1"},
      {"fpscope.tensor.a.weight", R"({"layer":"A","role":"weight","step":3})"},
      {"fpscope.tensor.b.weight", R"({"module_type":"Linear"})"},
      {"fpscope.tensor.c.weight", R"({"role":7})"},
  };
  TensorInfo a = named("a.weight", "dump/step_000009.safetensors");
  EXPECT_TRUE(describe_tensor(a, meta).empty());
  EXPECT_EQ(a.layer, "A");
  EXPECT_FALSE(a.role_inferred);
  EXPECT_EQ(a.step, 3);

  // Metadata without a role: its fields kept, role and layer guessed, step from the file name.
  TensorInfo b = named("b.weight", "dump/step_000009.safetensors");
  EXPECT_TRUE(describe_tensor(b, meta).empty());
  EXPECT_EQ(b.module_type, "Linear");
  EXPECT_EQ(b.role, Role::weight);
  EXPECT_TRUE(b.role_inferred);
  EXPECT_EQ(b.layer, "b");
  EXPECT_EQ(b.step, 9);

  TensorInfo c = named("c.weight", "f.safetensors");
  EXPECT_EQ(describe_tensor(c, meta),
            std::vector<std::string>{"f.safetensors: tensor 'c.weight': metadata 'fpscope.tensor.c.weight': 'role' "
                                     "is a JSON integer, expected a string; role and layer guessed from the name "
                                     "instead"});
  EXPECT_EQ(c.role, Role::weight);
  EXPECT_TRUE(c.role_inferred);
  EXPECT_EQ(c.step, -1);
}

TEST(check_metadata_format, only_version_1_is_known) {
  EXPECT_TRUE(check_metadata_format("f", {{"fpscope.format", "1"}}).empty());
  EXPECT_TRUE(check_metadata_format("f", {}).empty());
  EXPECT_EQ(check_metadata_format("f", {{"fpscope.format", "2"}}),
            std::vector<std::string>{
                "f: metadata 'fpscope.format' is '2', this reader knows '1'; tensor metadata read as format 1"});
}

}  // namespace
}  // namespace fpscope
