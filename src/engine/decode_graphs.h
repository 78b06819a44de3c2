// CUDA graphs for pure-decode steps (every scheduled sequence computes one new token and samples it): one
// graph per batch-size bucket, replaying a whole forward pass (~a dozen kernels per layer, the all-reduces,
// the LM head) with one launch.
//
// Buckets are vLLM's capture sizes: 1, 2, 4, multiples of 8 up to 256, multiples of 16 up to 512, up to the
// first that holds max_num_seqs. A batch of n runs in the smallest bucket >= n; the rows past n are padding
// (step_inputs.h): they write no KV (slot -1), attend to one key of block 0, and their logits are dropped.
//
// Fixed addresses: every graph reads its inputs from one device buffer (packed at the bucket's size and
// uploaded before each replay), copies its logits into one [largest bucket, vocab] buffer, and takes every
// other allocation from one private memory pool (ops/graph.h), shared by all buckets since they replay one
// at a time. Attention is planned for the widest context the block tables allow (table_width * block_size
// keys), not the step's, so the captured launch shapes hold for every step of the bucket; shorter contexts
// leave some context splits empty, which the attention kernels skip.
//
// Capture timing: lazily, the first time a step of a bucket runs, after one eager warm-up run of the same
// shapes (so first-use work such as kernel attributes, cuBLAS heuristics and NCCL connection setup happens
// outside the capture). Only buckets a workload uses cost capture time and memory; vLLM captures every size
// at start-up instead, which costs seconds per engine. Under tensor parallelism every rank runs the same
// deterministic schedule, so every rank reaches a bucket's first step at the same step and captures the same
// buckets in the same order: their collectives (including the warm-up's) pair up.
#pragma once
#include <map>
#include <memory>
#include <vector>

#include "engine/step_inputs.h"
#include "models/model.h"
#include "ops/graph.h"

namespace shardlm {

class DecodeGraphs {
 public:
  // table_width: block-table entries per sequence (max_model_len / block_size, rounded up).
  DecodeGraphs(Model& model, KVCache& cache, Device device, int max_num_seqs, int64_t block_size,
               int64_t table_width);
  ~DecodeGraphs();

  // The bucket sizes for max_num_seqs (at most 512; larger decode batches run eagerly).
  static std::vector<int32_t> batch_sizes(int max_num_seqs);

  // True when `steps` is a pure-decode batch these graphs can run: one new token per sequence, each wanting
  // logits, no more sequences than the largest bucket, every context within the table width.
  bool accepts(const std::vector<SequenceStep>& steps) const;
  // Runs the step (capturing its bucket first if needed). Returns f32 logits [steps, vocab]: a view of the
  // graphs' output buffer, valid until the next run.
  Tensor run(const std::vector<SequenceStep>& steps, StepInputStaging& staging);

  int64_t replays() const { return replays_; }
  std::vector<int32_t> captured_sizes() const;
  size_t pool_bytes() const { return pool_ ? pool_->bytes() : 0; }

 private:
  std::unique_ptr<DeviceGraph> capture(int32_t batch, StepInputStaging& staging);

  Model& model_;
  KVCache& cache_;
  Device device_;
  GraphBackend* backend_;
  int64_t block_size_, table_width_;
  std::vector<int32_t> sizes_;
  int64_t replays_ = 0;
  // Declared in this order so the graphs go first, then the buffers they use, then their pool.
  std::shared_ptr<GraphMemoryPool> pool_;
  Tensor inputs_;  // I32: the packed inputs of whichever bucket runs
  Tensor logits_;  // [largest bucket, vocab] f32
  std::map<int32_t, std::unique_ptr<DeviceGraph>> graphs_;  // by bucket size
};

}  // namespace shardlm
