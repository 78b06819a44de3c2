// OPT (facebook/opt-125m ... opt-66b): learned positions with offset 2, pre-LN or post-LN
// (do_layer_norm_before), optional project_in/project_out when word_embed_proj_dim != hidden_size, ReLU MLP,
// LM head tied to the token embedding.
#include "core/error.h"
#include "layers/attention.h"
#include "layers/embedding.h"
#include "layers/linear.h"
#include "layers/norm.h"
#include "models/model.h"
#include "ops/ops.h"

namespace shardlm {

namespace {

constexpr int64_t kOptPositionOffset = 2;

struct OptLayer {
  LayerNorm self_attn_layer_norm, final_layer_norm;
  ColumnParallelLinear qkv, fc1;
  RowParallelLinear out_proj, fc2;
  PagedAttention attn;
};

class OptModel final : public Model {
 public:
  OptModel(const ModelConfig& cfg, LoadContext& ctx) : Model(cfg) {
    const int64_t H = cfg.hidden_size;
    word_embed_dim_ = cfg.get_int("word_embed_proj_dim", H);
    ffn_dim_ = cfg.get_int("ffn_dim", 4 * H);
    pre_ln_ = cfg.get_bool("do_layer_norm_before", true);
    const bool bias = cfg.get_bool("enable_bias", true);
    const bool affine = cfg.get_bool("layer_norm_elementwise_affine", true);
    act_ = ops::parse_activation(cfg.get_string("activation_function", "relu"));
    if (H % cfg.num_heads != 0) fail(cfg.model_dir, "/config.json: hidden_size is not divisible by num_attention_heads");
    config_.head_dim = H / cfg.num_heads;
    config_.num_kv_heads = cfg.num_heads;

    const std::string p = "model.decoder.";
    ctx.add_prefix_alias("model.decoder.", "decoder.");  // facebook/opt-*'s pytorch_model.bin
    ctx.add_prefix_alias("lm_head.", "model.decoder.embed_tokens.");

    embed_tokens_ = VocabParallelEmbedding(ctx, p + "embed_tokens.weight", cfg.vocab_size, word_embed_dim_);
    ctx.expect_shape(p + "embed_positions.weight", {cfg.max_position_embeddings + kOptPositionOffset, H});
    embed_positions_ = ctx.load(p + "embed_positions.weight");
    if (word_embed_dim_ != H) {
      project_in_ = ReplicatedLinear(ctx, p + "project_in", word_embed_dim_, H, false);
      project_out_ = ReplicatedLinear(ctx, p + "project_out", H, word_embed_dim_, false);
    }
    // transformers drops the final norm for post-LN models and when _remove_final_layer_norm is set.
    has_final_norm_ = pre_ln_ && !cfg.get_bool("_remove_final_layer_norm", false);
    if (has_final_norm_) final_norm_ = LayerNorm(ctx, p + "final_layer_norm", H, 1e-5f, affine);

    HeadPartition heads = partition_heads(cfg.num_heads, cfg.num_heads, config_.head_dim, ctx.tp_rank(), ctx.tp_size());
    kv_heads_local_ = heads.num_kv_heads_local;
    q_size_ = heads.num_heads_local * config_.head_dim;
    const float scale = 1.0f / std::sqrt((float)config_.head_dim);
    for (int64_t l = 0; l < cfg.num_layers; ++l) {
      const std::string lp = p + "layers." + std::to_string(l) + ".";
      OptLayer layer;
      layer.self_attn_layer_norm = LayerNorm(ctx, lp + "self_attn_layer_norm", H, 1e-5f, affine);
      layer.qkv = make_qkv_linear(ctx, lp + "self_attn.q_proj", lp + "self_attn.k_proj", lp + "self_attn.v_proj", H,
                                  heads, bias, lp + "self_attn.qkv_proj");
      layer.out_proj = RowParallelLinear(ctx, lp + "self_attn.out_proj", H, H, bias);
      layer.final_layer_norm = LayerNorm(ctx, lp + "final_layer_norm", H, 1e-5f, affine);
      layer.fc1 = ColumnParallelLinear(ctx, lp + "fc1", H, ffn_dim_, bias);
      layer.fc2 = RowParallelLinear(ctx, lp + "fc2", ffn_dim_, H, bias);
      layer.attn = PagedAttention((int)l, heads.num_heads_local, heads.num_kv_heads_local, config_.head_dim, scale);
      layers_.push_back(std::move(layer));
    }
    const VocabParallelEmbedding* tied = &embed_tokens_;
    if (!cfg.get_bool("tie_word_embeddings", true) && ctx.has("lm_head.weight") &&
        !ctx.has("model.decoder.embed_tokens.weight"))
      tied = nullptr;
    lm_head_ = ParallelLMHead(ctx, "lm_head.weight", cfg.vocab_size, word_embed_dim_, tied);
  }

  Tensor forward(const ForwardInputs& in, KVCache& cache) override {
    const int64_t T = in.token_ids.numel();
    Tensor x = embed_tokens_.forward(in.token_ids);
    if (word_embed_dim_ != config_.hidden_size) x = project_in_.forward(x);
    // Learned positions: row position + 2.
    Tensor pos = Tensor::empty({T, config_.hidden_size}, x.dtype(), x.device());
    ops::embedding(in.positions, embed_positions_, -kOptPositionOffset, pos);
    ops::add_inplace(x, pos);

    // Pre-LN: x is the residual stream; h, the last block's output, is added to it by the next norm. Post-LN:
    // x is the layer's input; each block's output is added to that block's input by the norm after it.
    // add_and_forward(h, r): r += h; h = norm(r).
    Tensor h;
    for (auto& layer : layers_) {
      if (!pre_ln_) h = x;
      else if (h.defined()) layer.self_attn_layer_norm.add_and_forward(h, x);
      else h = layer.self_attn_layer_norm.forward(x);
      Tensor a = layer.attn.forward_qkv(layer.qkv.forward(h), /*rope=*/nullptr, in, cache);
      h = layer.out_proj.forward(a);
      (pre_ln_ ? layer.final_layer_norm : layer.self_attn_layer_norm).add_and_forward(h, x);

      Tensor f = layer.fc1.forward(h);  // post-LN: h is also the MLP block's input for its residual
      ops::activation_inplace(f, act_);
      f = layer.fc2.forward(f);
      if (pre_ln_) {
        h = f;
      } else {
        layer.final_layer_norm.add_and_forward(f, h);
        x = f;
      }
    }
    if (pre_ln_ && h.defined()) ops::add_inplace(x, h);

    Tensor last = Tensor::empty({in.logits_indices.numel(), config_.hidden_size}, x.dtype(), x.device());
    ops::gather_rows(x, in.logits_indices, last);
    if (has_final_norm_) last = final_norm_.forward(last);
    if (word_embed_dim_ != config_.hidden_size) last = project_out_.forward(last);
    return lm_head_.forward(last);
  }

 private:
  int64_t word_embed_dim_ = 0, ffn_dim_ = 0, q_size_ = 0;
  bool pre_ln_ = true, has_final_norm_ = true;
  Activation act_ = Activation::Relu;
  VocabParallelEmbedding embed_tokens_;
  Tensor embed_positions_;
  ReplicatedLinear project_in_, project_out_;
  LayerNorm final_norm_;
  std::vector<OptLayer> layers_;
  ParallelLMHead lm_head_;
};

}  // namespace

std::unique_ptr<Model> create_opt(const ModelConfig& cfg, LoadContext& ctx) {
  return std::make_unique<OptModel>(cfg, ctx);
}

}  // namespace shardlm
