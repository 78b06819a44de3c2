// Model runner: batch -> device inputs -> logits.
#include "engine/model_runner.h"

#include <algorithm>

#include "core/error.h"

namespace shardlm {

int64_t kv_block_bytes(const Model& model, int64_t block_size, DType kv_dtype) {
  return 2 * model.num_layers() * block_size * model.num_kv_heads_local() * model.head_dim() *
         (int64_t)dtype_size(kv_dtype);
}

ModelRunner::ModelRunner(Model& model, KVCacheSpec spec, Device device, DType kv_dtype)
    : model_(model), spec_(spec), device_(device) {
  if (spec.num_blocks <= 0) fail("the KV cache has no blocks: raise its memory budget");
  cache_.num_blocks = spec.num_blocks;
  cache_.block_size = spec.block_size;
  for (int64_t l = 0; l < model.num_layers(); ++l) {
    std::vector<int64_t> shape = {spec.num_blocks, spec.block_size, model.num_kv_heads_local(), model.head_dim()};
    cache_.k.push_back(Tensor::zeros(shape, kv_dtype, device));
    cache_.v.push_back(Tensor::zeros(shape, kv_dtype, device));
  }
}

ForwardInputs ModelRunner::build_inputs(const std::vector<SequenceStep>& steps) const {
  const int32_t S = (int32_t)steps.size();
  int64_t T = 0, max_blocks = 1;
  int32_t num_logits = 0, max_q = 0, max_len = 0;
  for (const auto& s : steps) {
    T += (int64_t)s.token_ids.size();
    int32_t ctx = s.start + (int32_t)s.token_ids.size();
    int64_t need = (ctx + spec_.block_size - 1) / spec_.block_size;
    SHARDLM_CHECK((int64_t)s.block_ids->size() >= need, "block table too short for the step");
    max_blocks = std::max<int64_t>(max_blocks, (int64_t)s.block_ids->size());
    num_logits += s.wants_logits ? 1 : 0;
    max_q = std::max(max_q, (int32_t)s.token_ids.size());
    max_len = std::max(max_len, ctx);
  }
  Tensor ids = Tensor::empty({T}, DType::I32), pos = Tensor::empty({T}, DType::I32);
  Tensor slots = Tensor::empty({T}, DType::I32);
  Tensor qsl = Tensor::empty({S + 1}, DType::I32), lens = Tensor::empty({S}, DType::I32);
  Tensor tables = Tensor::zeros({S, max_blocks}, DType::I32);
  Tensor logits_idx = Tensor::empty({num_logits}, DType::I32);
  int32_t* idp = ids.data<int32_t>();
  int32_t* pp = pos.data<int32_t>();
  int32_t* sp = slots.data<int32_t>();
  int32_t* qp = qsl.data<int32_t>();
  int32_t* lp = lens.data<int32_t>();
  int32_t* tp = tables.data<int32_t>();
  int32_t* li = logits_idx.data<int32_t>();
  int32_t row = 0, nl = 0;
  for (int32_t s = 0; s < S; ++s) {
    const auto& st = steps[(size_t)s];
    qp[s] = row;
    const auto& blocks = *st.block_ids;
    for (size_t b = 0; b < blocks.size(); ++b) tp[s * max_blocks + (int64_t)b] = blocks[b];
    for (size_t j = 0; j < st.token_ids.size(); ++j) {
      int32_t p = st.start + (int32_t)j;
      idp[row] = st.token_ids[j];
      pp[row] = p;
      sp[row] = blocks[(size_t)(p / spec_.block_size)] * (int32_t)spec_.block_size + p % (int32_t)spec_.block_size;
      ++row;
    }
    lp[s] = st.start + (int32_t)st.token_ids.size();
    if (st.wants_logits) li[nl++] = row - 1;
  }
  qp[S] = row;

  ForwardInputs in;
  auto dev = [&](const Tensor& t) { return device_ == Device::CPU ? t : t.to(device_); };
  in.token_ids = dev(ids);
  in.positions = dev(pos);
  in.logits_indices = dev(logits_idx);
  in.attn.query_start_loc = dev(qsl);
  in.attn.seq_lens = dev(lens);
  in.attn.block_tables = dev(tables);
  in.attn.slot_mapping = dev(slots);
  in.attn.num_seqs = S;
  in.attn.max_query_len = max_q;
  in.attn.max_seq_len = max_len;
  return in;
}

Tensor ModelRunner::execute(const std::vector<SequenceStep>& steps) {
  for (const auto& s : steps) {
    if (s.start + (int64_t)s.token_ids.size() > model_.config().max_position_embeddings)
      fail("sequence of ", s.start + s.token_ids.size(), " tokens exceeds the model's max_position_embeddings (",
           model_.config().max_position_embeddings, ")");
    for (int32_t id : s.token_ids)
      if (id < 0 || id >= model_.config().vocab_size)
        fail("token id ", id, " is out of range for a vocabulary of ", model_.config().vocab_size);
  }
  ForwardInputs in = build_inputs(steps);
  return model_.forward(in, cache_);
}

}  // namespace shardlm
