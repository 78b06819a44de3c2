// Pre-tokenizers of tokenizer.json ("pre_tokenizer"): split normalized text into the pieces ("words")
// that the BPE model encodes one by one, possibly rewriting them (ByteLevel maps bytes to printable
// characters, Metaspace turns ' ' into '▁').
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_fields.h"

namespace shardlm {

struct TextPiece {
  std::string text;
  // Whether the piece starts at offset 0 of the original input (Metaspace's prepend_scheme "first"
  // prepends only there).
  bool at_text_start = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces each piece with its sub-pieces; empty pieces are dropped.
  virtual void pre_tokenize(std::vector<TextPiece>& pieces) const = 0;
};

std::unique_ptr<PreTokenizer> pre_tokenizer_from_json(const json_fields::Json& config, const std::string& where);

// GPT-2's ByteLevel pre-tokenizer (optionally splitting with GPT-2's regex first).
std::unique_ptr<PreTokenizer> make_byte_level_pre_tokenizer(bool add_prefix_space, bool use_regex);

}  // namespace shardlm
