// Normalizers of tokenizer.json ("normalizer"): text -> text transforms applied to every stretch of
// input between added tokens before pre-tokenization (NFC, Prepend("▁"), Replace(" ", "▁"), ...).
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "tokenizer/json_fields.h"

namespace shardlm {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // `text` is valid UTF-8; so is the result.
  virtual std::string normalize(std::string_view text) const = 0;
};

// Builds the normalizer described by `config` (a tokenizer.json "normalizer" object). Error names
// `where` and the unsupported type or malformed field.
std::unique_ptr<Normalizer> normalizer_from_json(const json_fields::Json& config, const std::string& where);

}  // namespace shardlm
