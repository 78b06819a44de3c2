// Reading typed fields out of tokenizer JSON files with errors that name the file and the field path
// ("<file>: model.merges[3]: expected ..."). `where` is the file's path for the root object, and
// "<file>: <field path>" below it.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace shardlm::json_fields {

using Json = nlohmann::json;

// Reads and parses a JSON file; Error names the file when it cannot be read or parsed.
Json read_file(const std::string& path);

// "<where>.<key>" (or "<where>[i]"), for nested error messages.
std::string child(const std::string& where, const std::string& key);
std::string child(const std::string& where, size_t index);

const Json& require(const Json& object, const std::string& key, const std::string& where);
std::string require_string(const Json& object, const std::string& key, const std::string& where);
const Json& require_array(const Json& object, const std::string& key, const std::string& where);
const Json& require_object(const Json& object, const std::string& key, const std::string& where);

// Missing or null gives the default; any other type than the expected one is an Error.
bool get_bool(const Json& object, const std::string& key, bool default_value, const std::string& where);
std::optional<std::string> get_string(const Json& object, const std::string& key, const std::string& where);
int64_t require_int(const Json& object, const std::string& key, const std::string& where);

// The "type" field of a component object, for dispatch.
std::string type_of(const Json& component, const std::string& where);

}  // namespace shardlm::json_fields
