// The model runner: owns this rank's KV cache and turns one scheduled batch into the model's device inputs
// (token ids, positions, slot mapping, block tables), runs the model, and returns the logits wanted.
//
// Slot mapping: token i of a sequence lives in slot block_ids[i / block_size] * block_size + i % block_size.
//
//   block_ids = [7, 2]      block_size = 4
//   token:  0  1  2  3 | 4  5  6
//   slot:  28 29 30 31 | 8  9 10
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "layers/attention.h"
#include "models/model.h"

namespace shardlm {

// One sequence's share of a step: it computes tokens [start, start + token_ids.size()).
struct SequenceStep {
  std::span<const int32_t> token_ids;      // the new tokens
  int32_t start = 0;                       // position of the first new token (= num_computed_tokens)
  const std::vector<int32_t>* block_ids;  // the sequence's block table, covering start + new tokens
  bool wants_logits = false;               // sample after this step (the last new token is the sequence's last)
};

struct KVCacheSpec {
  int64_t num_blocks = 0, block_size = 16;
};

// Bytes one KV-cache block takes on this rank (all layers, K and V).
int64_t kv_block_bytes(const Model& model, int64_t block_size, DType kv_dtype);

class ModelRunner {
 public:
  ModelRunner(Model& model, KVCacheSpec spec, Device device, DType kv_dtype);
  // Runs one step; returns f32 logits [number of steps with wants_logits, vocab] in step order.
  Tensor execute(const std::vector<SequenceStep>& steps);
  int64_t block_size() const { return spec_.block_size; }
  int64_t num_blocks() const { return spec_.num_blocks; }

 private:
  ForwardInputs build_inputs(const std::vector<SequenceStep>& steps) const;

  Model& model_;
  KVCacheSpec spec_;
  Device device_;
  KVCache cache_;
};

}  // namespace shardlm
