// BPE encoding with a merge heap over a linked list of symbols (see bpe_model.h).
#include "tokenizer/bpe_model.h"

#include <queue>

#include "core/error.h"
#include "tokenizer/token_ids.h"
#include "tokenizer/utf8.h"

namespace shardlm {

BpeModel::BpeModel(TokenIdMap vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                   BpeOptions options, const std::string& source)
    : vocab_(std::move(vocab)), options_(std::move(options)) {
  // Ids below token_id_limit (token_ids.h) keep the id -> token table near the vocabulary's own size.
  int32_t max_id = -1;
  for (const auto& [token, id] : vocab_) {
    if (id < 0) fail(source, ": token '", token, "' has negative id ", id);
    check_token_id(id, token, vocab_.size(), source);
    max_id = std::max(max_id, id);
  }
  id_to_token_.assign(static_cast<size_t>(max_id) + 1, nullptr);
  for (const auto& entry : vocab_) id_to_token_[entry.second] = &entry.first;

  if (options_.unk_token) {
    unk_id_ = token_to_id(*options_.unk_token);
    if (!unk_id_) fail(source, ": unk_token '", *options_.unk_token, "' is not in the vocabulary");
  }

  const size_t prefix_size = options_.continuing_subword_prefix.size();
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const auto left_id = token_to_id(left);
    const auto right_id = token_to_id(right);
    if (!left_id || !right_id) {
      fail(source, ": merge ", rank, " ('", left, "' '", right, "') uses token '", left_id ? right : left,
           "' that is not in the vocabulary");
    }
    // The right side of a merge carries the continuing-subword prefix, which the merged token drops.
    std::string merged = left;
    if (prefix_size > 0 && right.compare(0, prefix_size, options_.continuing_subword_prefix) == 0) {
      merged.append(right, prefix_size, std::string::npos);
    } else {
      merged += right;
    }
    const auto merged_id = token_to_id(merged);
    if (!merged_id) fail(source, ": merge ", rank, " ('", left, "' '", right, "') makes '", merged,
                         "' that is not in the vocabulary");
    merges_[pair_key(*left_id, *right_id)] = {static_cast<uint32_t>(rank), *merged_id};
  }
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) return nullptr;
  return id_to_token_[id];
}

std::vector<std::pair<int32_t, size_t>> BpeModel::initial_symbols(std::string_view piece) const {
  std::vector<std::pair<int32_t, size_t>> symbols;
  // A run of characters missing from the vocabulary becomes one unknown token with fuse_unk.
  std::optional<std::pair<int32_t, size_t>> pending_unk;
  std::string candidate;
  size_t pos = 0;
  while (pos < piece.size()) {
    const size_t begin = pos;
    utf8::decode_at(piece, pos);
    const std::string_view ch = piece.substr(begin, pos - begin);
    candidate.clear();
    if (begin != 0) candidate += options_.continuing_subword_prefix;
    candidate += ch;
    if (pos == piece.size()) candidate += options_.end_of_word_suffix;

    if (auto id = token_to_id(candidate)) {
      if (pending_unk) {
        symbols.push_back(*pending_unk);
        pending_unk.reset();
      }
      symbols.emplace_back(*id, ch.size());
      continue;
    }
    if (options_.byte_fallback) {
      std::vector<int32_t> byte_ids;
      for (unsigned char b : candidate) {
        static const char* const kHex = "0123456789ABCDEF";
        const char name[7] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>', '\0'};
        auto id = token_to_id(name);
        if (!id) break;
        byte_ids.push_back(*id);
      }
      if (byte_ids.size() == candidate.size()) {
        // tokenizers keeps a pending unknown token pending across byte-fallback characters.
        for (int32_t id : byte_ids) symbols.emplace_back(id, 1);
        continue;
      }
    }
    if (unk_id_) {
      if (pending_unk && options_.fuse_unk) {
        pending_unk->second += ch.size();
      } else {
        if (pending_unk) symbols.push_back(*pending_unk);
        pending_unk = std::make_pair(*unk_id_, ch.size());
      }
    }
    // Without an unknown token, a character missing from the vocabulary is dropped (as tokenizers does).
  }
  if (pending_unk) symbols.push_back(*pending_unk);
  return symbols;
}

std::vector<int32_t> BpeModel::merge(std::vector<std::pair<int32_t, size_t>> initial) const {
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool alive;
  };
  std::vector<Symbol> symbols(initial.size());
  for (size_t i = 0; i < initial.size(); ++i)
    symbols[i] = {initial[i].first, static_cast<int32_t>(i) - 1,
                  i + 1 < initial.size() ? static_cast<int32_t>(i + 1) : -1, true};

  struct Candidate {
    uint32_t rank;
    int32_t pos;
    int32_t new_id;
    // Lowest rank first, then leftmost.
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push_pair = [&](int32_t pos) {
    if (pos < 0) return;
    const int32_t next = symbols[pos].next;
    if (next < 0) return;
    auto it = merges_.find(pair_key(symbols[pos].id, symbols[next].id));
    if (it != merges_.end()) queue.push({it->second.rank, pos, it->second.new_id});
  };
  for (size_t i = 0; i + 1 < symbols.size(); ++i) push_pair(static_cast<int32_t>(i));

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    // Skip entries made stale by an earlier merge of either symbol.
    auto it = merges_.find(pair_key(left.id, symbols[left.next].id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;
    Symbol& right = symbols[left.next];
    left.id = top.new_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    push_pair(left.prev);
    push_pair(top.pos);
  }

  std::vector<int32_t> ids;
  for (int32_t pos = symbols.empty() ? -1 : 0; pos >= 0; pos = symbols[pos].next) ids.push_back(symbols[pos].id);
  return ids;
}

void BpeModel::encode(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (options_.ignore_merges) {
    if (auto id = token_to_id(piece)) {
      out.push_back(*id);
      return;
    }
  }
  const bool cacheable = piece.size() <= kMaxCachedPieceBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(piece);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids = merge(initial_symbols(piece));
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() < kMaxCacheEntries) cache_.emplace(std::string(piece), std::move(ids));
  }
}

}  // namespace shardlm
