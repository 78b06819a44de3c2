// A Tokenizer over a SentencePiece tokenizer.model (folders that ship neither tokenizer.json nor
// vocab.json), run by the SentencePiece library itself. Special-token text in the input is plain text,
// as SentencePiece treats it; BOS/EOS come from tokenizer_config.json (default: BOS only). Control and
// unknown pieces are the special tokens; decoding without skipping them writes their piece text
// verbatim between the SentencePiece-decoded stretches.
#pragma once
#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace shardlm {

// Error when the file is not a SentencePiece model, or when shardlm was built without SentencePiece.
std::unique_ptr<Tokenizer> load_sentencepiece_model(const std::string& dir);

}  // namespace shardlm
