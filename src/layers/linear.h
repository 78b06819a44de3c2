// Megatron-style parallel linear layers. Each layer knows which slice of the checkpoint tensor is this
// rank's and where the all-reduce goes; model files only say which kind of layer a projection is.
//
//   ColumnParallel: W [out, in] split by output rows; y_local = x W_r^T (+ b_r); no communication.
//   RowParallel:    W [out, in] split by input columns; y = all_reduce(x_r W_r^T) + b (bias added once,
//                   after the reduction, identically on every rank).
//   QKV:            q, k and v split by heads and fused into one column-parallel matrix; KV heads are
//                   replicated when the TP size exceeds their number.
//   Merged:         several column-parallel projections of the same input fused (gate and up).
//
// With FP8 quantisation (LoadContext::quantization()) a layer holds an Fp8Weight instead of a dense weight,
// sliced the same way (layers/fp8_linear.h), and runs ops::linear_fp8; the bias stays dense.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/load_context.h"

namespace shardlm {

class ColumnParallelLinear {
 public:
  ColumnParallelLinear() = default;
  // One checkpoint tensor `name` ([out, in]) split evenly by rows.
  ColumnParallelLinear(LoadContext& ctx, const std::string& name, int64_t in_features, int64_t out_features,
                       bool bias);
  // Explicit per-rank row slices of several checkpoint tensors concatenated (QKV, merged gate/up).
  ColumnParallelLinear(LoadContext& ctx, const std::vector<LoadContext::RowSlice>& weight_slices,
                       const std::vector<LoadContext::RowSlice>& bias_slices, int64_t in_features,
                       const std::string& registered_name);
  Tensor forward(const Tensor& x) const;  // [T, in] -> [T, out_local]
  int64_t out_local() const { return fp8_.defined() ? fp8_.weight.dim(0) : weight_.dim(0); }
  const Tensor& weight() const { return fp8_.defined() ? fp8_.weight : weight_; }

 private:
  Tensor weight_;    // [out_local, in], or undefined when fp8_ holds the weight
  Fp8Weight fp8_;    // FP8 models: [out_local, in] with its scales
  Tensor bias_;      // [out_local] or undefined
};

class RowParallelLinear {
 public:
  RowParallelLinear() = default;
  RowParallelLinear(LoadContext& ctx, const std::string& name, int64_t in_features, int64_t out_features,
                    bool bias);
  Tensor forward(const Tensor& x_local) const;  // [T, in_local] -> [T, out], reduced over the TP group

 private:
  Tensor weight_;  // [out, in_local], or undefined when fp8_ holds the weight
  Fp8Weight fp8_;
  Tensor bias_;    // [out] or undefined
  ProcessGroup* group_ = nullptr;
};

// Unsharded linear (used where a projection is replicated on every rank, e.g. OPT's project_in/out).
class ReplicatedLinear {
 public:
  ReplicatedLinear() = default;
  ReplicatedLinear(LoadContext& ctx, const std::string& name, int64_t in_features, int64_t out_features, bool bias);
  Tensor forward(const Tensor& x) const;

 private:
  Tensor weight_, bias_;
  Fp8Weight fp8_;
};

// Head layout of attention projections on this rank.
struct HeadPartition {
  int64_t num_heads_local, num_kv_heads_local, head_dim;
  int64_t q_head_start, kv_head_start;
};
// Splits num_heads / num_kv_heads over tp_size ranks; Error naming the config fields when they do not divide.
HeadPartition partition_heads(int64_t num_heads, int64_t num_kv_heads, int64_t head_dim, int tp_rank, int tp_size);

// q/k/v projections fused into one column-parallel layer; output [T, (Hq_local + 2*Hk_local) * head_dim].
ColumnParallelLinear make_qkv_linear(LoadContext& ctx, const std::string& q_name, const std::string& k_name,
                                     const std::string& v_name, int64_t hidden_size, const HeadPartition& heads,
                                     bool bias, const std::string& registered_name);
// Several [out_i, in] projections, each split evenly by rows, fused (gate and up).
ColumnParallelLinear make_merged_column_linear(LoadContext& ctx, const std::vector<std::string>& names,
                                               int64_t in_features, int64_t out_features_each, bool bias,
                                               const std::string& registered_name);
// Splits `total` evenly over tp_size ranks; Error naming `what` when it does not divide.
int64_t divide_for_tp(int64_t total, int tp_size, const std::string& what);

}  // namespace shardlm
