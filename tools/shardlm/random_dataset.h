// The offline benchmarks' prompts, as vLLM's random dataset makes them: each request's prompt and output
// lengths drawn uniformly from [floor(L * (1 - r)), ceil(L * (1 + r))] around the given lengths (r: the range
// ratio, in [0, 1); output lengths at least 1), after a shared prefix of `prefix_len` random tokens. Prompts
// are token ids (no text round trip, so a prompt has exactly its drawn length), drawn avoiding the first ids
// (specials); everything is a pure function of `seed`.
#pragma once
#include <cstdint>
#include <vector>

#include "shardlm/llm.h"

namespace shardlm::cli {

struct RandomDataset {
  int num_requests = 0;
  int input_len = 0, output_len = 0;
  double range_ratio = 0.0;
  int prefix_len = 0;
  uint64_t seed = 0;
};

struct BenchRequest {
  Prompt prompt;
  int prompt_len = 0;
  int output_len = 0;
};

// Throws std::invalid_argument naming vLLM's flag for a range ratio outside [0, 1) or prompts that could be
// empty.
std::vector<BenchRequest> sample_random_requests(const RandomDataset& d, int64_t vocab_size);

}  // namespace shardlm::cli
