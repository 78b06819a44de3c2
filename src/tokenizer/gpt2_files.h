// Loading a GPT-2-style byte-level BPE from vocab.json + merges.txt (OPT, GPT-2), configured by
// tokenizer_config.json / special_tokens_map.json the way transformers converts it to a fast
// tokenizer: ByteLevel pre-tokenizer and decoder, BOS prepended when add_bos_token (OPT's "</s>").
#pragma once
#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace shardlm {

std::unique_ptr<Tokenizer> load_gpt2_files(const std::string& dir);

}  // namespace shardlm
