// Output processing: detokenization and stop conditions.
#include "engine/output_processor.h"

#include <algorithm>

namespace shardlm {

SequenceState::SequenceState(const Tokenizer& tok, const std::vector<int32_t>& prompt_ids, const SamplingParams& p,
                             uint64_t seed)
    : params(p), rng(seed) {
  detok = std::make_unique<IncrementalDetokenizer>(tok, prompt_ids, p.skip_special_tokens);
  if (p.logprobs) out.logprobs.emplace();
}

std::vector<std::vector<int32_t>> tokenize_bad_words(const std::vector<std::string>& bad_words, const Tokenizer& tok,
                                                     int64_t vocab_size) {
  std::vector<std::vector<int32_t>> out;
  for (const std::string& word : bad_words) {
    const std::string stripped = word.substr(std::min(word.find_first_not_of(" \t\n\r\f\v"), word.size()));
    for (bool spaced : {false, true}) {
      std::vector<int32_t> ids = tok.encode(spaced ? " " + stripped : stripped, false);
      if (ids.empty()) {
        if (!spaced) throw ParameterError("bad_words", "bad_words entries must tokenize to at least one token.");
        continue;  // the unspaced form still applies
      }
      if (!spaced || (ids[0] != out.back()[0] && ids.size() == out.back().size())) {
        out.push_back(std::move(ids));
        if ((int)out.size() > SamplingParams::kMaxNumBadWords)
          throw ParameterError("bad_words", "Too many bad words after tokenization: " + std::to_string(out.size()) +
                                                ". The max number is " +
                                                std::to_string(SamplingParams::kMaxNumBadWords) + ".");
      }
    }
  }
  std::string invalid;
  for (const auto& ids : out)
    for (int32_t id : ids)
      if (id < 0 || id >= vocab_size) invalid += (invalid.empty() ? "" : ", ") + std::to_string(id);
  if (!invalid.empty())
    throw ParameterError("bad_words", "The model vocabulary size is " + std::to_string(vocab_size) +
                                          ", but the following tokens were specified as bad: [" + invalid +
                                          "]. All token id values should be integers satisfying: 0 <= token_id <= " +
                                          std::to_string(vocab_size - 1) + ".");
  return out;
}

std::vector<int32_t> suppressed_tokens(const SequenceState& seq, const std::vector<int32_t>& eos_ids) {
  std::vector<int32_t> ids;
  const std::vector<int32_t>& past = seq.out.token_ids;
  for (const std::vector<int32_t>& word : seq.bad_words_ids) {
    const size_t prefix = word.size() - 1;
    if (prefix > past.size()) continue;
    if (std::equal(word.begin(), word.begin() + (std::ptrdiff_t)prefix, past.end() - (std::ptrdiff_t)prefix))
      ids.push_back(word.back());
  }
  if ((int)past.size() < seq.params.min_tokens) {
    if (!seq.params.ignore_eos) ids.insert(ids.end(), eos_ids.begin(), eos_ids.end());
    ids.insert(ids.end(), seq.params.stop_token_ids.begin(), seq.params.stop_token_ids.end());
  }
  return ids;
}

std::string append_token(SequenceState& seq, const SampleResult& sample, const std::vector<int32_t>& eos_ids,
                         int total_len, int max_model_len) {
  const int32_t tok = sample.token;
  seq.out.token_ids.push_back(tok);
  seq.out.cumulative_logprob += sample.logprob;
  if (seq.out.logprobs) {
    std::map<int32_t, float> m;
    for (const auto& t : sample.top) m[t.token] = t.logprob;
    m[tok] = sample.logprob;
    seq.out.logprobs->push_back(std::move(m));
    seq.out.sampled_token_ranks.push_back(sample.rank);
  }
  const int n_out = (int)seq.out.token_ids.size();
  const bool past_min = n_out > seq.params.min_tokens || seq.params.min_tokens == 0;

  const bool is_eos = std::find(eos_ids.begin(), eos_ids.end(), tok) != eos_ids.end();
  const bool is_stop_id =
      std::find(seq.params.stop_token_ids.begin(), seq.params.stop_token_ids.end(), tok) != seq.params.stop_token_ids.end();
  // A sequence ended by EOS or a stop token id does not show that token's text (vLLM), unless
  // include_stop_str_in_output asks for it.
  const bool eos_stop = past_min && !seq.params.ignore_eos && is_eos;
  const bool id_stop = past_min && is_stop_id;
  if (eos_stop || id_stop) {
    if (seq.params.include_stop_str_in_output && seq.params.detokenize) seq.detok->push(tok);
    if (seq.params.detokenize) seq.out.text = seq.detok->text();
    if (id_stop && !eos_stop) seq.out.stop_reason_token = tok;
    return "stop";
  }
  if (!seq.params.detokenize) {  // ids only (stop strings need text, so validate() refuses them here)
    if (n_out >= seq.max_tokens || total_len >= max_model_len) return "length";
    return "";
  }
  std::string delta = seq.detok->push(tok);
  seq.out.text = seq.detok->text();
  if (past_min && !seq.params.stop.empty()) {
    // Search only where the newest text could complete a stop string.
    size_t max_stop = 0;
    for (const auto& s : seq.params.stop) max_stop = std::max(max_stop, s.size());
    const std::string& text = seq.out.text;
    size_t from = text.size() > delta.size() + max_stop ? text.size() - delta.size() - max_stop : 0;
    size_t best = std::string::npos;
    const std::string* which = nullptr;
    for (const auto& s : seq.params.stop) {
      if (s.empty()) continue;
      size_t pos = text.find(s, from);
      if (pos != std::string::npos && pos < best) {
        best = pos;
        which = &s;
      }
    }
    if (which) {
      seq.out.text = text.substr(0, seq.params.include_stop_str_in_output ? best + which->size() : best);
      seq.out.stop_reason_str = *which;
      return "stop";
    }
  }
  if (n_out >= seq.max_tokens) return "length";
  if (total_len >= max_model_len) return "length";
  return "";
}

SequenceDelta take_delta(SequenceState& seq) {
  SequenceDelta d;
  d.index = seq.index;
  const CompletionOutput& out = seq.out;
  d.token_ids.assign(out.token_ids.begin() + (std::ptrdiff_t)seq.streamed_tokens, out.token_ids.end());
  if (out.logprobs) {
    d.logprobs.assign(out.logprobs->begin() + (std::ptrdiff_t)seq.streamed_tokens, out.logprobs->end());
    d.sampled_token_ranks.assign(out.sampled_token_ranks.begin() + (std::ptrdiff_t)seq.streamed_tokens,
                                 out.sampled_token_ranks.end());
  }
  seq.streamed_tokens = out.token_ids.size();
  size_t ready = out.text.size();
  if (!seq.finished) {
    size_t hold = 0;
    for (const auto& s : seq.params.stop) hold = std::max(hold, s.empty() ? 0 : s.size() - 1);
    ready = ready > hold ? ready - hold : 0;
    while (ready > seq.streamed_text && ready < out.text.size() && ((unsigned char)out.text[ready] & 0xC0) == 0x80)
      --ready;  // not inside a UTF-8 character
  }
  if (ready > seq.streamed_text) {
    d.text = out.text.substr(seq.streamed_text, ready - seq.streamed_text);
    seq.streamed_text = ready;
  }
  if (seq.finished) d.finish_reason = out.finish_reason;
  return d;
}

}  // namespace shardlm
