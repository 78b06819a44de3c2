// cpu::linear: picks the kernel variant (ISA, Gemv or Gemm) and spreads output columns over the threads.
#include <algorithm>
#include <vector>

#include "core/error.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/linear_kernels.h"
#include "ops/cpu/thread_pool.h"

namespace shardlm::cpu {

namespace {

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Each thread gets one contiguous range of output columns (weight rows): decode is a stream of weight bytes,
// and a stream that jumps between ranges restarts the hardware prefetcher and wastes the software prefetch
// issued past the end of each range into another core's L2 (one range per thread: 105 -> 128 tok/s median
// on llama-125m F16 with 2 threads; 4 ranges: 123). The pool still hands the ranges out dynamically, so a
// worker that starts late leaves its range to a thread that is free. Which range a column lands in never
// changes its arithmetic.
void run_gemv(const LinearArgs& a, int threads) {
  const int64_t chunk = std::max<int64_t>(round_up((a.N + threads - 1) / threads, 4), 4);
  const int64_t chunks = (a.N + chunk - 1) / chunk;
  const bool parallel = threads > 1 && chunks > 1 && a.M * a.N * a.K >= (1 << 15);
  parallel_for_if(parallel, chunks,
                  [&](int64_t c) { gemv_avx2(a, 0, a.M, c * chunk, std::min(a.N, (c + 1) * chunk)); });
}

void run_gemm(const LinearArgs& a, int threads) {
  const int64_t nc = std::clamp<int64_t>(round_up((a.N + threads * 3 - 1) / (threads * 3), 16), 16, 256);
  const int64_t n_chunks = (a.N + nc - 1) / nc;
  // Few column chunks (narrow outputs): also split rows, each row block packing its own panels.
  int64_t m_blocks = 1;
  if (n_chunks < 2 * threads) m_blocks = std::min<int64_t>((2 * threads + n_chunks - 1) / n_chunks, (a.M + 5) / 6);
  const int64_t mb = round_up((a.M + m_blocks - 1) / m_blocks, 6);
  m_blocks = (a.M + mb - 1) / mb;
  const int64_t items = n_chunks * m_blocks;
  const bool parallel = threads > 1 && items > 1 && a.M * a.N * a.K >= (1 << 15);
  parallel_for_if(parallel, items, [&](int64_t it) {
    const int64_t nchunk = it / m_blocks, mblock = it % m_blocks;
    gemm_avx2(a, mblock * mb, std::min(a.M, (mblock + 1) * mb), nchunk * nc, std::min(a.N, (nchunk + 1) * nc));
  });
}

}  // namespace

void run_linear(const LinearArgs& a, Isa isa, LinearPath path) {
  if (a.M == 0 || a.N == 0) return;
  if (isa == Isa::Portable) {
    linear_blas(a);
    return;
  }
  const int threads = num_threads();
  if (path == LinearPath::Gemv) run_gemv(a, threads);
  else run_gemm(a, threads);
}

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  SHARDLM_CHECK(x.dtype() == DType::F32 && y.dtype() == DType::F32, "cpu linear: f32 activations expected");
  LinearArgs a;
  a.x = x.data<float>();
  a.M = x.dim(0);
  a.K = x.dim(1);
  a.w = w.raw();
  a.w_dtype = w.dtype();
  a.N = w.dim(0);
  a.y = y.data<float>();
  if (bias) {
    if (bias->dtype() == DType::F32) {
      a.bias = bias->data<float>();
    } else {
      thread_local std::vector<float> bias_f32;
      bias_f32.resize((size_t)a.N);
      convert_to_f32(bias->raw(), bias->dtype(), bias_f32.data(), bias_f32.size());
      a.bias = bias_f32.data();
    }
  }
  run_linear(a, active_isa(), default_linear_path(a.M));
}

}  // namespace shardlm::cpu
