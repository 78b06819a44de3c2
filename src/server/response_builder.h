// One HTTP request's answer, built from its stream of engine events (server/engine_loop.h): the server-sent
// events of a streamed response, or the one JSON body of a non-streamed one. Completions and chat completions
// differ only in the shapes written here (OpenAI's "text_completion" / "chat.completion[.chunk]" objects and
// their logprobs formats); the bookkeeping — choices (prompts x n, prompt-major), echo, logprob text offsets,
// the chat role chunk, usage, the final [DONE] — is the same.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "server/engine_loop.h"
#include "server/openai_api.h"

namespace shardlm::server {

enum class ApiKind { Completion, Chat };

struct ResponseOptions {
  ApiKind kind = ApiKind::Completion;
  std::string id, model;
  int64_t created = 0;
  int n = 1;                      // samples per prompt
  std::optional<int> logprobs;    // top-N log-probabilities per token (completions: logprobs; chat: top_logprobs)
  std::vector<std::string> echo;  // completions with echo: each prompt's text, which precedes its choices' text
  // Completions with echo and logprobs: the prompt tokens' logprobs precede the output's (the first token's
  // null), with text offsets counted from the prompt's first token, as vLLM's server writes them.
  bool echo_logprobs = false;
  // vLLM's extra `prompt_logprobs` request field: each completions choice (chat: the response) carries
  // "prompt_logprobs": [null, {"<id>": {"logprob", "rank", "decoded_token"}}, ...].
  std::optional<int> prompt_logprobs;
  bool include_usage = false;     // streaming: a last chunk with the usage (stream_options.include_usage)
};

// A token id's text as the logprobs fields show it (the token decoded alone).
using TokenText = std::function<std::string(int32_t)>;

class ResponseBuilder {
 public:
  ResponseBuilder(ResponseOptions options, int num_prompts, TokenText token_text);

  // Streaming: the server-sent events `e` adds ("" when none); the last ends with "data: [DONE]".
  std::string sse(const StreamEvent& e);
  // Non-streaming: records `e`; an engine failure (500) or a rejected prompt (400) comes back as the error to
  // answer with instead of a response.
  std::optional<ApiError> add(const StreamEvent& e);
  // Every prompt has finished (or the stream failed).
  bool done() const { return done_; }
  // The whole non-streamed body, once done().
  nlohmann::json response() const;

 private:
  struct ChoiceState {
    bool started = false;  // streaming: the first chunk (echo, chat role) went out
    int64_t text_offset = 0;  // completions logprobs: characters before the next token
  };
  // Records a finished prompt; true when it was the last.
  bool take_final(const StreamEvent& e);
  nlohmann::json chunk(int choice, const std::string& text, const nlohmann::json& logprobs,
                       const std::string& finish_reason, bool first) const;
  // `prompt`: the prompt's ids and logprobs to put first (completions with echo_logprobs), or null.
  struct PromptPart {
    const std::vector<int32_t>* ids;
    const std::vector<std::map<int32_t, float>>* maps;
  };
  nlohmann::json logprobs_json(ChoiceState& c, const std::vector<int32_t>& ids,
                               const std::vector<std::map<int32_t, float>>& maps,
                               std::optional<PromptPart> prompt = std::nullopt) const;
  nlohmann::json prompt_logprobs_json(const RequestOutput& r) const;
  nlohmann::json usage() const;
  nlohmann::json envelope(const char* object) const;

  ResponseOptions o_;
  TokenText token_text_;
  std::vector<RequestOutput> finals_;
  // Streaming: each prompt's logprobs and ids, from the delta that brought them (RequestDelta::prompt_logprobs).
  std::vector<std::optional<std::pair<std::vector<int32_t>, std::vector<std::map<int32_t, float>>>>> prompt_lp_;
  std::vector<ChoiceState> choices_;
  int finished_ = 0;
  bool done_ = false;
};

}  // namespace shardlm::server
