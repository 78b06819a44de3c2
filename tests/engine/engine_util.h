// Helpers for engine-level tests: building an LLM on a fixture and random prompts.
#pragma once
#include <random>
#include <string>
#include <vector>

#include "common/fixtures.h"
#include "shardlm/llm.h"

namespace shardlm::testing {

inline EngineArgs cpu_args(const std::string& model) {
  EngineArgs a;
  a.model = model_dir(model);
  a.device = "cpu";
  a.num_threads = 1;
  return a;
}

inline SamplingParams greedy(int max_tokens) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  return p;
}

// `count` prompts of mixed lengths; roughly half share one of a few common prefixes.
inline std::vector<Prompt> mixed_prompts(int count, int64_t vocab, uint64_t seed, int max_len = 60) {
  std::mt19937_64 gen(seed);
  std::vector<std::vector<int32_t>> prefixes;
  for (int i = 0; i < 3; ++i) {
    std::vector<int32_t> p;
    int n = 16 + (int)(gen() % 24);  // some exactly one or two blocks long
    if (i == 0) n = 16;
    if (i == 1) n = 32;
    for (int j = 0; j < n; ++j) p.push_back((int32_t)(4 + gen() % (uint64_t)(vocab - 4)));
    prefixes.push_back(p);
  }
  std::vector<Prompt> out;
  for (int i = 0; i < count; ++i) {
    std::vector<int32_t> ids;
    if (gen() % 2) ids = prefixes[gen() % prefixes.size()];
    int extra = 1 + (int)(gen() % (uint64_t)max_len);
    for (int j = 0; j < extra; ++j) ids.push_back((int32_t)(4 + gen() % (uint64_t)(vocab - 4)));
    out.push_back(Prompt::from_token_ids(ids));
  }
  return out;
}

}  // namespace shardlm::testing
