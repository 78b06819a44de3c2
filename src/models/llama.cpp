// The Llama family: LlamaForCausalLM (Llama 2/3/3.1/3.2, TinyLlama), MistralForCausalLM, Qwen2ForCausalLM
// (bias on q/k/v), Qwen3ForCausalLM (per-head RMSNorm on q and k). RMSNorm, SwiGLU, grouped-query
// attention, rotary embeddings with scaling, tied or untied LM head.
#include <cmath>

#include "core/error.h"
#include "layers/attention.h"
#include "layers/embedding.h"
#include "layers/linear.h"
#include "layers/norm.h"
#include "layers/rotary.h"
#include "models/model.h"
#include "ops/ops.h"

namespace shardlm {

namespace {

struct LlamaLayer {
  RMSNorm input_layernorm, post_attention_layernorm;
  RMSNorm q_norm, k_norm;  // Qwen3 only
  ColumnParallelLinear qkv, gate_up;
  RowParallelLinear o_proj, down_proj;
  PagedAttention attn;
};

class LlamaModel final : public Model {
 public:
  LlamaModel(const ModelConfig& cfg, LoadContext& ctx) : Model(cfg) {
    const int64_t H = cfg.hidden_size;
    const std::string& arch = cfg.architecture;
    const bool is_qwen2 = arch == "Qwen2ForCausalLM", is_qwen3 = arch == "Qwen3ForCausalLM";
    const int64_t I = cfg.require_int("intermediate_size");
    const float eps = (float)cfg.get_float("rms_norm_eps", 1e-6);
    const bool attn_bias = cfg.get_bool("attention_bias", false);
    const bool qkv_bias = is_qwen2 || attn_bias;
    const bool o_bias = attn_bias && !is_qwen2;
    const bool mlp_bias = cfg.get_bool("mlp_bias", false);
    act_ = ops::parse_activation(cfg.get_string("hidden_act", "silu"));
    qk_norm_ = is_qwen3;
    const int64_t D = cfg.head_dim;

    HeadPartition heads = partition_heads(cfg.num_heads, cfg.num_kv_heads, D, ctx.tp_rank(), ctx.tp_size());
    kv_heads_local_ = heads.num_kv_heads_local;
    heads_local_ = heads.num_heads_local;
    RopeConfig rope = parse_rope_config(cfg.json, D, cfg.max_position_embeddings, cfg.model_dir + "/config.json");
    rope.inv_freq_dtype = cfg.dtype;
    rope_ = RotaryEmbedding(rope, cfg.max_position_embeddings, ctx.device());

    embed_tokens_ = VocabParallelEmbedding(ctx, "model.embed_tokens.weight", cfg.vocab_size, H);
    const float scale = 1.0f / std::sqrt((float)D);
    for (int64_t l = 0; l < cfg.num_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      LlamaLayer layer;
      layer.input_layernorm = RMSNorm(ctx, p + "input_layernorm", H, eps);
      layer.post_attention_layernorm = RMSNorm(ctx, p + "post_attention_layernorm", H, eps);
      layer.qkv = make_qkv_linear(ctx, p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj", H, heads,
                                  qkv_bias, p + "self_attn.qkv_proj");
      layer.o_proj = RowParallelLinear(ctx, p + "self_attn.o_proj", cfg.num_heads * D, H, o_bias);
      if (qk_norm_) {
        layer.q_norm = RMSNorm(ctx, p + "self_attn.q_norm", D, eps);
        layer.k_norm = RMSNorm(ctx, p + "self_attn.k_norm", D, eps);
      }
      layer.gate_up = make_merged_column_linear(ctx, {p + "mlp.gate_proj", p + "mlp.up_proj"}, H, I, mlp_bias,
                                                p + "mlp.gate_up_proj");
      layer.down_proj = RowParallelLinear(ctx, p + "mlp.down_proj", I, H, mlp_bias);
      layer.attn = PagedAttention((int)l, heads.num_heads_local, heads.num_kv_heads_local, D, scale);
      layers_.push_back(std::move(layer));
    }
    norm_ = RMSNorm(ctx, "model.norm", H, eps);
    const bool tied = cfg.get_bool("tie_word_embeddings", false) || !ctx.has("lm_head.weight");
    lm_head_ = ParallelLMHead(ctx, "lm_head.weight", cfg.vocab_size, H, tied ? &embed_tokens_ : nullptr);
  }

  Tensor forward(const ForwardInputs& in, KVCache& cache) override {
    const int64_t T = in.token_ids.numel(), D = config_.head_dim;
    const int64_t q_size = heads_local_ * D, kv_size = kv_heads_local_ * D;
    Tensor x = embed_tokens_.forward(in.token_ids);  // the residual stream
    Tensor h;  // the last block's output, added to x by the next norm (add_and_forward: x += h; h = norm(x))
    for (auto& layer : layers_) {
      if (h.defined()) layer.input_layernorm.add_and_forward(h, x);
      else h = layer.input_layernorm.forward(x);
      Tensor qkv = layer.qkv.forward(h);
      Tensor a;
      if (qk_norm_) {  // per-head norms between the projection and the rotary
        Tensor q = ops::slice_cols(qkv, 0, q_size).reshape({T, heads_local_, D});
        Tensor k = ops::slice_cols(qkv, q_size, kv_size).reshape({T, kv_heads_local_, D});
        Tensor v = ops::slice_cols(qkv, q_size + kv_size, kv_size);
        q = layer.q_norm.forward(q.reshape({T * heads_local_, D})).reshape({T, heads_local_, D});
        k = layer.k_norm.forward(k.reshape({T * kv_heads_local_, D})).reshape({T, kv_heads_local_, D});
        rope_.apply(q, k, in.positions);
        a = layer.attn.forward(q.reshape({T, q_size}), k.reshape({T, kv_size}), v, in, cache);
      } else {
        a = layer.attn.forward_qkv(qkv, &rope_, in, cache);
      }
      h = layer.o_proj.forward(a);
      layer.post_attention_layernorm.add_and_forward(h, x);

      Tensor gu = layer.gate_up.forward(h);
      Tensor m = Tensor::empty({T, gu.dim(1) / 2}, gu.dtype(), gu.device());
      ops::act_and_mul(gu, act_, m);
      h = layer.down_proj.forward(m);
    }
    if (h.defined()) ops::add_inplace(x, h);
    Tensor last = Tensor::empty({in.logits_indices.numel(), config_.hidden_size}, x.dtype(), x.device());
    ops::gather_rows(x, in.logits_indices, last);
    last = norm_.forward(last);
    return lm_head_.forward(last);
  }

 private:
  int64_t heads_local_ = 0;
  bool qk_norm_ = false;
  Activation act_ = Activation::Silu;
  RotaryEmbedding rope_;
  VocabParallelEmbedding embed_tokens_;
  std::vector<LlamaLayer> layers_;
  RMSNorm norm_;
  ParallelLMHead lm_head_;
};

}  // namespace

std::unique_ptr<Model> create_llama(const ModelConfig& cfg, LoadContext& ctx) {
  return std::make_unique<LlamaModel>(cfg, ctx);
}

}  // namespace shardlm
