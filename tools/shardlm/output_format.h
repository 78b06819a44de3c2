// Output formats shared by the command line and examples: Python-style repr of strings (as vLLM's example
// prints them) and RequestOutput as one JSON line.
#pragma once
#include <string>

#include "shardlm/outputs.h"

namespace shardlm {

// Python's repr() of a str: single quotes unless the text has ' and no ", escapes \\ \n \r \t and
// non-printable characters; valid UTF-8 above ASCII is kept as is.
std::string python_repr(const std::string& s);

// {"request_id", "prompt", "prompt_token_ids", "prompt_logprobs": [null, {"id": logprob, ...}, ...] | null,
//  "prompt_token_ranks"? (with prompt_logprobs), "num_cached_tokens", "outputs": [{"index", "text", "token_ids",
//  "cumulative_logprob", "logprobs": [{"id": logprob, ...}, ...] | null, "sampled_token_ranks"? (with logprobs),
//  "finish_reason", "stop_reason"}], "finished", "error"?}
std::string request_output_to_json(const RequestOutput& out);

// Replaces "{rank}" in a path with the rank.
std::string substitute_rank(const std::string& path, int rank);

}  // namespace shardlm
