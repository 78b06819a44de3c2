// SamplingParams <-> JSON (see sampling_params_json.h): one overload per field type, the fields themselves
// from SamplingParams::for_each_field.
#include "engine/sampling_params_json.h"

namespace shardlm {
namespace {

using nlohmann::json;

template <class T>
json value_to_json(const T& v) {
  return json(v);
}
json value_to_json(RequestOutputKind k) { return (int)k; }
template <class T>
json value_to_json(const std::optional<T>& v) {
  return v ? value_to_json(*v) : json(nullptr);
}
json value_to_json(const std::map<int32_t, float>& m) {  // JSON keys are strings: a list of pairs instead
  json pairs = json::array();
  for (const auto& [id, bias] : m) pairs.push_back({id, bias});
  return pairs;
}

template <class T>
void value_from_json(const json& j, T& v) {
  v = j.get<T>();
}
void value_from_json(const json& j, RequestOutputKind& k) { k = (RequestOutputKind)j.get<int>(); }
template <class T>
void value_from_json(const json& j, std::optional<T>& v) {
  if (j.is_null()) {
    v.reset();
    return;
  }
  T x{};
  value_from_json(j, x);
  v = std::move(x);
}
void value_from_json(const json& j, std::map<int32_t, float>& m) {
  m.clear();
  for (const json& pair : j) m[pair.at(0).get<int32_t>()] = pair.at(1).get<float>();
}

}  // namespace

json sampling_params_to_json(const SamplingParams& p) {
  json j = json::object();
  SamplingParams::for_each_field([&](const char* name, auto member) { j[name] = value_to_json(p.*member); });
  return j;
}

SamplingParams sampling_params_from_json(const json& j) {
  SamplingParams p;
  SamplingParams::for_each_field([&](const char* name, auto member) {
    if (j.contains(name)) value_from_json(j.at(name), p.*member);
  });
  return p;
}

}  // namespace shardlm
