// Completions requests and responses (see openai_api.h). Field names and defaults follow OpenAI's API and
// vLLM's server: max_tokens 16, temperature 1, top_p 1, n 1; vLLM's extra sampling fields (top_k, min_p,
// repetition_penalty, ignore_eos, min_tokens, stop_token_ids, skip_special_tokens, include_stop_str_in_output)
// are accepted too.
#include "server/openai_api.h"

#include <set>

#include "core/error.h"
#include "io/json_file.h"

namespace shardlm::server {

namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& param, const std::string& message) { throw ApiError{400, message, param}; }

double number(const json& v, const char* name) {
  if (!v.is_number()) bad(name, str_cat("'", name, "' must be a number, got ", json_excerpt(v)));
  return v.get<double>();
}

int64_t integer(const json& v, const char* name) {
  if (!v.is_number_integer()) bad(name, str_cat("'", name, "' must be an integer, got ", json_excerpt(v)));
  return v.get<int64_t>();
}

bool boolean(const json& v, const char* name) {
  if (!v.is_boolean()) bad(name, str_cat("'", name, "' must be true or false, got ", json_excerpt(v)));
  return v.get<bool>();
}

std::vector<int32_t> token_ids(const json& v, const char* name) {
  std::vector<int32_t> ids;
  for (const json& t : v) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > INT32_MAX)
      bad(name, str_cat("'", name, "' token ids must be non-negative 32-bit integers, got ", json_excerpt(t)));
    ids.push_back((int32_t)t.get<int64_t>());
  }
  return ids;
}

std::vector<Prompt> prompts_of(const json& p) {
  if (p.is_string()) return {Prompt(p.get<std::string>())};
  if (!p.is_array() || p.empty()) bad("prompt", "'prompt' must be a string, a list of strings or a list of token ids");
  if (p[0].is_number()) return {Prompt::from_token_ids(token_ids(p, "prompt"))};
  std::vector<Prompt> out;
  for (const json& item : p) {
    if (item.is_string()) out.emplace_back(item.get<std::string>());
    else if (item.is_array() && !item.empty()) out.push_back(Prompt::from_token_ids(token_ids(item, "prompt")));
    else bad("prompt", "'prompt' must be a string, a list of strings or a list of token ids");
  }
  return out;
}

json usage_of(const std::vector<RequestOutput>& outputs) {
  int64_t prompt = 0, completion = 0;
  for (const RequestOutput& o : outputs) {
    prompt += (int64_t)o.prompt_token_ids.size();
    for (const CompletionOutput& c : o.outputs) completion += (int64_t)c.token_ids.size();
  }
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

}  // namespace

json error_body(const ApiError& e) {
  const char* type = e.status == 400   ? "BadRequestError"
                     : e.status == 401 ? "AuthenticationError"
                     : e.status == 404 ? "NotFoundError"
                     : e.status == 413 ? "RequestTooLargeError"
                     : e.status == 503 ? "ServiceUnavailableError"
                                       : "InternalServerError";
  return {{"error",
           {{"message", e.message}, {"type", type}, {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", e.status}}}};
}

CompletionRequest parse_completion_request(const std::string& body) {
  json j;
  try {
    j = parse_json_text(body.data(), body.size(), "request body");
  } catch (const std::exception& e) {
    bad("", e.what());
  }
  if (!j.is_object()) bad("", "the request body must be a JSON object");
  CompletionRequest r;
  if (!j.contains("model") || !j["model"].is_string()) bad("model", "'model' (a string) is required");
  r.model = j["model"].get<std::string>();
  if (!j.contains("prompt")) bad("prompt", "'prompt' is required");
  r.prompts = prompts_of(j["prompt"]);
  SamplingParams& sp = r.params;
  sp.max_tokens = 16;
  for (const auto& [key, v] : j.items()) {
    if (v.is_null()) continue;  // OpenAI clients send null for "not given"
    if (key == "model" || key == "prompt" || key == "user" || key == "suffix") continue;
    else if (key == "max_tokens") sp.max_tokens = (int)integer(v, "max_tokens");
    else if (key == "temperature") sp.temperature = (float)number(v, "temperature");
    else if (key == "top_p") sp.top_p = (float)number(v, "top_p");
    else if (key == "top_k") sp.top_k = (int)integer(v, "top_k");
    else if (key == "min_p") sp.min_p = (float)number(v, "min_p");
    else if (key == "n") sp.n = (int)integer(v, "n");
    else if (key == "seed") sp.seed = integer(v, "seed");
    else if (key == "presence_penalty") sp.presence_penalty = (float)number(v, "presence_penalty");
    else if (key == "frequency_penalty") sp.frequency_penalty = (float)number(v, "frequency_penalty");
    else if (key == "repetition_penalty") sp.repetition_penalty = (float)number(v, "repetition_penalty");
    else if (key == "ignore_eos") sp.ignore_eos = boolean(v, "ignore_eos");
    else if (key == "min_tokens") sp.min_tokens = (int)integer(v, "min_tokens");
    else if (key == "skip_special_tokens") sp.skip_special_tokens = boolean(v, "skip_special_tokens");
    else if (key == "include_stop_str_in_output") sp.include_stop_str_in_output = boolean(v, "include_stop_str_in_output");
    else if (key == "stream") r.stream = boolean(v, "stream");
    else if (key == "echo") r.echo = boolean(v, "echo");
    else if (key == "logprobs") bad("logprobs", "'logprobs' is not supported by this server yet");
    else if (key == "stop_token_ids") {
      if (!v.is_array()) bad("stop_token_ids", "'stop_token_ids' must be a list of token ids");
      sp.stop_token_ids = token_ids(v, "stop_token_ids");
    } else if (key == "stop") {
      if (v.is_string()) sp.stop = {v.get<std::string>()};
      else if (v.is_array()) {
        for (const json& s : v) {
          if (!s.is_string()) bad("stop", "'stop' must be a string or a list of strings");
          sp.stop.push_back(s.get<std::string>());
        }
      } else {
        bad("stop", "'stop' must be a string or a list of strings");
      }
    } else if (key == "stream_options") {
      if (!v.is_object()) bad("stream_options", "'stream_options' must be an object");
      if (v.contains("include_usage") && !v["include_usage"].is_null())
        r.include_usage = boolean(v["include_usage"], "stream_options.include_usage");
    } else if (key == "best_of" || key == "logit_bias") {
      if (key == "best_of" && integer(v, "best_of") == sp.n) continue;
      if (key == "logit_bias" && v.is_object() && v.empty()) continue;
      bad(key, str_cat("'", key, "' is not supported by this server"));
    } else {
      bad(key, str_cat("unknown field '", key, "'"));
    }
  }
  if (r.echo) bad("echo", "'echo' is not supported by this server yet");
  try {
    sp.validate();
  } catch (const std::invalid_argument& e) {
    bad("", e.what());
  }
  return r;
}

json completion_response(const std::string& id, const std::string& model, int64_t created, const CompletionRequest& req,
                         const std::vector<RequestOutput>& outputs) {
  json choices = json::array();
  for (size_t i = 0; i < outputs.size(); ++i)
    for (const CompletionOutput& c : outputs[i].outputs)
      choices.push_back({{"index", choice_index((int)i, c.index, req.params.n)},
                         {"text", c.text},
                         {"logprobs", nullptr},
                         {"finish_reason", c.finish_reason.empty() ? json(nullptr) : json(c.finish_reason)},
                         {"stop_reason", c.stop_reason_str   ? json(*c.stop_reason_str)
                                         : c.stop_reason_token ? json(*c.stop_reason_token)
                                                               : json(nullptr)}});
  return {{"id", id},           {"object", "text_completion"}, {"created", created},
          {"model", model},     {"choices", choices},          {"usage", usage_of(outputs)}};
}

json completion_chunk(const std::string& id, const std::string& model, int64_t created, int choice,
                      const std::string& text, const std::string& finish_reason) {
  json c = {{"index", choice},
            {"text", text},
            {"logprobs", nullptr},
            {"finish_reason", finish_reason.empty() ? json(nullptr) : json(finish_reason)}};
  return {{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model}, {"choices", {c}}};
}

json usage_chunk(const std::string& id, const std::string& model, int64_t created,
                 const std::vector<RequestOutput>& outputs) {
  return {{"id", id},       {"object", "text_completion"}, {"created", created},
          {"model", model}, {"choices", json::array()},    {"usage", usage_of(outputs)}};
}

}  // namespace shardlm::server
