// reports/schema_check.h: validates a result document against the committed JSON Schema before any report reads it.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace fpscope::reports {

// The schema major version this build reads (reports/schema/result.schema.json).
inline constexpr int kReadsSchemaMajor = 1;

// Throws fpscope::Error naming `source` (the file name, for the message) when
// `doc` is not a result document this build can read: no or a non-string
// schema_version, a different major version (the schema says readers refuse
// other majors; a newer minor only adds optional keys and is accepted), or the
// first place where the document breaks the schema, as a JSON pointer.
void check_result_document(const nlohmann::json& doc, const std::string& source);

// The same against an explicit schema. Implements the subset of JSON Schema
// 2020-12 the committed schema uses: type, const, enum, required, properties,
// additionalProperties, items, minimum, oneOf, and local "$ref" ("#/$defs/...").
// schema_version's own "const" is replaced by the major-version rule above.
void check_result_document(const nlohmann::json& doc, const nlohmann::json& schema, const std::string& source);

// Loads and parses a result file; throws fpscope::Error naming `path` when it
// cannot be read or is not JSON, then check_result_document().
nlohmann::json load_result_document(const std::string& path);

}  // namespace fpscope::reports
