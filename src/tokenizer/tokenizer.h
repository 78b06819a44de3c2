// Public tokenizer API: Tokenizer (encode/decode text as Hugging Face `tokenizers` does, read from a
// model folder) and IncrementalDetokenizer (streaming text deltas during generation, as vLLM does).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace shardlm {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Reads a tokenizer from a HF folder: tokenizer.json if present, else vocab.json+merges.txt, else
  // tokenizer.model. Error names the folder and the files it looked for when none is there, or the
  // file/field that is malformed.
  static std::unique_ptr<Tokenizer> from_dir(const std::string& dir);

  // Text must be valid UTF-8 (Error otherwise). add_special_tokens adds BOS/EOS as the tokenizer's
  // post-processor (or tokenizer_config.json) says; special-token text in the input is always matched.
  virtual std::vector<int32_t> encode(const std::string& text, bool add_special_tokens = true) const = 0;
  // Error naming the id for ids outside [0, vocab_size()). Invalid UTF-8 from byte tokens becomes U+FFFD.
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = true) const = 0;
  virtual int32_t vocab_size() const = 0;  // including added tokens (max id + 1)
  virtual std::optional<int32_t> bos_token_id() const = 0;
  virtual std::optional<int32_t> eos_token_id() const = 0;  // from tokenizer_config.json eos_token if present
  virtual bool is_special(int32_t id) const = 0;
  virtual std::string id_to_token(int32_t id) const = 0;  // raw vocab string, "" when out of range
};

// Incremental detokenization for streaming generation, as vLLM's detokenizer: each push decodes a
// sliding window of recent tokens and emits the text beyond the window's previous decode, holding
// output back while the window's text ends in U+FFFD (an unfinished UTF-8 sequence from byte tokens).
// Deltas are valid UTF-8; their concatenation is decode(prompt_ids + output_ids) minus the prompt's text.
// With skip_special_tokens, special ids produce no text. Ids outside the vocabulary produce no text
// (vLLM's behaviour; models often have padded vocabularies). `tok` must outlive the detokenizer.
class IncrementalDetokenizer {
 public:
  IncrementalDetokenizer(const Tokenizer& tok, const std::vector<int32_t>& prompt_ids, bool skip_special_tokens);
  std::string push(int32_t id);  // new text since the last push (may be empty)
  // Emits the text still held back (output that ends in U+FFFD); call once when the sequence ends.
  std::string flush();
  const std::string& text() const;  // all output text so far

 private:
  std::string emit_if_ready(bool force);

  const Tokenizer& tok_;
  bool skip_special_tokens_;
  std::vector<int32_t> window_ids_;  // prompt tail + output ids, special ids removed when skipping them
  size_t prefix_offset_ = 0;         // window start of the last decode that emitted text
  size_t read_offset_ = 0;           // ids before this have had their text emitted
  std::string text_;
};

}  // namespace shardlm
