// OpenAI's completions API as shardlm serves it: request bodies to prompts and SamplingParams (with OpenAI's
// error object for anything malformed), and outputs to response bodies and streamed chunks.
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

struct CompletionRequest {
  std::string model;
  std::vector<Prompt> prompts;
  SamplingParams params;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool echo = false;
};

// Parses POST /v1/completions' body. Throws ApiError (400) naming the field for a wrong type or value.
CompletionRequest parse_completion_request(const std::string& body);

// Choice index of sequence `seq` of prompt `prompt_index` (OpenAI: prompts x n, prompt-major).
inline int choice_index(int prompt_index, int seq, int n) { return prompt_index * n + seq; }

// The whole response for finished outputs (one per prompt, in order).
nlohmann::json completion_response(const std::string& id, const std::string& model, int64_t created,
                                   const CompletionRequest& req, const std::vector<RequestOutput>& outputs);
// One streamed chunk: the text a sequence gained (and its finish reason, when it finished).
nlohmann::json completion_chunk(const std::string& id, const std::string& model, int64_t created, int choice,
                                const std::string& text, const std::string& finish_reason);
// The last chunk under stream_options.include_usage: no choices, the usage of all outputs.
nlohmann::json usage_chunk(const std::string& id, const std::string& model, int64_t created,
                           const std::vector<RequestOutput>& outputs);

}  // namespace shardlm::server
