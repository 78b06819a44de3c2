// The bound on token ids read from tokenizer files. Tables indexed by id are sized by the largest id
// (BpeModel's id -> token table; Tokenizer::vocab_size() is the largest id + 1), so without a bound a few
// bytes naming id 2^30 cost gigabytes, and id 2^31 - 1 overflowed `id + 1`. Hugging Face numbers tokens
// densely from 0, added tokens continuing after the vocabulary (every tokenizer in ../shared/fixtures has
// no gap at all), so an id is accepted only below
//     (number of tokens the files define: vocabulary entries + added tokens) + kTokenIdSlack,
// which keeps every table within a small multiple of the files' own size while leaving room for reserved
// or padded ranges. The limit never exceeds INT32_MAX, so `id + 1` always fits an int32_t.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace shardlm {

constexpr int64_t kTokenIdSlack = int64_t{1} << 16;

// The first id refused when the files define `num_tokens` tokens.
inline int64_t token_id_limit(size_t num_tokens) {
  const int64_t tokens = static_cast<int64_t>(std::min<size_t>(num_tokens, INT32_MAX));
  return std::min<int64_t>(tokens + kTokenIdSlack, INT32_MAX);
}

// Error naming `where` (the file and field), the token and the id when `id` is at or past the limit.
inline void check_token_id(int64_t id, std::string_view token, size_t num_tokens, const std::string& where) {
  const int64_t limit = token_id_limit(num_tokens);
  if (id < limit) return;
  const std::string shown = token.size() <= 60 ? std::string(token) : str_cat(token.substr(0, 60), "...");
  fail(where, ": token '", shown, "' has id ", id, ", too large for the ", num_tokens,
       " tokens defined: ids must be below ", limit, " (the number of tokens + ", kTokenIdSlack,
       "), since tables indexed by id are sized by the largest id; Hugging Face tokenizers number their "
       "tokens densely from 0");
}

}  // namespace shardlm
