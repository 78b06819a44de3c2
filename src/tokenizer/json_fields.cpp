// Typed JSON field access with file/field-naming errors (see json_fields.h).
#include "tokenizer/json_fields.h"

#include "core/error.h"
#include "io/json_file.h"
#include "io/mapped_file.h"

namespace shardlm::json_fields {

Json read_file(const std::string& path) {
  const std::string text = read_regular_file(path);  // a FIFO or directory is an Error, not a hang
  return parse_json_text(text.data(), text.size(), path);  // line:column errors, nesting bounded
}

std::string child(const std::string& where, const std::string& key) {
  // The root of a file is named by the file's path alone; fields below it by "<path>: a.b".
  const bool at_root = where.size() >= 5 && where.compare(where.size() - 5, 5, ".json") == 0;
  return at_root ? where + ": " + key : where + "." + key;
}

std::string child(const std::string& where, size_t index) { return str_cat(where, "[", index, "]"); }

const Json& require(const Json& object, const std::string& key, const std::string& where) {
  if (!object.is_object()) fail(where, ": expected a JSON object, found ", object.type_name());
  auto it = object.find(key);
  if (it == object.end()) fail(child(where, key), ": required field is missing");
  return *it;
}

std::string require_string(const Json& object, const std::string& key, const std::string& where) {
  const Json& v = require(object, key, where);
  if (!v.is_string()) fail(child(where, key), ": expected a string, found ", v.type_name());
  return v.get<std::string>();
}

const Json& require_array(const Json& object, const std::string& key, const std::string& where) {
  const Json& v = require(object, key, where);
  if (!v.is_array()) fail(child(where, key), ": expected an array, found ", v.type_name());
  return v;
}

const Json& require_object(const Json& object, const std::string& key, const std::string& where) {
  const Json& v = require(object, key, where);
  if (!v.is_object()) fail(child(where, key), ": expected an object, found ", v.type_name());
  return v;
}

bool get_bool(const Json& object, const std::string& key, bool default_value, const std::string& where) {
  if (!object.is_object()) fail(where, ": expected a JSON object, found ", object.type_name());
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return default_value;
  if (!it->is_boolean()) fail(child(where, key), ": expected true or false, found ", it->dump());
  return it->get<bool>();
}

std::optional<std::string> get_string(const Json& object, const std::string& key, const std::string& where) {
  if (!object.is_object()) fail(where, ": expected a JSON object, found ", object.type_name());
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) fail(child(where, key), ": expected a string, found ", it->dump());
  return it->get<std::string>();
}

int64_t require_int(const Json& object, const std::string& key, const std::string& where) {
  const Json& v = require(object, key, where);
  if (!v.is_number_integer()) fail(child(where, key), ": expected an integer, found ", json_excerpt(v));
  return v.get<int64_t>();
}

std::string type_of(const Json& component, const std::string& where) {
  return require_string(component, "type", where);
}

}  // namespace shardlm::json_fields
