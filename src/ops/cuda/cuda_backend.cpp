// Registers the CUDA kernels as the CUDA backend (at static init, only when a GPU is visible), after
// checking what ops.cpp leaves to the backend: every tensor on the GPU (a host pointer in a kernel would
// poison the CUDA context), one floating dtype per op, int32 index tensors.
#include "ops/cuda/cuda_context.h"
#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/fp8_kernels.h"

namespace shardlm {
namespace {

void on_gpu(const Tensor& t, const char* op, const char* name) {
  if (t.device() != Device::CUDA) fail("cuda ", op, ": tensor '", name, "' is on the ", device_name(t.device()));
}

void is_i32(const Tensor& t, const char* op, const char* name) {
  on_gpu(t, op, name);
  if (t.dtype() != DType::I32) fail("cuda ", op, ": '", name, "' must be int32, got ", dtype_name(t.dtype()));
}

void same_dtype(const Tensor& a, const Tensor& b, const char* op, const char* name) {
  on_gpu(b, op, name);
  if (a.dtype() != b.dtype())
    fail("cuda ", op, ": '", name, "' is ", dtype_name(b.dtype()), ", expected ", dtype_name(a.dtype()));
}

class CudaBackend final : public Backend {
 public:
  void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) override {
    on_gpu(x, "linear", "x");
    same_dtype(x, w, "linear", "weight");
    same_dtype(x, y, "linear", "y");
    if (bias) same_dtype(x, *bias, "linear", "bias");
    cuda::ensure_device();
    cuda::linear(x, w, bias, y);
  }
  void layer_norm(const Tensor& x, const Tensor* w, const Tensor* b, float eps, Tensor& y) override {
    on_gpu(x, "layer_norm", "x");
    same_dtype(x, y, "layer_norm", "y");
    if (w) same_dtype(x, *w, "layer_norm", "weight");
    if (b) same_dtype(x, *b, "layer_norm", "bias");
    cuda::ensure_device();
    cuda::layer_norm(x, w, b, eps, y);
  }
  void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) override {
    on_gpu(x, "rms_norm", "x");
    same_dtype(x, y, "rms_norm", "y");
    same_dtype(x, w, "rms_norm", "weight");
    cuda::ensure_device();
    cuda::rms_norm(x, w, eps, y);
  }
  void add_inplace(Tensor& x, const Tensor& y) override {
    on_gpu(x, "add_inplace", "x");
    same_dtype(x, y, "add_inplace", "y");
    cuda::ensure_device();
    cuda::add_inplace(x, y);
  }
  void add_rms_norm(Tensor& x, Tensor& res, const Tensor& w, float eps) override {
    on_gpu(x, "add_rms_norm", "x");
    same_dtype(x, res, "add_rms_norm", "residual");
    same_dtype(x, w, "add_rms_norm", "weight");
    cuda::ensure_device();
    cuda::add_rms_norm(x, res, w, eps);
  }
  void add_layer_norm(Tensor& x, Tensor& res, const Tensor* w, const Tensor* b, float eps) override {
    on_gpu(x, "add_layer_norm", "x");
    same_dtype(x, res, "add_layer_norm", "residual");
    if (w) same_dtype(x, *w, "add_layer_norm", "weight");
    if (b) same_dtype(x, *b, "add_layer_norm", "bias");
    cuda::ensure_device();
    cuda::add_layer_norm(x, res, w, b, eps);
  }
  void activation_inplace(Tensor& x, Activation act) override {
    on_gpu(x, "activation", "x");
    cuda::ensure_device();
    cuda::activation_inplace(x, act);
  }
  void act_and_mul(const Tensor& gu, Activation act, Tensor& out) override {
    on_gpu(out, "act_and_mul", "out");
    same_dtype(out, gu, "act_and_mul", "gate_up");
    cuda::ensure_device();
    cuda::act_and_mul(gu, act, out);
  }
  void embedding(const Tensor& ids, const Tensor& table, int64_t start, Tensor& out) override {
    is_i32(ids, "embedding", "ids");
    on_gpu(out, "embedding", "out");
    same_dtype(out, table, "embedding", "table");
    cuda::ensure_device();
    cuda::embedding(ids, table, start, out);
  }
  void rotary(Tensor& q, Tensor& k, const Tensor& pos, const Tensor& cs, bool neox) override {
    on_gpu(q, "rotary", "q");
    same_dtype(q, k, "rotary", "k");
    is_i32(pos, "rotary", "positions");
    on_gpu(cs, "rotary", "cos_sin");
    cuda::ensure_device();
    cuda::rotary(q, k, pos, cs, neox);
  }
  void cache_write(const Tensor& k, const Tensor& v, const Tensor& slots, Tensor& kc, Tensor& vc) override {
    on_gpu(k, "cache_write", "k");
    same_dtype(k, v, "cache_write", "v");
    same_dtype(k, kc, "cache_write", "k_cache");
    same_dtype(k, vc, "cache_write", "v_cache");
    is_i32(slots, "cache_write", "slot_mapping");
    cuda::ensure_device();
    cuda::cache_write(k, v, slots, kc, vc);
  }
  void qkv_to_cache(const Tensor& qkv, const Tensor& pos, const Tensor* cs, bool neox, const Tensor& slots,
                    Tensor& q, Tensor& kc, Tensor& vc) override {
    on_gpu(qkv, "qkv_to_cache", "qkv");
    on_gpu(kc, "qkv_to_cache", "k_cache");
    is_i32(pos, "qkv_to_cache", "positions");
    is_i32(slots, "qkv_to_cache", "slot_mapping");
    if (cs) on_gpu(*cs, "qkv_to_cache", "cos_sin");
    cuda::ensure_device();
    cuda::qkv_to_cache(qkv, pos, cs, neox, slots, q, kc, vc);
  }
  void paged_attention(const Tensor& q, const Tensor& kc, const Tensor& vc, const AttentionMetadata& m, float scale,
                       Tensor& out) override {
    on_gpu(q, "paged_attention", "q");
    same_dtype(q, kc, "paged_attention", "k_cache");
    same_dtype(q, vc, "paged_attention", "v_cache");
    same_dtype(q, out, "paged_attention", "out");
    is_i32(m.query_start_loc, "paged_attention", "query_start_loc");
    is_i32(m.seq_lens, "paged_attention", "seq_lens");
    is_i32(m.block_tables, "paged_attention", "block_tables");
    if (m.block_tables.ndim() != 2) fail("cuda paged_attention: block_tables must be 2-d");
    cuda::ensure_device();
    cuda::paged_attention(q, kc, vc, m, scale, out);
  }
  void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out) override {
    on_gpu(x, "gather_rows", "x");
    same_dtype(x, out, "gather_rows", "out");
    is_i32(rows, "gather_rows", "rows");
    cuda::ensure_device();
    cuda::gather_rows(x, rows, out);
  }
  void copy_cols(const Tensor& x, int64_t x_col, Tensor& out, int64_t out_col, int64_t n) override {
    on_gpu(x, "copy_cols", "x");
    same_dtype(x, out, "copy_cols", "out");
    cuda::ensure_device();
    cuda::copy_cols(x, x_col, out, out_col, n);
  }
  void cast(const Tensor& x, Tensor& out) override {
    on_gpu(x, "cast", "x");
    on_gpu(out, "cast", "out");
    cuda::ensure_device();
    cuda::cast(x, out);
  }
  void quantize_fp8(const Tensor& x, Fp8ActQuant act, int64_t group, const Tensor* input_scale, Tensor& q,
                    Tensor& scales) override {
    on_gpu(x, "quantize_fp8", "x");
    on_gpu(q, "quantize_fp8", "q");
    on_gpu(scales, "quantize_fp8", "scales");
    if (input_scale) on_gpu(*input_scale, "quantize_fp8", "input_scale");
    cuda::ensure_device();
    cuda::quantize_fp8(x, act, group, input_scale, q, scales);
  }
  void linear_fp8(const Tensor& x, const Fp8Weight& w, const Tensor* bias, Tensor& y) override {
    on_gpu(x, "linear_fp8", "x");
    same_dtype(x, y, "linear_fp8", "y");
    on_gpu(w.weight, "linear_fp8", "weight");
    on_gpu(w.scale, "linear_fp8", "weight scale");
    if (w.input_scale.defined()) on_gpu(w.input_scale, "linear_fp8", "input_scale");
    if (bias) same_dtype(x, *bias, "linear_fp8", "bias");
    cuda::ensure_device();
    cuda::linear_fp8(x, w, bias, y);
  }
};

struct Registrar {
  Registrar() {
    if (!cuda::gpu_present()) return;
    static auto* backend = new CudaBackend();  // leaked: ops may run during static destruction
    register_backend(Device::CUDA, backend);
  }
} g_registrar;

}  // namespace
}  // namespace shardlm
