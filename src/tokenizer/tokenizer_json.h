// Loading a Hugging Face tokenizer.json (BPE models: byte-level as GPT-2/Llama 3/Qwen, or
// SentencePiece-style with byte fallback as Llama 2/Mistral) plus the folder's tokenizer_config.json.
#pragma once
#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace shardlm {

// Reads <dir>/tokenizer.json. Error names the file and field that is malformed or unsupported.
std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& dir);

}  // namespace shardlm
