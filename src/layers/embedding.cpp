// Vocab-parallel embedding and LM head.
#include "layers/embedding.h"

#include <algorithm>

#include "core/error.h"
#include "distributed/process_group.h"
#include "ops/ops.h"

namespace shardlm {

namespace {
// Padded so every rank gets the same multiple of 64 rows (vLLM pads to 64 and requires divisibility; padding
// to 64 * tp_size also serves TP sizes such as 3 that do not divide 64-padded vocabularies).
int64_t padded_vocab(int64_t v, int tp) {
  const int64_t m = kVocabPaddingMultiple * tp;
  return (v + m - 1) / m * m;
}

// This rank's rows of `name`, zero-padded to vocab_local rows.
Tensor load_vocab_shard(LoadContext& ctx, const std::string& name, int64_t vocab_size, int64_t dim,
                        int64_t* start_out, int64_t* local_out) {
  ctx.expect_shape(name, {vocab_size, dim});
  const int64_t local = padded_vocab(vocab_size, ctx.tp_size()) / ctx.tp_size();
  const int64_t start = ctx.tp_rank() * local;
  const int64_t real = std::clamp<int64_t>(vocab_size - start, 0, local);
  *start_out = start;
  *local_out = local;
  // The registered parameter is the padded tensor itself, so writes into it reach the model.
  return ctx.load_rows(name, start, real, local);
}
}  // namespace

VocabParallelEmbedding::VocabParallelEmbedding(LoadContext& ctx, const std::string& name, int64_t vocab_size,
                                               int64_t embedding_dim)
    : act_dtype_(ctx.act_dtype()), group_(ctx.tp_group()) {
  weight_ = load_vocab_shard(ctx, name, vocab_size, embedding_dim, &vocab_start_, &vocab_local_);
}

Tensor VocabParallelEmbedding::forward(const Tensor& token_ids) const {
  Tensor out = Tensor::empty({token_ids.numel(), weight_.dim(1)}, act_dtype_, token_ids.device());
  ops::embedding(token_ids, weight_, vocab_start_, out);
  if (group_) group_->all_reduce(out);
  return out;
}

ParallelLMHead::ParallelLMHead(LoadContext& ctx, const std::string& name, int64_t vocab_size, int64_t dim,
                               const VocabParallelEmbedding* tied)
    : vocab_size_(vocab_size), group_(ctx.tp_group()) {
  if (tied) {
    weight_ = tied->weight();
    vocab_local_ = tied->vocab_local();
  } else {
    int64_t start = 0;
    weight_ = load_vocab_shard(ctx, name, vocab_size, dim, &start, &vocab_local_);
  }
}

// Everything stays on the hidden states' device (no host copy, no synchronisation), so the head can run inside
// a CUDA graph: local logits, f32, all-gather on the device group, then each rank's block of columns moved
// into place.
Tensor ParallelLMHead::forward(const Tensor& hidden) const {
  const int64_t S = hidden.dim(0);
  const Device dev = hidden.device();
  Tensor local = Tensor::empty({S, vocab_local_}, hidden.dtype(), dev);
  ops::linear(hidden, weight_, nullptr, local);
  Tensor local_f32 = local;
  if (local.dtype() != DType::F32) {
    local_f32 = Tensor::empty(local.shape(), DType::F32, dev);
    ops::cast(local, local_f32);
  }
  const int tp = group_ ? group_->size() : 1;
  if (tp == 1) return vocab_local_ == vocab_size_ ? local_f32 : ops::slice_cols(local_f32, 0, vocab_size_);
  Tensor gathered = Tensor::empty({tp * S, vocab_local_}, DType::F32, dev);
  group_->all_gather(local_f32, gathered);
  // gathered is [tp, S, V_local]: rank r's rows hold columns [r * V_local, (r+1) * V_local) of the logits
  // [S, vocab] (the last rank's past the vocabulary are padding, dropped).
  Tensor logits = Tensor::empty({S, vocab_size_}, DType::F32, dev);
  for (int r = 0; r < tp; ++r) {
    const int64_t start = r * vocab_local_;
    const int64_t n = std::clamp<int64_t>(vocab_size_ - start, 0, vocab_local_);
    ops::copy_cols(gathered.slice_rows((int64_t)r * S, S), 0, logits, start, n);
  }
  return logits;
}

}  // namespace shardlm
