// What a model folder's tokenizer_config.json and special_tokens_map.json say about special tokens:
// BOS/EOS/UNK/PAD/... contents, add_bos_token/add_eos_token, add_prefix_space, added_tokens_decoder.
// special_tokens_map.json overrides tokenizer_config.json for the token fields, as in transformers.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/added_tokens.h"

namespace shardlm {

struct TokenizerConfig {
  std::optional<std::string> tokenizer_class;
  // Named special tokens (ids unset). Absent or null fields are nullopt.
  std::optional<AddedToken> bos_token, eos_token, unk_token, sep_token, pad_token, cls_token, mask_token;
  std::vector<AddedToken> additional_special_tokens;
  std::vector<AddedToken> added_tokens_decoder;  // ids set, from "added_tokens_decoder": {"id": {...}}
  std::optional<bool> add_bos_token, add_eos_token;
  bool add_prefix_space = false;

  // The named tokens and additional_special_tokens, in that order.
  std::vector<AddedToken> special_tokens() const;
};

// Missing files give an empty config; malformed ones an Error naming the file and field.
TokenizerConfig read_tokenizer_config(const std::string& dir);

}  // namespace shardlm
