// Decoders of tokenizer.json ("decoder"): turn the token strings of decoded ids back into text
// (ByteLevel bytes, "▁" -> " ", <0xXX> byte tokens, stripping the prefix space, ...). Each step maps a
// list of strings to a list of strings; the final list is concatenated.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_fields.h"

namespace shardlm {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;

  std::string decode(std::vector<std::string> tokens) const;
};

std::unique_ptr<Decoder> decoder_from_json(const json_fields::Json& config, const std::string& where);

std::unique_ptr<Decoder> make_byte_level_decoder();

}  // namespace shardlm
