// Model runner: batch -> device inputs -> logits.
#include "engine/model_runner.h"

#include <algorithm>

#include "core/error.h"
#include "core/memory_arena.h"
#include "ops/graph.h"
#include "ops/op_profile.h"

namespace shardlm {

int64_t kv_block_bytes(const Model& model, int64_t block_size, DType kv_dtype) {
  return 2 * model.num_layers() * block_size * model.num_kv_heads_local() * model.head_dim() *
         (int64_t)dtype_size(kv_dtype);
}

ModelRunner::ModelRunner(Model& model, KVCacheSpec spec, Device device, DType kv_dtype, RunnerOptions options)
    : model_(model), spec_(spec), device_(device) {
  if (spec.num_blocks <= 0) fail("the KV cache has no blocks: raise its memory budget");
  cache_.num_blocks = spec.num_blocks;
  cache_.block_size = spec.block_size;
  {
    ArenaScope in_arena(options.kv_arena);  // sleep mode: the cache and nothing else in the kv_cache arena
    for (int64_t l = 0; l < model.num_layers(); ++l) {
      std::vector<int64_t> shape = {spec.num_blocks, spec.block_size, model.num_kv_heads_local(), model.head_dim()};
      cache_.k.push_back(Tensor::zeros(shape, kv_dtype, device));
      cache_.v.push_back(Tensor::zeros(shape, kv_dtype, device));
    }
  }
  if (device != Device::CPU) staging_ = std::make_unique<StepInputStaging>(device);
  if (options.cuda_graphs && device == Device::CUDA && graph_backend_for(device)) {
    const int64_t max_len = options.max_model_len > 0 ? options.max_model_len : model.config().max_position_embeddings;
    const int64_t table_width = (max_len + spec.block_size - 1) / spec.block_size;
    graphs_ = std::make_unique<DecodeGraphs>(model, cache_, device, options.max_num_seqs, spec.block_size, table_width);
  }
}

ModelRunner::~ModelRunner() = default;

ForwardInputs ModelRunner::build_inputs(const std::vector<SequenceStep>& steps) {
  const int64_t S = (int64_t)steps.size();
  int64_t T = 0, max_blocks = 1, num_logits = 0;
  int32_t max_q = 0, max_len = 0, num_decodes = 0;
  for (const auto& s : steps) {
    num_decodes += s.token_ids.size() == 1;
    T += (int64_t)s.token_ids.size();
    max_blocks = std::max<int64_t>(max_blocks, (int64_t)s.block_ids->size());
    num_logits += s.num_logits_rows();
    max_q = std::max(max_q, (int32_t)s.token_ids.size());
    max_len = std::max(max_len, s.start + (int32_t)s.token_ids.size());
  }
  const StepLayout layout(T, S, max_blocks, num_logits);
  Tensor buffer;
  if (device_ == Device::CPU) {
    buffer = Tensor::empty({layout.total}, DType::I32);
    pack_step_inputs(steps, spec_.block_size, layout, buffer.data<int32_t>());
  } else {
    pack_step_inputs(steps, spec_.block_size, layout, staging_->host(layout.total));
    buffer = Tensor::empty({layout.total}, DType::I32, device_);
    staging_->upload(buffer, layout.total);
  }
  ForwardInputs in = step_input_views(buffer, layout, max_q, max_len);
  in.attn.num_decode_seqs = num_decodes;
  return in;
}

Tensor ModelRunner::execute(const std::vector<SequenceStep>& steps) {
  for (const auto& s : steps) {
    const int64_t ctx = s.start + (int64_t)s.token_ids.size();
    if (ctx > model_.config().max_position_embeddings)
      fail("sequence of ", ctx, " tokens exceeds the model's max_position_embeddings (",
           model_.config().max_position_embeddings, ")");
    SHARDLM_CHECK((int64_t)s.block_ids->size() >= (ctx + spec_.block_size - 1) / spec_.block_size,
                  "block table too short for the step");
    for (int32_t id : s.token_ids)
      if (id < 0 || id >= model_.config().vocab_size)
        fail("token id ", id, " is out of range for a vocabulary of ", model_.config().vocab_size);
  }
  if (graphs_ && graphs_->accepts(steps)) {
    op_profile::Scope replay(device_, [&] { return "decode graph replay seqs" + op_profile::rows_bucket((int64_t)steps.size()); });
    return graphs_->run(steps, *staging_);
  }
  ForwardInputs in = build_inputs(steps);
  return model_.forward(in, cache_);
}

}  // namespace shardlm
