// Vocab-parallel embedding and LM head. The vocabulary is padded to a multiple of 64 * tp_size and split evenly:
// rank r owns token ids [r * V_local, (r+1) * V_local). Lookups of ids outside a rank's range give zero rows,
// summed over the group; LM-head logits are computed per shard and all-gathered on the device group.
#pragma once
#include <string>

#include "core/tensor.h"
#include "layers/load_context.h"

namespace shardlm {

constexpr int64_t kVocabPaddingMultiple = 64;

class VocabParallelEmbedding {
 public:
  VocabParallelEmbedding() = default;
  VocabParallelEmbedding(LoadContext& ctx, const std::string& name, int64_t vocab_size, int64_t embedding_dim);
  Tensor forward(const Tensor& token_ids) const;  // [T] int32 -> [T, dim]
  const Tensor& weight() const { return weight_; }
  int64_t vocab_start() const { return vocab_start_; }
  int64_t vocab_local() const { return vocab_local_; }

 private:
  Tensor weight_;  // [vocab_local, dim], rows past the real vocabulary are zero
  int64_t vocab_start_ = 0, vocab_local_ = 0;
  DType act_dtype_ = DType::F32;
  ProcessGroup* group_ = nullptr;
};

class ParallelLMHead {
 public:
  ParallelLMHead() = default;
  // Own weight `name` ([vocab, dim]), or tied to the embedding's shard when `tied` is given.
  ParallelLMHead(LoadContext& ctx, const std::string& name, int64_t vocab_size, int64_t dim,
                 const VocabParallelEmbedding* tied);
  // [S, dim] -> [S, vocab_size] f32 logits on hidden's device, identical on all ranks.
  Tensor forward(const Tensor& hidden) const;

 private:
  Tensor weight_;  // [vocab_local, dim]
  int64_t vocab_size_ = 0, vocab_local_ = 0;
  ProcessGroup* group_ = nullptr;
};

}  // namespace shardlm
