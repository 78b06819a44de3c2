// Paged attention for decode batches (one query row per sequence; max_query_len == 1). No shared-memory
// staging: each of 4 warps takes its own 32-key slices of the context (keys w*32 + lane, w*32 + 128 + lane,
// ...), each lane reading its key's row straight from the cache with 16-byte loads, so the only barrier
// is the final merge of the 4 warps' softmax states and many blocks fit on an SM. For `o += p V` the warp
// reads one key's V row at a time, each lane a contiguous slice of head_dim / 32 features. Rows are the
// GQA group of one kv head (R >= group). Context splits and the epilogue are shared with the other kernels.
#include "ops/cuda/cuda_context.h"
#include "ops/cuda/paged_attention.cuh"

namespace shardlm::cuda::attn {

namespace {

constexpr int kWarps = 4, kKeysPerPass = 32 * kWarps;

template <int BYTES>
struct Raw;
template <>
struct Raw<2> { using type = unsigned short; };
template <>
struct Raw<4> { using type = unsigned int; };
template <>
struct Raw<8> { using type = uint2; };

// N consecutive elements as floats; p aligned to N * sizeof(T) (16 when that exceeds 16).
template <typename T, int N>
__device__ __forceinline__ void load_n(const T* p, float* out) {
  constexpr int kBytes = N * (int)sizeof(T);
  if constexpr (kBytes >= 16) {
#pragma unroll
    for (int c = 0; c < kBytes / 16; ++c) load_vec_f32(p + c * kVec<T>, out + c * kVec<T>);
  } else {
    using U = typename Raw<kBytes>::type;
    U raw = *reinterpret_cast<const U*>(p);
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int i = 0; i < N; ++i) out[i] = to_f32(e[i]);
  }
}

template <int R, int D_PAD>
constexpr size_t decode_smem_bytes() {
  return sizeof(float) * (R * D_PAD + 2 * kWarps * R + kWarps * R * D_PAD);
}

// VEC: head_dim is a multiple of the 16-byte vector and of head_dim/32-feature slices (aligned caches).
template <typename T, int D_PAD, int R, bool VEC>
__global__ void __launch_bounds__(128) paged_decode_kernel(AttnParams p) {
  constexpr int DJ = D_PAD / 32, V = kVec<T>;
  extern __shared__ __align__(16) float dsmem[];
  float* q_s = dsmem;               // [R][D_PAD], pre-scaled
  float* m_s = q_s + R * D_PAD;     // [kWarps][R]
  float* l_s = m_s + kWarps * R;    // [kWarps][R]
  float* o_s = l_s + kWarps * R;    // [kWarps][R][D_PAD]

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int seq = blockIdx.x / p.Hk, kvh = blockIdx.x % p.Hk;
  const int q_begin = p.query_start_loc[seq];
  const int q_len = p.query_start_loc[seq + 1] - q_begin;
  const int ctx = p.seq_lens[seq];
  const int rows_total = q_len * p.group;
  const int row0 = blockIdx.y * R;
  if (row0 >= rows_total) return;
  const int rows_here = min(R, rows_total - row0);
  const int last_tok = (row0 + rows_here - 1) / p.group;
  const int kv_begin = blockIdx.z * p.split_len;
  const int kv_end = min(ctx - q_len + last_tok + 1, kv_begin + p.split_len);

  auto row_global = [&](int r_local) {
    const int fr = row0 + r_local;
    return (int64_t)(q_begin + fr / p.group) * p.Hq + kvh * p.group + fr % p.group;
  };

  if (kv_begin >= kv_end) {
    if (gridDim.z > 1)
      for (int r = threadIdx.x; r < rows_here; r += blockDim.x) {
        const int64_t base = (int64_t)blockIdx.z * p.num_rows + row_global(r);
        p.part_ml[base * 2] = -INFINITY;
        p.part_ml[base * 2 + 1] = 0.f;
      }
    return;
  }

  const T* q = static_cast<const T*>(p.q);
  for (int idx = threadIdx.x; idx < R * D_PAD; idx += blockDim.x) {
    const int r = idx / D_PAD, d = idx % D_PAD;
    q_s[idx] = (r < rows_here && d < p.D) ? to_f32(q[row_global(r) * p.D + d]) * p.scale : 0.f;
  }
  int limit[R];
  float m[R], l[R], o[R][DJ];
#pragma unroll
  for (int i = 0; i < R; ++i) {
    limit[i] = i < rows_here ? ctx - q_len + (row0 + i) / p.group + 1 : 0;
    m[i] = -INFINITY;
    l[i] = 0.f;
#pragma unroll
    for (int j = 0; j < DJ; ++j) o[i][j] = 0.f;
  }
  __syncthreads();

  const T* kc = static_cast<const T*>(p.k_cache);
  const T* vc = static_cast<const T*>(p.v_cache);
  const int32_t* table = p.block_tables + (int64_t)seq * p.max_blocks_per_seq;
  const int D = p.D, d0 = lane * DJ;

  for (int kt = kv_begin + warp * 32; kt < kv_end; kt += kKeysPerPass) {
    const int n_valid = min(32, kv_end - kt);
    const int tok = kt + lane;
    const bool in = lane < n_valid;
    const int slot = in ? table[tok / p.block_size] * p.block_size + tok % p.block_size : 0;
    const T* kp = kc + ((int64_t)slot * p.Hk + kvh) * D;

    float s[R];
#pragma unroll
    for (int i = 0; i < R; ++i) s[i] = 0.f;
    if constexpr (VEC) {
#pragma unroll
      for (int d = 0; d < D_PAD; d += V) {
        if (d < D) {
          float kf[V];
          if (in) {
            load_vec_f32(kp + d, kf);
          } else {
#pragma unroll
            for (int e = 0; e < V; ++e) kf[e] = 0.f;
          }
#pragma unroll
          for (int i = 0; i < R; ++i) {
            const float4* qv = reinterpret_cast<const float4*>(q_s + i * D_PAD + d);
#pragma unroll
            for (int e4 = 0; e4 < V / 4; ++e4) {
              const float4 qq = qv[e4];
              s[i] += qq.x * kf[4 * e4] + qq.y * kf[4 * e4 + 1] + qq.z * kf[4 * e4 + 2] + qq.w * kf[4 * e4 + 3];
            }
          }
        }
      }
    } else {
      for (int d = 0; d < D; ++d) {
        const float kf = in ? to_f32(kp[d]) : 0.f;
#pragma unroll
        for (int i = 0; i < R; ++i) s[i] += q_s[i * D_PAD + d] * kf;
      }
    }

    float pr[R];
#pragma unroll
    for (int i = 0; i < R; ++i) {
      const bool valid = in && tok < limit[i];
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
      for (int j = 0; j < DJ; ++j) o[i][j] *= corr;
    }

#pragma unroll 4
    for (int n = 0; n < n_valid; ++n) {
      const int slot_n = __shfl_sync(0xffffffffu, slot, n);
      const T* vp = vc + ((int64_t)slot_n * p.Hk + kvh) * D;
      float vv[DJ];
      if (VEC && d0 + DJ <= D) {
        load_n<T, DJ>(vp + d0, vv);
      } else {
#pragma unroll
        for (int j = 0; j < DJ; ++j) vv[j] = d0 + j < D ? to_f32(vp[d0 + j]) : 0.f;
      }
#pragma unroll
      for (int i = 0; i < R; ++i) {
        const float pn = __shfl_sync(0xffffffffu, pr[i], n);
#pragma unroll
        for (int j = 0; j < DJ; ++j) o[i][j] += pn * vv[j];
      }
    }
  }

  // Merge the 4 warps' states of the same rows.
#pragma unroll
  for (int i = 0; i < R; ++i) {
    if (lane == 0) {
      m_s[warp * R + i] = m[i];
      l_s[warp * R + i] = l[i];
    }
#pragma unroll
    for (int j = 0; j < DJ; ++j) o_s[(warp * R + i) * D_PAD + d0 + j] = o[i][j];
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < rows_here * D_PAD; idx += blockDim.x) {
    const int r = idx / D_PAD, d = idx % D_PAD;
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) M = fmaxf(M, m_s[w * R + r]);
    float L = 0.f, O = 0.f;
    if (M != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float mw = m_s[w * R + r];
        if (mw == -INFINITY) continue;
        const float f = expf(mw - M);
        L += l_s[w * R + r] * f;
        O += o_s[(w * R + r) * D_PAD + d] * f;
      }
    }
    emit<T>(p, row_global(r), d, O, M, L, d == 0);
  }
}

template <typename T, int D_PAD, int R, bool VEC>
void launch_typed(const AttnParams& p, dim3 grid) {
  constexpr size_t smem = decode_smem_bytes<R, D_PAD>();
  auto kernel = paged_decode_kernel<T, D_PAD, R, VEC>;
  static bool smem_set = false;  // per instantiation
  if (!smem_set) {
    SHARDLM_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    smem_set = true;
  }
  kernel<<<grid, 32 * kWarps, smem, stream()>>>(p);
}

template <typename T, int D_PAD, int R>
void launch_vec(const AttnParams& p, dim3 grid) {
  const bool vec = p.D % kVec<T> == 0 && p.D % (D_PAD / 32) == 0 && aligned16(p.k_cache) && aligned16(p.v_cache);
  if (vec) launch_typed<T, D_PAD, R, true>(p, grid);
  else launch_typed<T, D_PAD, R, false>(p, grid);
}

template <typename T, int D_PAD>
void launch_rows(const AttnParams& p, dim3 grid) {
  const int R = decode_rows_per_block(p.group);
  if (R == 1) return launch_vec<T, D_PAD, 1>(p, grid);
  if (R == 4) return launch_vec<T, D_PAD, 4>(p, grid);
  launch_vec<T, D_PAD, 8>(p, grid);
}

template <typename T>
void launch_dim(const AttnParams& p, dim3 grid) {
  if (p.D <= 32) return launch_rows<T, 32>(p, grid);
  if (p.D <= 64) return launch_rows<T, 64>(p, grid);
  if (p.D <= 128) return launch_rows<T, 128>(p, grid);
  launch_rows<T, 256>(p, grid);
}

}  // namespace

int decode_rows_per_block(int group) { return group <= 1 ? 1 : (group <= 4 ? 4 : 8); }

void launch_decode(DType dt, const AttnParams& p, dim3 grid) {
  switch (dt) {
    case DType::F32: return launch_dim<float>(p, grid);
    case DType::F16: return launch_dim<__half>(p, grid);
    case DType::BF16: return launch_dim<__nv_bfloat16>(p, grid);
    case DType::I32:
    case DType::I64:
    case DType::U8:
    case DType::F8E4M3: break;
  }
  fail("cuda paged_attention (decode): floating dtype expected, got ", dtype_name(dt));
}

}  // namespace shardlm::cuda::attn
