// SamplingParams, prompts and EngineArgs <-> JSON (see sampling_params_json.h): one overload per field type,
// the fields themselves from each struct's for_each_field.
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

json prompt_to_json(const Prompt& p) { return p.token_ids ? json{{"ids", *p.token_ids}} : json{{"text", p.text}}; }

Prompt prompt_from_json(const json& j) {
  return j.contains("ids") ? Prompt::from_token_ids(j["ids"].get<std::vector<int32_t>>())
                           : Prompt(j.at("text").get<std::string>());
}

json engine_args_to_json(const EngineArgs& a) {
  json j = json::object();
  EngineArgs::for_each_field([&](const char* name, auto member) { j[name] = a.*member; });
  return j;
}

EngineArgs engine_args_from_json(const json& j) {
  EngineArgs a;
  EngineArgs::for_each_field([&](const char* name, auto member) {
    if (j.contains(name)) value_from_json(j.at(name), a.*member);
  });
  return a;
}

}  // namespace shardlm
