// A vLLM-style progress bar on stderr: prompts done, elapsed, input and output tokens per second.
#pragma once
#include <chrono>
#include <cstdint>

namespace shardlm {

class ProgressBar {
 public:
  // Draws only when `enabled` and stderr is a terminal.
  ProgressBar(int64_t total, bool enabled);
  void update(int64_t done, int64_t input_tokens, int64_t output_tokens);
  void finish();

 private:
  void draw(bool force);
  int64_t total_, done_ = 0, in_tok_ = 0, out_tok_ = 0;
  bool enabled_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace shardlm
