// CUDA paged attention: causal attention of each query row over its sequence's KV cache, read through the
// block table (see ops/backend.h for the metadata). One kernel serves prefill, decode and mixed batches.
//
// Work split. The query rows of one (sequence, kv head) are flattened token-major, GQA heads minor:
//   row = token * group + (q_head - kv_head * group)
// so the `group` query heads that share a kv head read each K/V tile once. A block takes BM such rows and
// walks the context in tiles of BN keys with an online softmax (flash-attention); a warp owns R rows.
//   prefill config: 4 warps stacked over rows   (BM = 16, BN = 32)
//   decode config:  4 warps side by side over keys (BM = R >= group, BN = 128), merged at the end
// When there are too few blocks to fill the GPU (decode, long contexts) the context is also split across
// blocks (flash-decoding): each split writes an unnormalised partial (o, max, sum) and a second kernel
// merges them. All math is f32; K/V tiles are staged in shared memory with 16-byte loads when the head
// size allows. Head sizes up to 256. By default two other kernels take most batches, with the same
// planning and split merge: decode batches big enough to fill the GPU go to paged_attention_decode.cu (no
// staging), prefill and mixed batches in fp16/bf16 with head_dim 32/64/128/256 to the tensor-core kernel
// of paged_attention_mma.cu, and decode batches in fp16/bf16 to the tensor-core decode kernel of
// paged_attention_decode_mma.cu. SHARDLM_CUDA_ATTENTION=staged keeps everything here.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "core/env_vars.h"
#include "ops/cuda/cuda_context.h"
#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/device_math.cuh"
#include "ops/cuda/paged_attention.cuh"

namespace shardlm::cuda {

namespace {

using attn::AttnParams;
using attn::emit;

template <typename T, int D_PAD, int R, int WR, int WK>
struct AttnConfig {
  static constexpr int kWarps = WR * WK;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int BM = WR * R;   // query rows per block
  static constexpr int BN = 32 * WK;  // keys per tile
  static constexpr int KStride = D_PAD + kVec<T>;  // padded K row (elements): conflict-free 16-byte reads
  static constexpr int DJ = D_PAD / 32;             // output features per lane
  static constexpr size_t q_bytes = sizeof(float) * BM * D_PAD;
  static constexpr size_t kv_bytes = sizeof(T) * BN * (KStride + D_PAD) + sizeof(int) * BN;
  static constexpr size_t merge_bytes = WK > 1 ? sizeof(float) * WK * BM * (D_PAD + 2) : 0;
  static constexpr size_t smem_bytes = q_bytes + (kv_bytes > merge_bytes ? kv_bytes : merge_bytes);
};

template <typename T, int D_PAD, int R, int WR, int WK>
__global__ void __launch_bounds__(32 * WR * WK) paged_attention_kernel(AttnParams p) {
  using C = AttnConfig<T, D_PAD, R, WR, WK>;
  constexpr int BM = C::BM, BN = C::BN, V = kVec<T>;
  extern __shared__ float4 smem_raw[];
  float* q_s = reinterpret_cast<float*>(smem_raw);                                      // [BM][D_PAD]
  T* k_s = reinterpret_cast<T*>(reinterpret_cast<char*>(smem_raw) + C::q_bytes);       // [BN][KStride]
  T* v_s = k_s + BN * C::KStride;                                                       // [BN][D_PAD]
  int* slot_s = reinterpret_cast<int*>(v_s + BN * D_PAD);                               // [BN]

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int wr = warp % WR, wk = warp / WR;
  const int seq = blockIdx.x / p.Hk, kvh = blockIdx.x % p.Hk;
  const int q_begin = p.query_start_loc[seq];
  const int q_len = p.query_start_loc[seq + 1] - q_begin;
  const int ctx = p.seq_lens[seq];
  const int rows_total = q_len * p.group;
  const int row0 = blockIdx.y * BM;
  if (row0 >= rows_total) return;  // whole block: this sequence has fewer rows
  const int rows_here = min(BM, rows_total - row0);
  const int last_tok = (row0 + rows_here - 1) / p.group;
  const int kv_begin = blockIdx.z * p.split_len;
  const int kv_end = min(ctx - q_len + last_tok + 1, kv_begin + p.split_len);  // causal bound of the last row

  auto row_global = [&](int r_local) {
    const int fr = row0 + r_local;
    return (int64_t)(q_begin + fr / p.group) * p.Hq + kvh * p.group + fr % p.group;
  };

  if (kv_begin >= kv_end) {  // this split holds no key for these rows: an empty partial
    if (gridDim.z > 1)
      for (int r = threadIdx.x; r < rows_here; r += blockDim.x) {
        const int64_t base = (int64_t)blockIdx.z * p.num_rows + row_global(r);
        p.part_ml[base * 2] = -INFINITY;
        p.part_ml[base * 2 + 1] = 0.f;
      }
    return;
  }

  // Q tile, pre-scaled, zero-padded to D_PAD and BM.
  const T* q = static_cast<const T*>(p.q);
  for (int idx = threadIdx.x; idx < BM * D_PAD; idx += blockDim.x) {
    const int r = idx / D_PAD, d = idx % D_PAD;
    float val = 0.f;
    if (r < rows_here && d < p.D) val = to_f32(q[row_global(r) * p.D + d]) * p.scale;
    q_s[idx] = val;
  }

  // This warp's rows and how many keys each may see (causal).
  int limit[R];
#pragma unroll
  for (int i = 0; i < R; ++i) {
    const int r_local = wr * R + i;
    limit[i] = r_local < rows_here ? ctx - q_len + (row0 + r_local) / p.group + 1 : 0;
  }
  float m[R], l[R], o[R][C::DJ];
#pragma unroll
  for (int i = 0; i < R; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.f;
#pragma unroll
    for (int j = 0; j < C::DJ; ++j) o[i][j] = 0.f;
  }

  const T* kc = static_cast<const T*>(p.k_cache);
  const T* vc = static_cast<const T*>(p.v_cache);
  const int32_t* table = p.block_tables + (int64_t)seq * p.max_blocks_per_seq;
  const bool vec_rows = p.D % V == 0;  // K/V rows in 16-byte chunks (cache rows are then 16-byte aligned)
  const int d_round = (p.D + V - 1) / V * V;

  for (int kt = kv_begin; kt < kv_end; kt += BN) {
    __syncthreads();  // the previous tile is consumed (and q_s is written, on the first pass)
    for (int n = threadIdx.x; n < BN; n += blockDim.x) {
      const int tok = kt + n;
      slot_s[n] = tok < kv_end ? table[tok / p.block_size] * p.block_size + tok % p.block_size : -1;
    }
    __syncthreads();
    if (vec_rows) {
      const int cpr = p.D / V;  // chunks per key row
      for (int c = threadIdx.x; c < BN * cpr; c += blockDim.x) {
        const int n = c / cpr, part = c % cpr;
        const int slot = slot_s[n];
        if (slot < 0) continue;
        const int64_t src = ((int64_t)slot * p.Hk + kvh) * p.D + part * V;
        *reinterpret_cast<uint4*>(k_s + n * C::KStride + part * V) = *reinterpret_cast<const uint4*>(kc + src);
        *reinterpret_cast<uint4*>(v_s + n * D_PAD + part * V) = *reinterpret_cast<const uint4*>(vc + src);
      }
    } else {
      for (int c = threadIdx.x; c < BN * d_round; c += blockDim.x) {
        const int n = c / d_round, d = c % d_round;
        const int slot = slot_s[n];
        T kval = from_f32<T>(0.f), vval = from_f32<T>(0.f);
        if (slot >= 0 && d < p.D) {
          const int64_t src = ((int64_t)slot * p.Hk + kvh) * p.D + d;
          kval = kc[src];
          vval = vc[src];
        }
        k_s[n * C::KStride + d] = kval;
        v_s[n * D_PAD + d] = vval;
      }
    }
    __syncthreads();

    const int n_valid = min(32, max(0, kv_end - kt - wk * 32));  // keys of this warp's 32-key slice
    if (n_valid == 0) continue;                                  // warp-uniform
    const int n_local = wk * 32 + lane;
    const int tok = kt + n_local;

    // Scores: lane = key, R rows at once.
    float s[R];
#pragma unroll
    for (int i = 0; i < R; ++i) s[i] = 0.f;
    const T* krow = k_s + n_local * C::KStride;
#pragma unroll 2
    for (int d = 0; d < d_round; d += V) {
      float kf[V];
      load_vec_f32(krow + d, kf);
#pragma unroll
      for (int i = 0; i < R; ++i) {
        const float4* qv = reinterpret_cast<const float4*>(q_s + (wr * R + i) * D_PAD + d);
#pragma unroll
        for (int e4 = 0; e4 < V / 4; ++e4) {
          const float4 qq = qv[e4];
          s[i] += qq.x * kf[4 * e4] + qq.y * kf[4 * e4 + 1] + qq.z * kf[4 * e4 + 2] + qq.w * kf[4 * e4 + 3];
        }
      }
    }

    // Online softmax per row.
    float pr[R];
#pragma unroll
    for (int i = 0; i < R; ++i) {
      const bool valid = lane < n_valid && tok < limit[i];
      const float sv = valid ? s[i] : -INFINITY;
      const float m_new = fmaxf(m[i], warp_max(sv));
      float corr = 1.f;
      pr[i] = 0.f;
      if (m_new != -INFINITY) {
        corr = expf(m[i] - m_new);
        pr[i] = valid ? expf(sv - m_new) : 0.f;
      }
      l[i] = l[i] * corr + warp_sum(pr[i]);
      m[i] = m_new;
#pragma unroll
      for (int j = 0; j < C::DJ; ++j) o[i][j] *= corr;
    }

    // o += p V: key n's probability is broadcast from lane n.
    for (int n = 0; n < n_valid; ++n) {
      const T* vrow = v_s + (wk * 32 + n) * D_PAD;
      float vv[C::DJ];
#pragma unroll
      for (int j = 0; j < C::DJ; ++j) vv[j] = to_f32(vrow[lane + 32 * j]);
#pragma unroll
      for (int i = 0; i < R; ++i) {
        const float pn = __shfl_sync(0xffffffffu, pr[i], n);
#pragma unroll
        for (int j = 0; j < C::DJ; ++j) o[i][j] += pn * vv[j];
      }
    }
  }

  if constexpr (WK == 1) {
#pragma unroll
    for (int i = 0; i < R; ++i) {
      const int r_local = wr * R + i;
      if (r_local >= rows_here) continue;
      const int64_t rg = row_global(r_local);
#pragma unroll
      for (int j = 0; j < C::DJ; ++j) emit<T>(p, rg, lane + 32 * j, o[i][j], m[i], l[i], lane == 0 && j == 0);
    }
  } else {
    // Merge the WK warps' partial softmax states of the same rows.
    __syncthreads();  // k_s / v_s are free now
    float* m_s = reinterpret_cast<float*>(k_s);  // [WK][BM]
    float* l_s = m_s + WK * BM;                  // [WK][BM]
    float* o_s = l_s + WK * BM;                  // [WK][BM][D_PAD]
#pragma unroll
    for (int i = 0; i < R; ++i) {
      const int r_local = wr * R + i;
      if (lane == 0) {
        m_s[wk * BM + r_local] = m[i];
        l_s[wk * BM + r_local] = l[i];
      }
#pragma unroll
      for (int j = 0; j < C::DJ; ++j) o_s[(wk * BM + r_local) * D_PAD + lane + 32 * j] = o[i][j];
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < rows_here * D_PAD; idx += blockDim.x) {
      const int r_local = idx / D_PAD, d = idx % D_PAD;
      float M = -INFINITY;
#pragma unroll
      for (int w = 0; w < WK; ++w) M = fmaxf(M, m_s[w * BM + r_local]);
      float L = 0.f, O = 0.f;
      if (M != -INFINITY) {
#pragma unroll
        for (int w = 0; w < WK; ++w) {
          const float mw = m_s[w * BM + r_local];
          if (mw == -INFINITY) continue;
          const float f = expf(mw - M);
          L += l_s[w * BM + r_local] * f;
          O += o_s[(w * BM + r_local) * D_PAD + d] * f;
        }
      }
      emit<T>(p, row_global(r_local), d, O, M, L, d == 0);
    }
  }
}

// out[row] = sum_s o_s * exp(m_s - M) / sum_s l_s * exp(m_s - M), M = max_s m_s. One block per row.
template <typename T>
__global__ void combine_splits_kernel(const float* __restrict__ part_o, const float* __restrict__ part_ml,
                                      T* __restrict__ out, int splits, int64_t num_rows, int D) {
  const int64_t row = blockIdx.x;
  float M = -INFINITY;
  for (int s = 0; s < splits; ++s) M = fmaxf(M, part_ml[(s * num_rows + row) * 2]);
  float L = 0.f;
  if (M != -INFINITY)
    for (int s = 0; s < splits; ++s) {
      const float ms = part_ml[(s * num_rows + row) * 2];
      if (ms != -INFINITY) L += part_ml[(s * num_rows + row) * 2 + 1] * expf(ms - M);
    }
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float acc = 0.f;
    if (M != -INFINITY)
      for (int s = 0; s < splits; ++s) {
        const float ms = part_ml[(s * num_rows + row) * 2];
        if (ms != -INFINITY) acc += part_o[(s * num_rows + row) * D + d] * expf(ms - M);
      }
    out[row * D + d] = from_f32<T>(L > 0.f ? acc / L : 0.f);
  }
}

struct LaunchShape {
  int m_tiles = 1, splits = 1, split_len = 0;
};

// Enough blocks for about two waves; splits of at least 256 keys.
LaunchShape plan(int num_seqs, int Hk, int max_rows, int max_ctx, int BM, int BN) {
  LaunchShape s;
  s.m_tiles = std::max(1, (max_rows + BM - 1) / BM);
  const int64_t base_blocks = (int64_t)num_seqs * Hk * s.m_tiles;
  const int64_t target = 2LL * num_sms();
  constexpr int kMinSplitKeys = 256;
  int splits = 1;
  if (base_blocks < target && max_ctx > kMinSplitKeys) {
    splits = (int)std::min<int64_t>((target + base_blocks - 1) / base_blocks, (max_ctx + kMinSplitKeys - 1) / kMinSplitKeys);
    splits = std::min(splits, 64);
  }
  int split_len = (max_ctx + splits - 1) / splits;
  split_len = std::max(BN, (split_len + BN - 1) / BN * BN);
  s.splits = std::max(1, (max_ctx + split_len - 1) / split_len);
  s.split_len = s.splits == 1 ? (max_ctx + BN - 1) / BN * BN + BN : split_len;  // one split covers everything
  return s;
}

// Plans the grid (query-row tiles of BM, context splits in multiples of BN), runs `launch_kernel(p, grid)`,
// and merges the splits when there are several.
template <typename T, typename Launch>
void run_planned(AttnParams p, int num_seqs, int max_rows, int max_ctx, int BM, int BN, Launch&& launch_kernel) {
  LaunchShape shape = plan(num_seqs, p.Hk, max_rows, max_ctx, BM, BN);
  if (shape.m_tiles > 65535)
    fail("cuda paged_attention: ", max_rows, " query rows per kv head exceed the launch limit; use smaller chunks");
  p.split_len = shape.split_len;
  Tensor part_o, part_ml;
  if (shape.splits > 1) {
    part_o = Tensor::empty({shape.splits, p.num_rows, p.D}, DType::F32, Device::CUDA);
    part_ml = Tensor::empty({shape.splits, p.num_rows, 2}, DType::F32, Device::CUDA);
    p.part_o = part_o.data<float>();
    p.part_ml = part_ml.data<float>();
  }
  launch_kernel(p, dim3((unsigned)(num_seqs * p.Hk), (unsigned)shape.m_tiles, (unsigned)shape.splits));
  SHARDLM_CUDA_CHECK_LAUNCH();
  if (shape.splits > 1) {
    const int threads = std::min(256, (p.D + 31) / 32 * 32);
    combine_splits_kernel<T><<<(unsigned)p.num_rows, threads, 0, stream()>>>(p.part_o, p.part_ml, static_cast<T*>(p.out),
                                                                               shape.splits, p.num_rows, p.D);
    SHARDLM_CUDA_CHECK_LAUNCH();
  }
}

template <typename T, int D_PAD, int R, int WR, int WK>
void launch(const AttnParams& p, int num_seqs, int max_rows, int max_ctx) {
  using C = AttnConfig<T, D_PAD, R, WR, WK>;
  auto kernel = paged_attention_kernel<T, D_PAD, R, WR, WK>;
  static bool smem_set = false;  // per instantiation; the attribute is per function and device
  if (!smem_set) {
    SHARDLM_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)C::smem_bytes));
    smem_set = true;
  }
  run_planned<T>(p, num_seqs, max_rows, max_ctx, C::BM, C::BN, [&](const AttnParams& pp, dim3 grid) {
    kernel<<<grid, C::kThreads, C::smem_bytes, stream()>>>(pp);
  });
}

template <typename T, int D_PAD>
void launch_for_dim(AttnParams p, DType dt, int num_seqs, int num_decodes, int max_q, int max_ctx,
                    bool staged_only, bool simt_decode, bool decode_v1) {
  const int max_rows = max_q * p.group;
  const bool aligned = aligned16(p.q) && aligned16(p.k_cache) && aligned16(p.v_cache) && aligned16(p.out);
  const bool mma_ok = !staged_only && attn::mma_prefill_supports(dt, p.D) && aligned;
  // Decode batches of fp16/bf16 go to the tensor-core decode kernel (every warp computes, three tiles in
  // flight; docs/benchmarks.md); SHARDLM_CUDA_ATTENTION=decode-v1 keeps the choice below, as it was before it.
  const bool decode_mma =
      !staged_only && !simt_decode && !decode_v1 && aligned && attn::decode_mma_supports(dt, p.D, p.group);
  if (max_q == 1 && decode_mma) {
    return run_planned<T>(p, num_seqs, max_rows, max_ctx, 16, attn::kDecodeMmaKeys,
                          [&](const AttnParams& pp, dim3 grid) { attn::launch_decode_mma(dt, pp, grid); });
  }
  // The unstaged decode kernel wins when the batch alone fills the GPU (H100, bf16, 32/8 heads of 128:
  // 64 x 1024 tokens 204 us vs 259 us staged; 256 x 512 350 vs 400); when the context must be split across
  // blocks, the staged kernel's bulk tile loads hide latency better (1 x 8192: 40 us vs 47; 8 x 4096: 121
  // vs 168). See docs/gpu-notes.md.
  const int decode_rows = attn::decode_rows_per_block(p.group);
  const int64_t decode_blocks = (int64_t)num_seqs * p.Hk * ((max_rows + decode_rows - 1) / decode_rows);
  // Large GQA decode batches go to the tensor-core kernel: one warp of its four holds the group's rows, but
  // all four stream K/V tiles with cp.async, which keeps more bytes in flight than the CUDA-core kernel's
  // per-lane loads (H100, llama-3-8b, 256 sequences of ~384 tokens: see docs/benchmarks.md).
  if (mma_ok && !simt_decode && max_q == 1 && p.group >= 4 && decode_blocks >= 2LL * num_sms()) {
    return run_planned<T>(p, num_seqs, max_rows, max_ctx, attn::kMmaRows, attn::kMmaKeys,
                          [&](const AttnParams& pp, dim3 grid) { attn::launch_mma_prefill(dt, pp, grid); });
  }
  if (!staged_only && max_q == 1 && decode_blocks >= 2LL * num_sms()) {
    return run_planned<T>(p, num_seqs, max_rows, max_ctx, decode_rows, attn::kDecodeKeys,
                          [&](const AttnParams& pp, dim3 grid) { attn::launch_decode(dt, pp, grid); });
  }
  // Decode (one query row per sequence): warps split the keys; R covers the GQA group.
  if (max_q == 1 && AttnConfig<T, D_PAD, 8, 1, 4>::smem_bytes <= max_shared_memory_per_block_optin()) {
    if (p.group == 1) return launch<T, D_PAD, 1, 1, 4>(p, num_seqs, max_rows, max_ctx);
    if (p.group <= 4) return launch<T, D_PAD, 4, 1, 4>(p, num_seqs, max_rows, max_ctx);
    return launch<T, D_PAD, 8, 1, 4>(p, num_seqs, max_rows, max_ctx);
  }
  // A mixed batch's decodes get the decode kernel and the prefill kernel skips them, when neither launch
  // splits the context (each then writes its rows' outputs directly).
  if (mma_ok && decode_mma && num_decodes > 0 && num_decodes < num_seqs &&
      plan(num_seqs, p.Hk, max_rows, max_ctx, attn::kMmaRows, attn::kMmaKeys).splits == 1 &&
      plan(num_seqs, p.Hk, p.group, max_ctx, 16, attn::kDecodeMmaKeys).splits == 1) {
    run_planned<T>(p, num_seqs, p.group, max_ctx, 16, attn::kDecodeMmaKeys,
                   [&](const AttnParams& pp, dim3 grid) { attn::launch_decode_mma(dt, pp, grid); });
    p.skip_decodes = true;
  }
  if (mma_ok) {
    return run_planned<T>(p, num_seqs, max_rows, max_ctx, attn::kMmaRows, attn::kMmaKeys,
                          [&](const AttnParams& pp, dim3 grid) { attn::launch_mma_prefill(dt, pp, grid); });
  }
  launch<T, D_PAD, 4, 4, 1>(p, num_seqs, max_rows, max_ctx);
}

}  // namespace

void paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionMetadata& meta,
                     float scale, Tensor& out) {
  const int64_t T = q.dim(0), Hq = q.dim(1), D = q.dim(2);
  if (T == 0 || meta.num_seqs == 0) return;
  if (D > 256) fail("cuda paged_attention: head_dim ", D, " is larger than the supported 256");
  if (k_cache.dtype() != q.dtype() || v_cache.dtype() != q.dtype() || out.dtype() != q.dtype())
    fail("cuda paged_attention: q, KV cache and output must share one dtype (q is ", dtype_name(q.dtype()),
         ", the KV cache ", dtype_name(k_cache.dtype()), ")");
  AttnParams p{};
  p.q = q.raw();
  p.k_cache = k_cache.raw();
  p.v_cache = v_cache.raw();
  p.out = out.raw();
  p.query_start_loc = meta.query_start_loc.data<int32_t>();
  p.seq_lens = meta.seq_lens.data<int32_t>();
  p.block_tables = meta.block_tables.data<int32_t>();
  p.num_rows = T * Hq;
  p.Hq = (int)Hq;
  p.Hk = (int)k_cache.dim(2);
  p.group = (int)(Hq / p.Hk);
  p.D = (int)D;
  p.block_size = (int)k_cache.dim(1);
  p.max_blocks_per_seq = (int)meta.block_tables.dim(1);
  p.scale = scale;
  // The host-side maxima bound the launch; without them, fall back to what the shapes allow.
  const int max_q = meta.max_query_len > 0 ? meta.max_query_len : (int)T;
  const int max_ctx = meta.max_seq_len > 0 ? meta.max_seq_len : p.max_blocks_per_seq * p.block_size;
  // SHARDLM_CUDA_ATTENTION=staged runs everything on the staged CUDA-core kernel (comparisons, debugging).
  const std::optional<std::string> variant = env_value("SHARDLM_CUDA_ATTENTION");
  const bool staged_only = variant == "staged", simt_decode = variant == "simt-decode",
             decode_v1 = variant == "decode-v1";
  const DType dt = q.dtype();
  dispatch_float(dt, "paged_attention", [&](auto tag) {
    using E = decltype(tag);
    if (D <= 32) launch_for_dim<E, 32>(p, dt, meta.num_seqs, meta.num_decode_seqs, max_q, max_ctx, staged_only, simt_decode, decode_v1);
    else if (D <= 64) launch_for_dim<E, 64>(p, dt, meta.num_seqs, meta.num_decode_seqs, max_q, max_ctx, staged_only, simt_decode, decode_v1);
    else if (D <= 128) launch_for_dim<E, 128>(p, dt, meta.num_seqs, meta.num_decode_seqs, max_q, max_ctx, staged_only, simt_decode, decode_v1);
    else launch_for_dim<E, 256>(p, dt, meta.num_seqs, meta.num_decode_seqs, max_q, max_ctx, staged_only, simt_decode, decode_v1);
  });
}

}  // namespace shardlm::cuda
