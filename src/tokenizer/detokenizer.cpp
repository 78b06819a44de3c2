// IncrementalDetokenizer: vLLM's sliding-window incremental detokenization (see tokenizer.h).
#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace shardlm {
namespace {

// The first window starts at least this many tokens before the end of the prompt, so that decoders
// which look at neighbouring tokens (a leading-space strip, byte sequences) see the same context...
constexpr size_t kMinPromptWindowTokens = 5;
// ...and at most this many: a start inside a multi-byte character (text beginning with U+FFFD) is
// moved further back, as vLLM's detokenizer does. ByteFallback turns a whole run of byte tokens into
// U+FFFDs when the run starts mid-character, which would otherwise leak into the output.
constexpr size_t kMaxPromptWindowTokens = 24;

}  // namespace

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tok, const std::vector<int32_t>& prompt_ids,
                                               bool skip_special_tokens)
    : tok_(tok), skip_special_tokens_(skip_special_tokens) {
  for (int32_t id : prompt_ids) {
    if (id < 0 || id >= tok_.vocab_size()) continue;
    if (skip_special_tokens_ && tok_.is_special(id)) continue;
    window_ids_.push_back(id);
  }
  if (window_ids_.size() > kMaxPromptWindowTokens)
    window_ids_.erase(window_ids_.begin(), window_ids_.end() - kMaxPromptWindowTokens);
  read_offset_ = window_ids_.size();
  prefix_offset_ = read_offset_ > kMinPromptWindowTokens ? read_offset_ - kMinPromptWindowTokens : 0;
  for (size_t start = prefix_offset_ + 1; start-- > 0;) {
    const std::string text =
        tok_.decode(std::vector<int32_t>(window_ids_.begin() + start, window_ids_.begin() + read_offset_), false);
    if (text.find(utf8::kReplacementChar) == std::string::npos) {
      prefix_offset_ = start;
      break;
    }
  }
}

std::string IncrementalDetokenizer::emit_if_ready(bool force) {
  if (read_offset_ >= window_ids_.size()) return {};
  const auto begin = window_ids_.begin();
  const std::string prefix_text = tok_.decode(std::vector<int32_t>(begin + prefix_offset_, begin + read_offset_), false);
  const std::string new_text = tok_.decode(std::vector<int32_t>(begin + prefix_offset_, window_ids_.end()), false);
  // Hold back while the text ends in U+FFFD: the next byte token may complete the character.
  if (!force && (new_text.size() <= prefix_text.size() || utf8::ends_with_replacement_char(new_text))) return {};
  std::string delta;
  if (new_text.size() > prefix_text.size() && new_text.compare(0, prefix_text.size(), prefix_text) == 0) {
    delta = new_text.substr(prefix_text.size());
  } else if (new_text.size() > prefix_text.size()) {
    // The window's earlier text changed (a decoder that looks right, e.g. trailing strip): emit from the
    // first code point boundary at or after the old length, never half a character.
    size_t cut = prefix_text.size();
    while (cut < new_text.size() && (static_cast<unsigned char>(new_text[cut]) & 0xC0) == 0x80) ++cut;
    delta = new_text.substr(cut);
  }
  prefix_offset_ = read_offset_;
  read_offset_ = window_ids_.size();
  text_ += delta;
  return delta;
}

std::string IncrementalDetokenizer::push(int32_t id) {
  if (id < 0 || id >= tok_.vocab_size()) return {};
  if (skip_special_tokens_ && tok_.is_special(id)) return {};
  window_ids_.push_back(id);
  std::string delta = emit_if_ready(false);
  // Drop ids that can no longer be part of a window, so memory stays bounded on long generations.
  if (prefix_offset_ > 64) {
    window_ids_.erase(window_ids_.begin(), window_ids_.begin() + static_cast<std::ptrdiff_t>(prefix_offset_));
    read_offset_ -= prefix_offset_;
    prefix_offset_ = 0;
  }
  return delta;
}

std::string IncrementalDetokenizer::flush() { return emit_if_ready(true); }

const std::string& IncrementalDetokenizer::text() const { return text_; }

}  // namespace shardlm
