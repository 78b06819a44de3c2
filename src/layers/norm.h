// Replicated normalisation layers: LayerNorm (optionally without affine parameters) and RMSNorm.
#pragma once
#include <string>

#include "core/tensor.h"
#include "layers/load_context.h"

namespace shardlm {

class LayerNorm {
 public:
  LayerNorm() = default;
  LayerNorm(LoadContext& ctx, const std::string& name, int64_t dim, float eps, bool elementwise_affine, bool bias = true);
  Tensor forward(const Tensor& x) const;
  // The residual add fused with this norm: residual += x; x = norm(residual), both in place.
  void add_and_forward(Tensor& x, Tensor& residual) const;

 private:
  Tensor weight_, bias_;
  float eps_ = 1e-5f;
};

class RMSNorm {
 public:
  RMSNorm() = default;
  RMSNorm(LoadContext& ctx, const std::string& name, int64_t dim, float eps);
  Tensor forward(const Tensor& x) const;
  // The residual add fused with this norm: residual += x; x = norm(residual), both in place.
  void add_and_forward(Tensor& x, Tensor& residual) const;

 private:
  Tensor weight_;
  float eps_ = 1e-6f;
};

}  // namespace shardlm
