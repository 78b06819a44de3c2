// Completions requests and responses (see openai_api.h). Field names and defaults follow OpenAI's API and
// vLLM's server: max_tokens 16, temperature 1, top_p 1, n 1; logit_bias (string token ids, biases clamped to
// [-100, 100]); vLLM's extra sampling fields (top_k, min_p, repetition_penalty, ignore_eos, min_tokens,
// stop_token_ids, skip_special_tokens, spaces_between_special_tokens, include_stop_str_in_output, prompt_logprobs,
// allowed_token_ids, bad_words, truncate_prompt_tokens) are accepted too.
#include "server/openai_api.h"

#include <charconv>
#include <cstdio>
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

namespace {

json parse_body(const std::string& body) {
  json j;
  try {
    j = parse_json_text(body.data(), body.size(), "request body");
  } catch (const std::exception& e) {
    bad("", e.what());
  }
  if (!j.is_object()) bad("", "the request body must be a JSON object");
  if (!j.contains("model") || !j["model"].is_string()) bad("model", "'model' (a string) is required");
  return j;
}

// The fields completions and chat share (sampling, streaming); false for a key that is not one of them.
bool common_field(const std::string& key, const json& v, ApiRequest& r) {
  SamplingParams& sp = r.params;
  if (key == "model" || key == "user") return true;
  if (key == "max_tokens") sp.max_tokens = (int)integer(v, "max_tokens");
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
  else if (key == "spaces_between_special_tokens")
    sp.spaces_between_special_tokens = boolean(v, "spaces_between_special_tokens");
  else if (key == "truncate_prompt_tokens") sp.truncate_prompt_tokens = (int)integer(v, "truncate_prompt_tokens");
  else if (key == "prompt_logprobs") {
    const int64_t k = integer(v, "prompt_logprobs");
    if (k < 0 && k != -1) bad("prompt_logprobs", "`prompt_logprobs` must be a positive value or -1.");
    sp.prompt_logprobs = (int)std::min<int64_t>(k, INT32_MAX);
    r.prompt_logprobs = true;
  } else if (key == "allowed_token_ids") {
    if (!v.is_array()) bad("allowed_token_ids", "'allowed_token_ids' must be a list of token ids");
    sp.allowed_token_ids = token_ids(v, "allowed_token_ids");
  } else if (key == "bad_words") {
    if (!v.is_array()) bad("bad_words", "'bad_words' must be a list of strings");
    for (const json& w : v) {
      if (!w.is_string()) bad("bad_words", "'bad_words' must be a list of strings");
      sp.bad_words.push_back(w.get<std::string>());
    }
  } else if (key == "logit_bias") {
    // OpenAI's {"<token id>": bias}; vLLM clamps each bias to [-100, 100].
    if (!v.is_object()) bad("logit_bias", "'logit_bias' must be an object mapping token ids to numbers");
    sp.logit_bias.clear();
    std::string invalid;
    for (const auto& [token, bias] : v.items()) {
      int64_t id = 0;
      const char* end = token.data() + token.size();
      const auto res = std::from_chars(token.data(), end, id);
      if (token.empty() || res.ec != std::errc() || res.ptr != end || id < INT32_MIN || id > INT32_MAX) {
        invalid += (invalid.empty() ? "'" : ", '") + token + "'";
        continue;
      }
      const double b = number(bias, "logit_bias");
      sp.logit_bias[(int32_t)id] = (float)std::min(100.0, std::max(-100.0, b));
    }
    if (!invalid.empty())
      bad("logit_bias", "logit_bias contains key(s) that cannot be converted to integer token IDs: [" + invalid + "]");
  }
  else if (key == "stream") r.stream = boolean(v, "stream");
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
  } else if (key == "best_of") {
    if (integer(v, "best_of") == sp.n) return true;
    bad(key, str_cat("'", key, "' is not supported by this server"));
  } else {
    return false;
  }
  return true;
}

// vLLM's normalisation (a raised temperature is logged) and validation, the failure answered as a 400 naming
// the field.
void validate(ApiRequest& r) {
  if (r.stream && r.prompt_logprobs && r.params.prompt_logprobs != 0)
    bad("prompt_logprobs", "`prompt_logprobs` are not available when `stream=True`.");
  try {
    if (const std::string warning = r.params.normalize(); !warning.empty())
      std::fprintf(stderr, "shardlm serve: WARNING: %s\n", warning.c_str());
    r.params.validate();
  } catch (const ParameterError& e) {
    bad(e.parameter(), e.what());
  } catch (const std::invalid_argument& e) {
    bad("", e.what());
  }
}

// A message's content as the template sees it: a string (text parts joined by newlines, as vLLM does for
// templates that take string content), or null.
json message_content(const json& c, size_t i) {
  if (c.is_null() || c.is_string()) return c;
  const std::string where = str_cat("messages[", i, "].content");
  if (!c.is_array()) bad(where, str_cat("'", where, "' must be a string or a list of content parts"));
  std::string text;
  for (size_t k = 0; k < c.size(); ++k) {
    const json& part = c[k];
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      bad(where, str_cat("'", where, "[", k, "]' must be an object with a 'type'"));
    if (part["type"] != "text" || !part.contains("text") || !part["text"].is_string())
      bad(where, str_cat("'", where, "[", k, "]': only text parts ({\"type\": \"text\", \"text\": ...}) are supported, got ",
                         json_excerpt(part)));
    if (k) text += "\n";
    text += part["text"].get<std::string>();
  }
  return text;
}

}  // namespace

CompletionRequest parse_completion_request(const std::string& body, const SamplingParams& defaults) {
  const json j = parse_body(body);
  CompletionRequest r;
  r.params = defaults;  // max_tokens 16 unless the generation config sets one
  r.model = j["model"].get<std::string>();
  if (!j.contains("prompt")) bad("prompt", "'prompt' is required");
  r.prompts = prompts_of(j["prompt"]);
  for (const auto& [key, v] : j.items()) {
    if (v.is_null()) continue;  // OpenAI clients send null for "not given"
    if (common_field(key, v, r) || key == "prompt" || key == "suffix") continue;
    if (key == "echo") r.echo = boolean(v, "echo");
    else if (key == "logprobs") {
      const int64_t k = integer(v, "logprobs");
      if (k < 0) bad("logprobs", str_cat("'logprobs' must be a non-negative integer, got ", k));
      r.params.logprobs = (int)std::min<int64_t>(k, INT32_MAX);
    } else {
      bad(key, str_cat("unknown field '", key, "'"));
    }
  }
  // vLLM: echo with logprobs returns the prompt tokens' logprobs as well, as many top ones as for the output.
  if (r.echo && r.params.logprobs && !r.params.prompt_logprobs) r.params.prompt_logprobs = r.params.logprobs;
  validate(r);
  return r;
}

ChatRequest parse_chat_request(const std::string& body, const SamplingParams& defaults) {
  const json j = parse_body(body);
  ChatRequest r;
  r.params = defaults;
  // Chat: up to the context length unless the request or the generation config limits it.
  if (defaults.max_tokens == SamplingParams{}.max_tokens) r.params.max_tokens = std::nullopt;
  r.model = j["model"].get<std::string>();
  if (!j.contains("messages") || !j["messages"].is_array() || j["messages"].empty())
    bad("messages", "'messages' (a non-empty list of messages) is required");
  r.messages = nlohmann::ordered_json::array();
  for (size_t i = 0; i < j["messages"].size(); ++i) {
    const json& m = j["messages"][i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      bad("messages", str_cat("'messages[", i, "]' must be an object with a string 'role'"));
    nlohmann::ordered_json msg = nlohmann::ordered_json::parse(m.dump());
    if (m.contains("content")) msg["content"] = nlohmann::ordered_json::parse(message_content(m["content"], i).dump());
    r.messages.push_back(std::move(msg));
  }
  bool want_logprobs = false;
  std::optional<int64_t> top;
  for (const auto& [key, v] : j.items()) {
    if (v.is_null()) continue;
    if (common_field(key, v, r) || key == "messages" || key == "parallel_tool_calls") continue;
    if (key == "max_completion_tokens") r.params.max_tokens = (int)integer(v, "max_completion_tokens");
    else if (key == "logprobs") want_logprobs = boolean(v, "logprobs");
    else if (key == "top_logprobs") top = integer(v, "top_logprobs");
    else if (key == "add_generation_prompt") r.add_generation_prompt = boolean(v, "add_generation_prompt");
    else if (key == "continue_final_message") r.continue_final_message = boolean(v, "continue_final_message");
    else if (key == "chat_template") {
      if (!v.is_string()) bad("chat_template", "'chat_template' must be a string");
      r.chat_template = v.get<std::string>();
    } else if (key == "chat_template_kwargs") {
      if (!v.is_object()) bad("chat_template_kwargs", "'chat_template_kwargs' must be an object");
      r.template_kwargs = nlohmann::ordered_json::parse(v.dump());
    } else if (key == "tools") {
      if (!v.is_array()) bad("tools", "'tools' must be a list");
      r.tools = nlohmann::ordered_json::parse(v.dump());
    } else if (key == "tool_choice") {
      if (v != "none")
        bad("tool_choice", "tool calls are not parsed by this server: 'tool_choice' may only be \"none\" "
                           "(the tools are still shown to the model through the chat template)");
    } else if (key == "response_format") {
      if (!v.is_object() || v.value("type", "") != "text")
        bad("response_format", "structured output is not supported: 'response_format' may only be {\"type\": \"text\"}");
    } else if (key == "echo") {
      if (boolean(v, "echo")) bad("echo", "'echo' is not supported for chat completions by this server");
    } else {
      bad(key, str_cat("unknown field '", key, "'"));
    }
  }
  if (top) {
    if (*top < 0) bad("top_logprobs", str_cat("'top_logprobs' must be a non-negative integer, got ", *top));
    if (!want_logprobs) bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
  }
  if (want_logprobs) r.params.logprobs = (int)std::min<int64_t>(top.value_or(0), INT32_MAX);
  if (r.add_generation_prompt && r.continue_final_message)
    bad("continue_final_message", "'continue_final_message' and 'add_generation_prompt' cannot both be true");
  validate(r);
  return r;
}

}  // namespace shardlm::server
