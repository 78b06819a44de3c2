// The FP8 linear on CUDA: activations quantised by fp8_quant.cu, then one cuBLASLt GEMM on e4m3 operands with
// f32 accumulation, the scales applied by cuBLASLt itself:
//   per-row weight scales (per-tensor / per-channel checkpoints, quantize-at-load) x per-row activation scales:
//     CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F on both operands (cuBLASLt 12.9+). Where cuBLASLt offers no
//     algorithm for that, the GEMM runs unscaled into f32 and fp8_rescale applies x_scale[m] * w_scale[n] (+ bias).
//   128x128 weight blocks x 1x128 activation groups: BLK128x128_32F on the weight, VEC128_32F on the activations
//     (Hopper, cuBLASLt 12.9+); no fallback, an Error where cuBLASLt has none.
// Layout as in gemm.cpp: row-major y[M,N] is column-major D[N,M] = op(A)[N,K] op(B)[K,M] with A = w read
// column-major [K,N] (op T) and B = q read column-major [K,M] (op N): the "TN" form FP8 GEMMs require.
#include <cublasLt.h>

#include <atomic>
#include <climits>

#include "ops/cuda/cuda_context.h"
#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/fp8_kernels.h"

namespace shardlm::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;

#define SHARDLM_CUBLASLT_CHECK(expr) SHARDLM_CUBLAS_CHECK(expr)

cublasLtHandle_t lt_handle() {
  static cublasLtHandle_t handle = [] {
    cublasLtHandle_t h = nullptr;
    SHARDLM_CUBLASLT_CHECK(cublasLtCreate(&h));
    return h;
  }();
  return handle;
}

// Allocated on the first FP8 GEMM (the engine's profiling step, before any graph capture) and kept for the
// process: a leaked tensor, so no CUDA call runs after the driver shut down at exit.
void* workspace() {
  static Tensor* ws = new Tensor(Tensor::empty({(int64_t)kWorkspaceBytes}, DType::U8, Device::CUDA));
  return ws->raw();
}

struct Scale {
  const void* ptr = nullptr;  // device; null: no scale
  cublasLtMatmulMatrixScale_t mode = CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F;
};

// D[N,M] = (a_scale * A^T)(b_scale * B); false when cuBLASLt has no algorithm for this combination.
bool lt_matmul(const void* w, const void* q, int64_t M, int64_t N, int64_t K, Scale a, Scale b, void* d,
               cudaDataType_t d_type) {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  struct Cleanup {
    cublasLtMatmulDesc_t& op;
    cublasLtMatrixLayout_t &la, &lb, &ld;
    cublasLtMatmulPreference_t& pref;
    ~Cleanup() {
      if (pref) cublasLtMatmulPreferenceDestroy(pref);
      if (ld) cublasLtMatrixLayoutDestroy(ld);
      if (lb) cublasLtMatrixLayoutDestroy(lb);
      if (la) cublasLtMatrixLayoutDestroy(la);
      if (op) cublasLtMatmulDescDestroy(op);
    }
  } cleanup{op, la, lb, ld, pref};
  SHARDLM_CUBLASLT_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  SHARDLM_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  SHARDLM_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  if (a.ptr) {
    SHARDLM_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &a.ptr, sizeof(a.ptr)));
    SHARDLM_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &a.mode, sizeof(a.mode)));
  }
  if (b.ptr) {
    SHARDLM_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &b.ptr, sizeof(b.ptr)));
    SHARDLM_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &b.mode, sizeof(b.mode)));
  }
  SHARDLM_CUBLASLT_CHECK(cublasLtMatrixLayoutCreate(&la, CUDA_R_8F_E4M3, (uint64_t)K, (uint64_t)N, (int64_t)K));
  SHARDLM_CUBLASLT_CHECK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_8F_E4M3, (uint64_t)K, (uint64_t)M, (int64_t)K));
  SHARDLM_CUBLASLT_CHECK(cublasLtMatrixLayoutCreate(&ld, d_type, (uint64_t)N, (uint64_t)M, (int64_t)N));
  SHARDLM_CUBLASLT_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const size_t ws_bytes = kWorkspaceBytes;
  SHARDLM_CUBLASLT_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                              &ws_bytes, sizeof(ws_bytes)));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(lt_handle(), op, la, lb, ld, ld, pref, 1, &result, &found);
  if (st == CUBLAS_STATUS_NOT_SUPPORTED || (st == CUBLAS_STATUS_SUCCESS && found == 0)) return false;
  SHARDLM_CUBLASLT_CHECK(st);
  const float alpha = 1.f, beta = 0.f;
  SHARDLM_CUBLASLT_CHECK(cublasLtMatmul(lt_handle(), op, &alpha, w, la, q, lb, &beta, d, ld, d, ld, &result.algo,
                                        workspace(), kWorkspaceBytes, stream()));
  return true;
}

// Whether cuBLASLt took outer-vector scales last time (0 unknown, 1 yes, 2 no): a GPU without them is asked once.
std::atomic<int> g_outer_vec{0};

}  // namespace

void linear_fp8(const Tensor& x, const Fp8Weight& w, const Tensor* bias, Tensor& y) {
  const int64_t M = x.dim(0), K = x.dim(1), N = w.weight.dim(0);
  if (M == 0 || N == 0) return;
  if (M > INT_MAX || N > INT_MAX || K > INT_MAX) fail("cuda linear_fp8: dimensions exceed cuBLASLt's int range");
  if (K % 16 != 0 || N % 16 != 0)
    fail("cuda linear_fp8: FP8 GEMMs need input and output features that are multiples of 16, got a [", N, ", ", K,
         "] weight");
  Tensor q = Tensor::empty({M, K}, DType::F8E4M3, Device::CUDA);
  const cudaDataType_t d_type = cublas_float_type(y.dtype(), "cuda linear_fp8 output");
  if (w.block_n > 0) {
    if (w.block_n != 128 || w.block_k != 128)
      fail("cuda linear_fp8: block-quantised FP8 weights need 128x128 blocks on CUDA (cuBLASLt), got ", w.block_n,
           "x", w.block_k);
    Tensor xs = Tensor::empty({(K + 127) / 128, M}, DType::F32, Device::CUDA);
    quantize_fp8_for_gemm(x, w.act, w.block_k, w.input_scale.defined() ? &w.input_scale : nullptr, q, xs);
    if (!lt_matmul(w.weight.raw(), q.raw(), M, N, K, {w.scale.raw(), CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F},
                   {xs.raw(), CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F}, y.raw(), d_type))
      fail("cuda linear_fp8: cuBLASLt offers no 128x128 block-scaled FP8 GEMM on this GPU (it needs compute "
           "capability 9.0 and cuBLAS 12.9 or newer)");
    if (bias) add_bias_rows(y, *bias);
    return;
  }
  Tensor xs = Tensor::empty({M}, DType::F32, Device::CUDA);
  quantize_fp8_for_gemm(x, w.act, 0, w.input_scale.defined() ? &w.input_scale : nullptr, q, xs);
  if (g_outer_vec.load() != 2) {
    if (lt_matmul(w.weight.raw(), q.raw(), M, N, K, {w.scale.raw(), CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F},
                  {xs.raw(), CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F}, y.raw(), d_type)) {
      g_outer_vec.store(1);
      if (bias) add_bias_rows(y, *bias);
      return;
    }
    g_outer_vec.store(2);
  }
  Tensor acc = Tensor::empty({M, N}, DType::F32, Device::CUDA);
  if (!lt_matmul(w.weight.raw(), q.raw(), M, N, K, {}, {}, acc.raw(), CUDA_R_32F))
    fail("cuda linear_fp8: cuBLASLt offers no FP8 GEMM on this GPU (it needs compute capability 8.9 or newer)");
  fp8_rescale(acc, xs, w.scale, bias, y);
}

}  // namespace shardlm::cuda
