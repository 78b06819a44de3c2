// Progress bar drawing.
#include "api/progress_bar.h"

#include <unistd.h>

#include <cstdio>
#include <string>

namespace shardlm {

ProgressBar::ProgressBar(int64_t total, bool enabled)
    : total_(total), enabled_(enabled && isatty(STDERR_FILENO)), start_(std::chrono::steady_clock::now()) {
  last_draw_ = start_;
  draw(true);
}

void ProgressBar::update(int64_t done, int64_t input_tokens, int64_t output_tokens) {
  done_ = done;
  in_tok_ = input_tokens;
  out_tok_ = output_tokens;
  draw(false);
}

void ProgressBar::finish() {
  draw(true);
  if (enabled_) std::fputc('\n', stderr);
}

void ProgressBar::draw(bool force) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  int pct = total_ ? (int)(100 * done_ / total_) : 100;
  const int width = 30;
  int filled = total_ ? (int)(width * done_ / total_) : width;
  std::string bar(filled, '#');
  bar.resize(width, ' ');
  double in_rate = secs > 0 ? in_tok_ / secs : 0, out_rate = secs > 0 ? out_tok_ / secs : 0;
  std::fprintf(stderr, "\rProcessed prompts: %3d%%|%s| %lld/%lld [%.1fs, est. speed input: %.2f toks/s, output: %.2f toks/s]",
               pct, bar.c_str(), (long long)done_, (long long)total_, secs, in_rate, out_rate);
  std::fflush(stderr);
}

}  // namespace shardlm
