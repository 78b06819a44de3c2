// OpenAI's completions and chat completions requests as shardlm serves them: bodies to prompts (or a
// conversation) and SamplingParams, with OpenAI's error object for anything malformed. Responses:
// server/response_builder.h.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "shardlm/llm.h"

namespace shardlm::server {

// An error answered as OpenAI does: HTTP status and {"error": {"message", "type", "param", "code"}}.
struct ApiError {
  int status;
  std::string message;
  std::string param;  // the offending field, or ""
};
nlohmann::json error_body(const ApiError& e);

// What completions and chat requests share: the model, sampling and streaming fields.
struct ApiRequest {
  std::string model;
  SamplingParams params;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool prompt_logprobs = false;  // vLLM's extra field was given: the response carries "prompt_logprobs"
};

struct CompletionRequest : ApiRequest {
  std::vector<Prompt> prompts;
  bool echo = false;  // the prompt precedes each choice's text (with logprobs: its tokens' logprobs too)
};

// POST /v1/chat/completions: the conversation and what the chat template needs to render it.
struct ChatRequest : ApiRequest {
  nlohmann::ordered_json messages;         // [{"role", "content", ...}], content a string or text parts
  nlohmann::ordered_json tools;            // null or the tools list, given to the template
  nlohmann::ordered_json template_kwargs;  // chat_template_kwargs (e.g. enable_thinking)
  std::string chat_template;               // the request's own template; "" for the model's
  bool add_generation_prompt = true;
  bool continue_final_message = false;
};

// Parse the bodies. Throw ApiError (400) naming the field for a wrong type, an unknown field or a bad value.
// Fields a request leaves out take `defaults` (the model's generation_config defaults, as vLLM's server does;
// max_tokens: completions 16, chat up to the context, unless the generation config sets max_new_tokens).
CompletionRequest parse_completion_request(const std::string& body, const SamplingParams& defaults = {});
ChatRequest parse_chat_request(const std::string& body, const SamplingParams& defaults = {});

// Choice index of sequence `seq` of prompt `prompt_index` (OpenAI: prompts x n, prompt-major).
inline int choice_index(int prompt_index, int seq, int n) { return prompt_index * n + seq; }

}  // namespace shardlm::server
