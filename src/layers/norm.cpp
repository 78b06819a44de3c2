// Normalisation layers.
#include "layers/norm.h"

#include "ops/ops.h"

namespace shardlm {

LayerNorm::LayerNorm(LoadContext& ctx, const std::string& name, int64_t dim, float eps, bool elementwise_affine,
                     bool bias)
    : eps_(eps) {
  if (elementwise_affine) {
    ctx.expect_shape(name + ".weight", {dim});
    weight_ = ctx.load(name + ".weight");
    if (bias) bias_ = ctx.load(name + ".bias");
  }
}

Tensor LayerNorm::forward(const Tensor& x) const {
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  ops::layer_norm(x, weight_.defined() ? &weight_ : nullptr, bias_.defined() ? &bias_ : nullptr, eps_, y);
  return y;
}

void LayerNorm::add_and_forward(Tensor& x, Tensor& residual) const {
  ops::add_layer_norm(x, residual, weight_.defined() ? &weight_ : nullptr, bias_.defined() ? &bias_ : nullptr, eps_);
}

RMSNorm::RMSNorm(LoadContext& ctx, const std::string& name, int64_t dim, float eps) : eps_(eps) {
  ctx.expect_shape(name + ".weight", {dim});
  weight_ = ctx.load(name + ".weight");
}

Tensor RMSNorm::forward(const Tensor& x) const {
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  ops::rms_norm(x, weight_, eps_, y);
  return y;
}

void RMSNorm::add_and_forward(Tensor& x, Tensor& residual) const { ops::add_rms_norm(x, residual, weight_, eps_); }

}  // namespace shardlm
