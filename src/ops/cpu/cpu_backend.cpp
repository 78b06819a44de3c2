// Registers the CPU kernels as the CPU backend.
#include "ops/cpu/cpu_kernels.h"

namespace shardlm {
namespace {

class CpuBackend final : public Backend {
 public:
  void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) override { cpu::linear(x, w, bias, y); }
  void layer_norm(const Tensor& x, const Tensor* w, const Tensor* b, float eps, Tensor& y) override {
    cpu::layer_norm(x, w, b, eps, y);
  }
  void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y) override { cpu::rms_norm(x, w, eps, y); }
  void add_inplace(Tensor& x, const Tensor& y) override { cpu::add_inplace(x, y); }
  void add_rms_norm(Tensor& x, Tensor& res, const Tensor& w, float eps) override { cpu::add_rms_norm(x, res, w, eps); }
  void add_layer_norm(Tensor& x, Tensor& res, const Tensor* w, const Tensor* b, float eps) override {
    cpu::add_layer_norm(x, res, w, b, eps);
  }
  void activation_inplace(Tensor& x, Activation act) override { cpu::activation_inplace(x, act); }
  void act_and_mul(const Tensor& gu, Activation act, Tensor& out) override { cpu::act_and_mul(gu, act, out); }
  void embedding(const Tensor& ids, const Tensor& table, int64_t start, Tensor& out) override {
    cpu::embedding(ids, table, start, out);
  }
  void rotary(Tensor& q, Tensor& k, const Tensor& pos, const Tensor& cs, bool neox) override {
    cpu::rotary(q, k, pos, cs, neox);
  }
  void cache_write(const Tensor& k, const Tensor& v, const Tensor& slots, Tensor& kc, Tensor& vc) override {
    cpu::cache_write(k, v, slots, kc, vc);
  }
  void paged_attention(const Tensor& q, const Tensor& kc, const Tensor& vc, const AttentionMetadata& m, float scale,
                       Tensor& out) override {
    cpu::paged_attention(q, kc, vc, m, scale, out);
  }
  void gather_rows(const Tensor& x, const Tensor& rows, Tensor& out) override { cpu::gather_rows(x, rows, out); }
  void copy_cols(const Tensor& x, int64_t x_col, Tensor& out, int64_t out_col, int64_t n) override {
    cpu::copy_cols(x, x_col, out, out_col, n);
  }
  void cast(const Tensor& x, Tensor& out) override { cpu::cast(x, out); }
  void quantize_fp8(const Tensor& x, Fp8ActQuant act, int64_t group, const Tensor* input_scale, Tensor& q,
                    Tensor& scales) override {
    cpu::quantize_fp8(x, act, group, input_scale, q, scales);
  }
  void linear_fp8(const Tensor& x, const Fp8Weight& w, const Tensor* bias, Tensor& y) override {
    cpu::linear_fp8(x, w, bias, y);
  }
};

CpuBackend g_cpu_backend;
struct Registrar {
  Registrar() { register_backend(Device::CPU, &g_cpu_backend); }
} g_registrar;

}  // namespace
}  // namespace shardlm
