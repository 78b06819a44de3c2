// The model runner: owns this rank's KV cache and turns one scheduled batch into the model's device inputs
// (token ids, positions, slot mapping, block tables: one packed buffer, one upload; see step_inputs.h), runs
// the model, eagerly or by replaying a CUDA graph for pure-decode steps (decode_graphs.h), and returns the
// logits wanted.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/decode_graphs.h"
#include "engine/step_inputs.h"
#include "layers/attention.h"
#include "models/model.h"

namespace shardlm {

struct KVCacheSpec {
  int64_t num_blocks = 0, block_size = 16;
};

struct RunnerOptions {
  // Replay pure-decode steps from CUDA graphs. Only where the device has graphs (CUDA); the engine turns it
  // off for enforce_eager.
  bool cuda_graphs = false;
  int max_num_seqs = 256;     // the largest decode batch (sets the largest graph)
  int64_t max_model_len = 0;  // the longest sequence (sets the graphs' block-table width); 0: the model's limit
  // Sleep mode: the KV cache is allocated in this arena (and nothing else the runner allocates is).
  std::shared_ptr<MemoryArena> kv_arena;
};

// Bytes one KV-cache block takes on this rank (all layers, K and V).
int64_t kv_block_bytes(const Model& model, int64_t block_size, DType kv_dtype);

class ModelRunner {
 public:
  ModelRunner(Model& model, KVCacheSpec spec, Device device, DType kv_dtype, RunnerOptions options = {});
  ~ModelRunner();
  // Runs one step; returns f32 logits [sum of the steps' num_logits_rows(), vocab] in step order, on the
  // runner's device. After a graph replay the tensor is a view of the graphs' output buffer, valid until the
  // next execute(): copy it (to the host, say) before then.
  Tensor execute(const std::vector<SequenceStep>& steps);
  int64_t block_size() const { return spec_.block_size; }
  int64_t num_blocks() const { return spec_.num_blocks; }
  const DecodeGraphs* decode_graphs() const { return graphs_.get(); }  // null without CUDA graphs
  const KVCache& kv_cache() const { return cache_; }

 private:
  ForwardInputs build_inputs(const std::vector<SequenceStep>& steps);

  Model& model_;
  KVCacheSpec spec_;
  Device device_;
  KVCache cache_;
  std::unique_ptr<StepInputStaging> staging_;  // devices other than the CPU
  std::unique_ptr<DecodeGraphs> graphs_;       // declared last: destroyed before the cache its graphs write
};

}  // namespace shardlm
