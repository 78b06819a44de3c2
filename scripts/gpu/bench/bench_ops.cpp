// Times the CUDA ops on shapes of a Llama-3-8B-like layer (hidden 4096, 32 q heads, 8 kv heads, head 128)
// and prints one markdown row per case: time, and the bandwidth or FLOP rate it implies (the bytes and FLOPs
// each case must move are stated in its row). First, decode-sized linears: the GEMV kernel against cuBLAS
// in TB/s of weight bytes. Built by scripts/gpu (ops-only build); needs a GPU.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "ops/cuda/cuda_context.h"
#include "ops/cuda/cuda_kernels.h"
#include "ops/ops.h"

using namespace shardlm;

namespace {

Tensor rand_gpu(std::vector<int64_t> shape, DType dt, uint32_t seed, float scale = 1.f) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v((size_t)n);
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, scale);
  for (auto& x : v) x = dist(rng);
  return Tensor::from_f32(v, shape).to_dtype(dt).to(Device::CUDA);
}

Tensor ints_gpu(const std::vector<int32_t>& v, std::vector<int64_t> shape) {
  Tensor t = Tensor::empty({(int64_t)v.size()}, DType::I32);
  std::copy(v.begin(), v.end(), t.data<int32_t>());
  return t.to(Device::CUDA).reshape(shape);
}

// Mean milliseconds per call over `iters` after warm-up, timed with events on the backend's stream.
// BENCH_OPS_ONCE=1 runs each case once without warm-up (for a profiler attached to the process).
double time_ms(const std::function<void()>& fn, int iters = 20) {
  if (std::getenv("BENCH_OPS_ONCE")) iters = 1;
  for (int i = 0; i < (iters == 1 ? 0 : 3); ++i) fn();
  cudaStream_t s = cuda::stream();
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  cudaEventRecord(a, s);
  for (int i = 0; i < iters; ++i) fn();
  cudaEventRecord(b, s);
  cudaEventSynchronize(b);
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return ms / iters;
}

void row(const std::string& name, double ms, double bytes, double flops) {
  std::printf("| %-44s | %9.3f | %8.1f | %8.1f |\n", name.c_str(), ms * 1e3, bytes / (ms * 1e-3) / 1e9,
              flops / (ms * 1e-3) / 1e12);
}

void bench_linear(DType dt) {
  for (auto [M, K, N] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {1, 4096, 4096}, {32, 4096, 6144}, {256, 4096, 28672}, {2048, 4096, 4096}, {4096, 4096, 14336}}) {
    Tensor x = rand_gpu({M, K}, dt, 1), w = rand_gpu({N, K}, dt, 2, 0.02f);
    Tensor y = Tensor::empty({M, N}, dt, Device::CUDA);
    double ms = time_ms([&] { ops::linear(x, w, nullptr, y); });
    double es = (double)dtype_size(dt);
    row("linear M=" + std::to_string(M) + " K=" + std::to_string(K) + " N=" + std::to_string(N), ms,
        es * (M * K + N * K + M * N), 2.0 * M * N * K);
  }
}

// A GPU tensor of any size filled with copies of one 1 Mi-element random block (made once per dtype; values
// only need to be finite).
Tensor big_gpu(std::vector<int64_t> shape, DType dt) {
  static std::map<DType, Tensor> sources;
  Tensor& src = sources[dt];
  if (!src.defined()) src = rand_gpu({int64_t{1} << 20}, dt, 12, 0.02f);
  Tensor t = Tensor::empty(shape, dt, Device::CUDA);
  const int64_t n = t.numel(), block = src.numel();
  const size_t es = dtype_size(dt);
  for (int64_t i = 0; i < n; i += block)
    cudaMemcpyAsync(static_cast<char*>(t.raw()) + i * es, src.raw(), (size_t)std::min(block, n - i) * es,
                    cudaMemcpyDeviceToDevice, cuda::stream());
  return t;
}

// Device-to-device copy bandwidth (bytes read + written), the ceiling for a weight stream.
double copy_tb_s() {
  const int64_t bytes = int64_t{1} << 30;
  Tensor a = Tensor::empty({bytes}, DType::U8, Device::CUDA), b = Tensor::empty({bytes}, DType::U8, Device::CUDA);
  auto copy = [&] { cudaMemcpyAsync(b.raw(), a.raw(), (size_t)bytes, cudaMemcpyDeviceToDevice, cuda::stream()); };
  return 2.0 * (double)bytes / (time_ms(copy, 10) * 1e-3) / 1e12;
}

struct LinearShape {
  const char* name;
  int64_t N, K;
};
using LinearFn = std::function<void(const Tensor& x, const Tensor& w, Tensor& y)>;

// Microseconds per y[M,N] = x[M,K] w[N,K]^T, cycling through several weight copies (>= 256 MB in all) so
// that no call finds its weights in L2 (50 MB), as in a decode step where each layer has its own.
double time_linear_us(const LinearShape& s, int64_t M, DType dt, const LinearFn& fn) {
  const double w_bytes = (double)s.N * s.K * dtype_size(dt);
  const int copies = (int)std::max(1.0, std::ceil(256e6 / w_bytes));
  std::vector<Tensor> ws;
  for (int i = 0; i < copies; ++i) ws.push_back(big_gpu({s.N, s.K}, dt));
  Tensor x = rand_gpu({M, s.K}, dt, 11), y = Tensor::empty({M, s.N}, dt, Device::CUDA);
  int next = 0;
  return 1e3 * time_ms([&] { fn(x, ws[next++ % copies], y); }, std::max(20, 2 * copies));
}

// One row: cuBLAS (ops::linear with SHARDLM_CUDA_GEMV=0) against the two GEMV kernels (cuda::gemv with its
// own split choice), in TB/s of weight bytes; "GEMV auto" is the kernel cuda::gemv picks for this M (what
// linear() runs when M <= SHARDLM_CUDA_GEMV). Adds `layers` times each time to the sums.
void decode_linear_row(const LinearShape& s, int64_t M, DType dt, double copy_bw, double* cublas_sum = nullptr,
                       double* gemv_sum = nullptr, int layers = 1) {
  int splits = 0;
  auto gemv_with = [&](cuda::GemvKernel kernel) {
    return time_linear_us(s, M, dt, [&](const Tensor& x, const Tensor& w, Tensor& y) {
      splits = cuda::gemv(x, w, nullptr, y, 0, kernel);
    });
  };
  const double fma = gemv_with(cuda::GemvKernel::CudaCores), mma = gemv_with(cuda::GemvKernel::TensorCores);
  const double g = gemv_with(cuda::GemvKernel::Auto);
  setenv("SHARDLM_CUDA_GEMV", "0", 1);
  const double c = time_linear_us(s, M, dt, [](const Tensor& x, const Tensor& w, Tensor& y) {
    ops::linear(x, w, nullptr, y);
  });
  unsetenv("SHARDLM_CUDA_GEMV");
  const double w_bytes = (double)s.N * s.K * dtype_size(dt);
  auto tb = [&](double us) { return w_bytes / (us * 1e-6) / 1e12; };
  std::printf("| %-22s | %4s | %2lld | %6lld | %5lld | %7.1f | %7.2f | %5.2f | %3.0f%% | %7.2f | %5.2f | %7.2f | %5.2f "
              "| %7.2f | %5.2f | %3.0f%% | %5.2fx | %2d |\n",
              s.name, dt == DType::F32 ? "f32" : "bf16", (long long)M, (long long)s.N, (long long)s.K, w_bytes / 1e6,
              c, tb(c), 100 * tb(c) / copy_bw, fma, tb(fma), mma, tb(mma), g, tb(g), 100 * tb(g) / copy_bw, c / g,
              splits);
  if (cublas_sum) *cublas_sum += layers * c;
  if (gemv_sum) *gemv_sum += layers * g;
}

void bench_decode_linear(DType dt) {
  const double copy_bw = copy_tb_s();
  std::printf("copy bandwidth (device to device, read + write): %.3f TB/s\n\n", copy_bw);
  std::printf("| decode linear | dtype | M | N | K | weights MB | cuBLAS us | TB/s | of copy | CUDA-core GEMV us "
              "| TB/s | tensor-core GEMV us | TB/s | GEMV auto us | TB/s | of copy | vs cuBLAS | splits |\n"
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  const LinearShape qkv{"llama3-8b qkv", 6144, 4096}, o_proj{"llama3-8b o_proj", 4096, 4096},
      gate_up{"llama3-8b gate_up", 28672, 4096}, down{"llama3-8b down", 4096, 14336},
      head{"llama3-8b lm_head", 128256, 4096};
  for (int64_t M : {1, 8}) {
    double c = 0, g = 0;
    for (const LinearShape& s : {qkv, o_proj, gate_up, down}) decode_linear_row(s, M, dt, copy_bw, &c, &g, 32);
    decode_linear_row(head, M, dt, copy_bw, &c, &g, 1);
    std::printf("| **every linear of one llama3-8b token, M=%lld** (floor %.2f ms) | | | | | | %.2f ms | | | | | | "
                "| %.2f ms | | | %.2fx | |\n",
                (long long)M, 16.06e9 / (copy_bw * 1e12) * 1e3, c * 1e-3, g * 1e-3, c / g);
  }
  for (int64_t M : {2, 4, 16})
    for (const LinearShape& s : {o_proj, gate_up}) decode_linear_row(s, M, dt, copy_bw);
  for (int64_t M : {1, 8}) decode_linear_row(o_proj, M, DType::F32, copy_bw);
  const LinearShape tp4_qkv{"llama3-8b TP4 qkv", 1536, 4096}, tp4_o{"llama3-8b TP4 o_proj", 4096, 1024},
      tp4_down{"llama3-8b TP4 down", 4096, 3584};
  const std::vector<LinearShape> at_m1 = {
      {"llama3-8b TP2 qkv", 3072, 4096},  {"llama3-8b TP2 o_proj", 4096, 2048}, {"llama3-8b TP2 gate_up", 14336, 4096},
      {"llama3-8b TP2 down", 4096, 7168}, tp4_qkv, tp4_o, {"llama3-8b TP4 gate_up", 7168, 4096}, tp4_down,
      {"llama3-8b TP4 lm_head", 32064, 4096}, {"opt-125m qkv", 2304, 768}, {"opt-125m out_proj", 768, 768},
      {"opt-125m fc1", 3072, 768}, {"opt-125m fc2", 768, 3072}, {"opt-125m lm_head", 50272, 768}};
  for (const LinearShape& s : at_m1) decode_linear_row(s, 1, dt, copy_bw);

  // The split-K policy: the same shapes with the split count forced (microseconds, splits used).
  std::printf("\n| GEMV (auto kernel), splits forced (bf16) | M | N | K | 1 | 2 | 4 | 8 | auto |\n"
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  const std::vector<std::pair<LinearShape, int64_t>> cases = {{qkv, 1},     {o_proj, 1},  {down, 1},   {o_proj, 8},
                                                              {gate_up, 8}, {tp4_qkv, 1}, {tp4_o, 1}, {tp4_down, 1}};
  for (const auto& [s, M] : cases) {
    std::printf("| %-22s | %2lld | %6lld | %5lld |", s.name, (long long)M, (long long)s.N, (long long)s.K);
    for (int forced : {1, 2, 4, 8, 0}) {
      int used = 0;
      const double us = time_linear_us(s, M, dt, [&](const Tensor& x, const Tensor& w, Tensor& y) {
        used = cuda::gemv(x, w, nullptr, y, forced);
      });
      std::printf(" %.2f (%d) |", us, used);
    }
    std::printf("\n");
  }
  std::printf("\n");
}

// One attention call over sequences given as (context length, new query rows); rows of 1 are decode.
struct AttnSeq {
  int ctx, q_len;
};
void bench_attention_seqs(DType dt, const std::string& name, const std::vector<AttnSeq>& seqs_in) {
  const int64_t Hq = 32, Hk = 8, D = 128, bs = 16;
  const int seqs = (int)seqs_in.size();
  int max_blocks = 0, max_q = 0, max_ctx = 0;
  for (const AttnSeq& s : seqs_in) {
    max_blocks = std::max(max_blocks, (int)((s.ctx + bs - 1) / bs));
    max_q = std::max(max_q, s.q_len);
    max_ctx = std::max(max_ctx, s.ctx);
  }
  const int64_t num_blocks = (int64_t)seqs * max_blocks;
  std::vector<int32_t> ids((size_t)num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(3));
  std::vector<int32_t> qsl{0}, lens;
  for (const AttnSeq& s : seqs_in) {
    qsl.push_back(qsl.back() + s.q_len);
    lens.push_back(s.ctx);
  }
  AttentionMetadata m;
  m.query_start_loc = ints_gpu(qsl, {seqs + 1});
  m.seq_lens = ints_gpu(lens, {seqs});
  m.block_tables = ints_gpu(ids, {seqs, max_blocks});
  m.num_seqs = seqs;
  m.max_query_len = max_q;
  m.max_seq_len = max_ctx;
  for (const AttnSeq& s : seqs_in) m.num_decode_seqs += s.q_len == 1;
  const int64_t T = qsl.back();
  Tensor q = rand_gpu({T, Hq, D}, dt, 4);
  Tensor kc = big_gpu({num_blocks, bs, Hk, D}, dt), vc = big_gpu({num_blocks, bs, Hk, D}, dt);
  Tensor out = Tensor::empty({T, Hq, D}, dt, Device::CUDA);
  double ms = time_ms([&] { ops::paged_attention(q, kc, vc, m, 0.088f, out); });
  const double es = (double)dtype_size(dt);
  // Bytes: each sequence's K and V once, Q in, O out. Causal FLOPs: a query row at position p sees p+1 keys;
  // 4 FLOPs per (row, key, feature) pair.
  double kv_bytes = 0, pairs = 0;
  for (const AttnSeq& s : seqs_in) {
    kv_bytes += 2.0 * s.ctx * Hk * D * es;
    for (int j = 0; j < s.q_len; ++j) pairs += s.ctx - s.q_len + j + 1;
  }
  row(name, ms, kv_bytes + 2.0 * T * Hq * D * es, 4.0 * pairs * Hq * D);
}

// seqs sequences of ctx tokens each; q_len new rows per sequence (1: decode).
void bench_attention(DType dt, int seqs, int ctx, int q_len) {
  bench_attention_seqs(dt,
                       "paged_attention seqs=" + std::to_string(seqs) + " ctx=" + std::to_string(ctx) +
                           " q=" + std::to_string(q_len),
                       std::vector<AttnSeq>((size_t)seqs, AttnSeq{ctx, q_len}));
}

// The shapes of the offline throughput benchmark on llama-3-8b (issue #18): decode batches at the contexts
// of 256-in/256-out, prefill steps of 8192 and 16384 tokens, and a mixed step (decodes + a prefill chunk).
void bench_throughput_attention(DType dt) {
  std::printf("| attention case (bf16) | time (us) | GB/s | TFLOP/s |\n|---|---:|---:|---:|\n");
  bench_attention(dt, 256, 384, 1);
  bench_attention(dt, 1024, 384, 1);
  bench_attention(dt, 64, 1024, 1);
  bench_attention(dt, 8, 1024, 1024);
  bench_attention(dt, 16, 1024, 1024);
  bench_attention(dt, 32, 256, 256);
  std::vector<AttnSeq> mixed((size_t)255, AttnSeq{384, 1});
  mixed.push_back({2048, 2048});
  bench_attention_seqs(dt, "mixed: 255 decodes ctx=384 + 1 x 2048 prompt", mixed);
}

void bench_memory_ops(DType dt) {
  const int64_t T = 4096, H = 4096, I = 14336;
  const double es = (double)dtype_size(dt);
  Tensor x = rand_gpu({T, H}, dt, 7), w = rand_gpu({H}, dt, 8), y = Tensor::empty({T, H}, dt, Device::CUDA);
  row("rms_norm T=4096 H=4096", time_ms([&] { ops::rms_norm(x, w, 1e-5f, y); }), es * (2.0 * T * H + H), 0);
  row("add_inplace T=4096 H=4096", time_ms([&] { ops::add_inplace(y, x); }), es * 3.0 * T * H, 0);
  // The residual add + norm of every layer boundary, unfused (two kernels: 5 T*H elements moved) and fused
  // (one kernel: read x and residual, write both: 4 T*H), at a decode batch and at a prefill chunk.
  for (int64_t rows : {int64_t{32}, T}) {
    const std::string shape = " T=" + std::to_string(rows) + " H=4096";
    Tensor h = rand_gpu({rows, H}, dt, 10), r = rand_gpu({rows, H}, dt, 11, 4.f), o = y.slice_rows(0, rows);
    row("add_inplace + rms_norm (unfused)" + shape, time_ms([&] {
          ops::add_inplace(r, h);
          ops::rms_norm(r, w, 1e-5f, o);
        }),
        es * (5.0 * rows * H + H), 0);
    row("add_rms_norm (fused)" + shape, time_ms([&] { ops::add_rms_norm(h, r, w, 1e-5f); }), es * (4.0 * rows * H + H),
        0);
    row("add_layer_norm (fused, weight + bias)" + shape, time_ms([&] { ops::add_layer_norm(h, r, &w, &w, 1e-5f); }),
        es * (4.0 * rows * H + 2.0 * H), 0);
  }
  Tensor gu = rand_gpu({T, 2 * I}, dt, 9), o = Tensor::empty({T, I}, dt, Device::CUDA);
  row("act_and_mul silu T=4096 I=14336", time_ms([&] { ops::act_and_mul(gu, Activation::Silu, o); }),
      es * 3.0 * T * I, 0);
}

}  // namespace

// usage: bench_ops [attention]   (attention: only the throughput benchmark's attention shapes)
int main(int argc, char** argv) {
  if (!cuda::gpu_present()) {
    std::printf("no GPU: nothing to time\n");
    return 0;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, cuda::device_index());
  std::printf("device: %s, %d SMs\n\n", prop.name, prop.multiProcessorCount);
  const DType dt = DType::BF16;
  if (argc > 1 && std::string(argv[1]) == "attention") {
    bench_throughput_attention(dt);
    return 0;
  }
  bench_decode_linear(dt);
  std::printf("| case (bf16) | time (us) | GB/s | TFLOP/s |\n|---|---:|---:|---:|\n");
  bench_linear(dt);
  bench_attention(dt, 1, 2048, 2048);   // prefill (tensor cores)
  bench_attention(dt, 4, 512, 512);     // prefill, several sequences
  setenv("SHARDLM_CUDA_ATTENTION", "staged", 1);
  std::printf("| (staged CUDA-core kernel, for comparison) | | | |\n");
  bench_attention(dt, 1, 2048, 2048);
  bench_attention(dt, 64, 1024, 1);
  bench_attention(dt, 1, 8192, 1);
  unsetenv("SHARDLM_CUDA_ATTENTION");
  std::printf("| (default kernels) | | | |\n");
  bench_attention(dt, 64, 1024, 1);     // decode batch
  bench_attention(dt, 256, 512, 1);     // big decode batch
  bench_attention(dt, 1, 8192, 1);      // one long decode: the split-context path
  bench_attention(dt, 8, 4096, 1);
  bench_memory_ops(dt);
  return 0;
}
