// reports/schema_check.cpp: a small JSON Schema validator (the subset result.schema.json uses) and the version rule.
#include "reports/schema_check.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <string_view>

#include <fmt/core.h>

#include "core/error.h"
#include "reports/assets.h"

namespace fpscope::reports {
namespace {

using nlohmann::json;

// JSON pointer escaping (RFC 6901 section 3).
std::string pointer_token(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

std::string kind_of(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    default: return "unknown";
  }
}

// JSON Schema 2020-12 validation section 6.1.1: "integer" matches any number
// with a zero fractional part; "number" matches integers too.
bool has_type(const json& v, const std::string& type) {
  if (type == "number") return v.is_number();
  if (type == "integer") {
    if (v.is_number_integer()) return true;
    return v.is_number_float() && std::isfinite(v.get<double>()) && std::trunc(v.get<double>()) == v.get<double>();
  }
  return kind_of(v) == type;
}

struct Validator {
  const json& root;

  // The first violation as "at POINTER: what", or an empty string.
  std::string check(const json& v, const json& schema, const std::string& at) const {
    if (!schema.is_object()) return {};
    if (auto ref = schema.find("$ref"); ref != schema.end()) {
      const std::string target = ref->get<std::string>();
      if (target.rfind("#/", 0) != 0) return fmt::format("at {}: unsupported $ref '{}' in the schema", at, target);
      const json* resolved = &root.at(json::json_pointer(target.substr(1)));
      if (std::string e = check(v, *resolved, at); !e.empty()) return e;
    }
    if (auto type = schema.find("type"); type != schema.end()) {
      bool ok = false;
      if (type->is_string()) ok = has_type(v, type->get<std::string>());
      for (const json& t : type->is_array() ? *type : json::array()) ok = ok || has_type(v, t.get<std::string>());
      if (!ok) return fmt::format("at {}: expected {}, found {}", at, type->is_string() ? type->get<std::string>() : type->dump(), kind_of(v));
    }
    if (auto c = schema.find("const"); c != schema.end() && v != *c) {
      return fmt::format("at {}: expected {}, found {}", at, c->dump(), v.dump());
    }
    if (auto e = schema.find("enum"); e != schema.end()) {
      bool found = false;
      for (const json& option : *e) found = found || option == v;
      if (!found) return fmt::format("at {}: {} is not one of {}", at, v.dump(), e->dump());
    }
    if (auto m = schema.find("minimum"); m != schema.end() && v.is_number() && v.get<double>() < m->get<double>()) {
      return fmt::format("at {}: {} is below the minimum {}", at, v.dump(), m->dump());
    }
    if (auto one = schema.find("oneOf"); one != schema.end()) {
      int matches = 0;
      std::string first_error;
      for (const json& option : *one) {
        std::string e = check(v, option, at);
        if (e.empty()) ++matches;
        else if (first_error.empty()) first_error = e;
      }
      if (matches != 1) {
        return matches == 0 ? fmt::format("at {}: {} matches none of the allowed forms ({})", at, v.dump().substr(0, 60), first_error)
                            : fmt::format("at {}: {} matches more than one allowed form", at, v.dump().substr(0, 60));
      }
    }
    if (v.is_object()) {
      if (auto req = schema.find("required"); req != schema.end()) {
        for (const json& key : *req) {
          if (!v.contains(key.get<std::string>())) return fmt::format("at {}: missing required key \"{}\"", at, key.get<std::string>());
        }
      }
      const auto props = schema.find("properties");
      const auto extra = schema.find("additionalProperties");
      for (const auto& [key, value] : v.items()) {
        const std::string here = at + "/" + pointer_token(key);
        if (props != schema.end() && props->contains(key)) {
          if (std::string e = check(value, (*props)[key], here); !e.empty()) return e;
        } else if (extra != schema.end()) {
          if (extra->is_boolean() && !extra->get<bool>()) return fmt::format("at {}: unexpected key", here);
          if (std::string e = check(value, *extra, here); !e.empty()) return e;
        }
      }
    }
    if (v.is_array()) {
      if (auto items = schema.find("items"); items != schema.end()) {
        for (std::size_t i = 0; i < v.size(); ++i) {
          if (std::string e = check(v[i], *items, fmt::format("{}/{}", at, i)); !e.empty()) return e;
        }
      }
    }
    return {};
  }
};

void check_version(const json& doc, const std::string& source) {
  if (!doc.is_object()) throw Error(source + ": not an fpscope result document (the top level is not a JSON object)");
  const auto version = doc.find("schema_version");
  if (version == doc.end() || !version->is_string()) {
    throw Error(source + ": not an fpscope result document (no schema_version string); write one with `fpscope analyze --json FILE`");
  }
  const std::string text = version->get<std::string>();
  const std::size_t dot = text.find('.');
  int major = -1;
  try {
    std::size_t used = 0;
    major = std::stoi(text.substr(0, dot), &used);
    if (used != text.substr(0, dot).size()) major = -1;
  } catch (const std::exception&) {
    major = -1;
  }
  if (major != kReadsSchemaMajor) {
    throw Error(fmt::format("{}: schema_version \"{}\" is not supported: this fpscope reads result schema {}.x "
                            "(reports/schema/result.schema.json); regenerate the file with this fpscope's `analyze --json`",
                            source, text, kReadsSchemaMajor));
  }
}

}  // namespace

void check_result_document(const json& doc, const json& schema, const std::string& source) {
  check_version(doc, source);
  json relaxed = schema;
  // Any minor of the major read above is accepted (the schema's description).
  if (relaxed.contains("properties") && relaxed["properties"].contains("schema_version")) {
    relaxed["properties"]["schema_version"] = json{{"type", "string"}};
  }
  const Validator validator{relaxed};
  if (std::string e = validator.check(doc, relaxed, ""); !e.empty()) {
    throw Error(fmt::format("{}: does not match the result schema {}: {}", source, doc["schema_version"].get<std::string>(),
                            e.substr(0, 3) == "at " && e.substr(3, 1) == ":" ? "at /" + e.substr(3) : e));
  }
}

void check_result_document(const json& doc, const std::string& source) {
  static const json schema = json::parse(embedded_result_schema());
  check_result_document(doc, schema, source);
}

json load_result_document(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the result file");
  std::stringstream text;
  text << in.rdbuf();
  json doc;
  try {
    doc = json::parse(text.str());
  } catch (const json::parse_error& e) {
    throw Error(fmt::format("{}: not valid JSON ({})", path, e.what()));
  }
  check_result_document(doc, path);
  return doc;
}

}  // namespace fpscope::reports
