// analysis/metadata.cpp: reading the fpscope per-tensor metadata convention and guessing roles from names.
#include "analysis/metadata.h"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/error.h"

namespace fpscope {
namespace {

using nlohmann::json;

const char* json_type(const json& v) {
  if (v.is_number_float()) return "float";
  if (v.is_number()) return "integer";
  return v.type_name();
}

constexpr std::array kRoles{Role::weight, Role::activation, Role::grad_weight, Role::grad_activation,
                            Role::optimizer_state};

std::string role_list() {
  std::string list;
  for (const Role r : kRoles) {
    if (!list.empty()) list += ", ";
    list += role_name(r);
  }
  return list;
}

// Splits "a.b:c" into tokens on '.', ':' and '/'.
std::vector<std::string_view> tokens_of(std::string_view name) {
  std::vector<std::string_view> tokens;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.' || name[i] == ':' || name[i] == '/') {
      tokens.push_back(name.substr(start, i - start));
      start = i + 1;
    }
  }
  return tokens;
}

bool is_param_word(std::string_view t) {
  return t == "weight" || t == "bias" || t == "kernel" || t == "gamma" || t == "beta";
}

// The layer a parameter name belongs to: "blocks.0.fc1.weight" -> "blocks.0.fc1".
std::string layer_of_param(std::string_view param) {
  const std::size_t dot = param.find_last_of(".:/");
  const std::string_view last = dot == std::string_view::npos ? param : param.substr(dot + 1);
  if (!is_param_word(last)) return std::string(param);
  return dot == std::string_view::npos ? std::string() : std::string(param.substr(0, dot));
}

// Joins tokens [first, last) with '.'.
std::string join(const std::vector<std::string_view>& tokens, std::size_t first, std::size_t last) {
  std::string out;
  for (std::size_t i = first; i < last; ++i) {
    if (!out.empty()) out += '.';
    out += tokens[i];
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// The step named in one path component, or -1 (see step_from_path).
std::int64_t step_in_component(std::string_view component) {
  static constexpr std::array<std::string_view, 6> kWords{"global_step", "iteration", "checkpoint",
                                                          "step", "iter", "ckpt"};
  const std::string s = lower(component);
  std::int64_t found = -1;
  for (std::size_t pos = 0; pos < s.size(); ++pos) {
    if (pos > 0 && is_alnum(s[pos - 1]) && s[pos - 1] != '_') continue;  // a word starts here
    for (const std::string_view word : kWords) {
      if (s.compare(pos, word.size(), word) != 0) continue;
      std::size_t i = pos + word.size();
      if (i < s.size() && (s[i] == '_' || s[i] == '-')) ++i;
      std::size_t digits_end = i;
      while (digits_end < s.size() && std::isdigit(static_cast<unsigned char>(s[digits_end]))) ++digits_end;
      if (digits_end == i || digits_end - i > 18) continue;  // no number, or too long for int64
      if (digits_end < s.size() && std::isalpha(static_cast<unsigned char>(s[digits_end]))) continue;
      found = std::stoll(s.substr(i, digits_end - i));
      break;
    }
  }
  return found;
}

}  // namespace

std::optional<Role> parse_role(std::string_view name) {
  for (const Role r : kRoles) {
    if (name == role_name(r)) return r;
  }
  return std::nullopt;
}

void apply_tensor_metadata(TensorInfo& info, std::string_view json_value) {
  const std::string where =
      fmt::format("{}: tensor '{}': metadata '{}{}'", info.file, info.name, kMetadataTensorPrefix, info.name);
  const json v = json::parse(json_value, nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded()) throw Error(where + ": not valid JSON");
  if (!v.is_object()) throw Error(fmt::format("{}: a JSON {}, expected an object", where, json_type(v)));
  TensorInfo out = info;
  auto text = [&](const char* key, std::string& field) {
    const auto it = v.find(key);
    if (it == v.end()) return;
    if (!it->is_string()) {
      throw Error(fmt::format("{}: '{}' is a JSON {}, expected a string", where, key, json_type(*it)));
    }
    field = it->get<std::string>();
  };
  text("layer", out.layer);
  text("module_type", out.module_type);
  text("orig_dtype", out.orig_dtype);
  text("io", out.io);
  text("state", out.state);
  if (!out.io.empty() && out.io != "input" && out.io != "output") {
    throw Error(fmt::format("{}: io '{}' is not one of input, output", where, out.io));
  }
  if (!out.state.empty() && out.state != "exp_avg" && out.state != "exp_avg_sq") {
    throw Error(fmt::format("{}: state '{}' is not one of exp_avg, exp_avg_sq", where, out.state));
  }
  if (const auto it = v.find("role"); it != v.end()) {
    if (!it->is_string()) {
      throw Error(fmt::format("{}: 'role' is a JSON {}, expected a string", where, json_type(*it)));
    }
    const std::optional<Role> role = parse_role(it->get<std::string>());
    if (!role) {
      throw Error(fmt::format("{}: role '{}' is not one of {}", where, it->get<std::string>(), role_list()));
    }
    out.role = *role;
    out.role_inferred = false;
  }
  if (const auto it = v.find("step"); it != v.end()) {
    if (!it->is_number_unsigned()) {
      throw Error(fmt::format("{}: 'step' is {}, expected a non-negative integer", where,
                              it->is_number_integer() ? "negative" : std::string("a JSON ") + json_type(*it)));
    }
    const std::uint64_t step = it->get<std::uint64_t>();
    if (step > static_cast<std::uint64_t>(INT64_MAX)) throw Error(where + ": 'step' is too large");
    out.step = static_cast<std::int64_t>(step);
  }
  if (const auto it = v.find("sampling"); it != v.end()) {
    if (!it->is_object()) {
      throw Error(fmt::format("{}: 'sampling' is a JSON {}, expected an object", where, json_type(*it)));
    }
    out.sampling_json = it->dump();  // compact; keys sorted, as the capture tool writes them
  }
  info = std::move(out);
}

void infer_from_name(TensorInfo& info) {
  std::string_view name = info.name;
  std::string stem;
  if (name.empty()) {
    const std::size_t slash = info.file.find_last_of('/');
    stem = slash == std::string::npos ? info.file : info.file.substr(slash + 1);
    if (const std::size_t dot = stem.rfind(".npy"); dot != std::string::npos && dot + 4 == stem.size()) {
      stem.resize(dot);
    }
    name = stem;
  }
  auto set = [&](Role role, std::string layer) {
    info.role = role;
    info.layer = std::move(layer);
    info.role_inferred = true;
  };

  // The capture tool's own suffixes (python/fpscope/capture.py), after the last ':'.
  if (const std::size_t colon = name.rfind(':'); colon != std::string_view::npos) {
    const std::string_view prefix = name.substr(0, colon);
    const std::string_view suffix = name.substr(colon + 1);
    if (suffix == "grad") return set(Role::grad_weight, layer_of_param(prefix));
    if (suffix == "exp_avg" || suffix == "exp_avg_sq") {
      info.state = std::string(suffix);
      return set(Role::optimizer_state, layer_of_param(prefix));
    }
    if (suffix == "input" || suffix == "output") {
      info.io = std::string(suffix);
      return set(Role::activation, std::string(prefix));
    }
    if (suffix == "grad_input" || suffix == "grad_output") {
      info.io = std::string(suffix.substr(5));
      return set(Role::grad_activation, std::string(prefix));
    }
  }

  const std::vector<std::string_view> tokens = tokens_of(name);
  const std::size_t n = tokens.size();
  // Optimizer state anywhere in the name: "blocks.0.fc1.weight.exp_avg", "state.3.exp_avg_sq".
  for (std::size_t i = 0; i < n; ++i) {
    if (tokens[i] == "exp_avg" || tokens[i] == "exp_avg_sq" || tokens[i] == "momentum_buffer") {
      if (tokens[i] != "momentum_buffer") info.state = std::string(tokens[i]);
      std::string param = join(tokens, 0, i);
      if (param.empty()) param = join(tokens, i + 1, n);
      return set(Role::optimizer_state, layer_of_param(param));
    }
  }
  // Gradients: "<param>.grad", "grad.<param>", "<param>_grad".
  if (n >= 2 && tokens[n - 1] == "grad") return set(Role::grad_weight, layer_of_param(join(tokens, 0, n - 1)));
  if (n >= 2 && (tokens[0] == "grad" || tokens[0] == "grads" || tokens[0] == "gradients")) {
    return set(Role::grad_weight, layer_of_param(join(tokens, 1, n)));
  }
  if (n >= 1 && tokens[n - 1].size() > 5 && tokens[n - 1].ends_with("_grad")) {
    std::string param = join(tokens, 0, n - 1);
    const std::string_view word = tokens[n - 1].substr(0, tokens[n - 1].size() - 5);
    if (!param.empty()) param += '.';
    param += word;
    return set(Role::grad_weight, layer_of_param(param));
  }
  // Parameters.
  if (n >= 1 && is_param_word(tokens[n - 1])) return set(Role::weight, join(tokens, 0, n - 1));
}

std::int64_t step_from_path(std::string_view path) {
  std::string_view rest = path;
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  bool first = true;
  while (!rest.empty()) {
    const std::size_t slash = rest.find_last_of('/');
    std::string_view component = slash == std::string_view::npos ? rest : rest.substr(slash + 1);
    if (first) {
      // Drop the extension of the file name itself.
      if (const std::size_t dot = component.rfind('.'); dot != std::string_view::npos && dot > 0) {
        component = component.substr(0, dot);
      }
      first = false;
    }
    if (const std::int64_t step = step_in_component(component); step >= 0) return step;
    if (slash == std::string_view::npos) break;
    rest = rest.substr(0, slash);
  }
  return -1;
}

std::vector<std::string> describe_tensor(TensorInfo& info,
                                         const std::map<std::string, std::string>& file_metadata) {
  std::vector<std::string> problems;
  bool described = false;
  const auto it = file_metadata.find(std::string(kMetadataTensorPrefix) + info.name);
  if (it != file_metadata.end() && !info.name.empty()) {
    try {
      apply_tensor_metadata(info, it->second);
      described = true;
    } catch (const Error& e) {
      problems.emplace_back(std::string(e.what()) + "; role and layer guessed from the name instead");
    }
  }
  if (!described || info.role == Role::unknown) {
    // No role in the metadata: keep its other fields, guess the role (and the layer if absent).
    TensorInfo guess = info;
    guess.role = Role::unknown;
    guess.layer.clear();
    infer_from_name(guess);
    if (guess.role != Role::unknown) {
      info.role = guess.role;
      info.role_inferred = true;
      if (info.layer.empty()) info.layer = guess.layer;
      if (info.io.empty()) info.io = guess.io;
      if (info.state.empty()) info.state = guess.state;
    }
  }
  if (info.step < 0) info.step = step_from_path(info.file);
  return problems;
}

std::vector<std::string> check_metadata_format(const std::string& file,
                                               const std::map<std::string, std::string>& file_metadata) {
  std::vector<std::string> problems;
  const auto it = file_metadata.find(std::string(kMetadataFormatKey));
  if (it != file_metadata.end() && it->second != kMetadataFormatVersion) {
    problems.push_back(fmt::format("{}: metadata '{}' is '{}', this reader knows '{}'; tensor metadata read as format {}",
                                   file, kMetadataFormatKey, it->second, kMetadataFormatVersion,
                                   kMetadataFormatVersion));
  }
  return problems;
}

}  // namespace fpscope
