// Tensor-core paged attention for prefill and mixed batches (fp16/bf16, head_dim 32/64/128/256), with the
// same row flattening, causal bounds, context splits and epilogue as the CUDA-core kernel
// (paged_attention.cu). A block takes 64 query rows (16 per warp) and walks the context in tiles of 64
// keys gathered through the block table:
//   S = Q K^T   (WMMA 16x16x16, f32 accumulators)  -> shared memory
//   online softmax over S in f32 (two lanes per row), P = exp(S - max) rounded to the dtype
//   O = O * correction + P V  (O kept in shared memory as f32, rescaled per row between tiles)
// Invalid keys are zero-filled so no NaN can reach the products; they are masked out of S.
#include <mma.h>

#include "ops/cuda/cuda_context.h"
#include "ops/cuda/paged_attention.cuh"

namespace shardlm::cuda::attn {

namespace {

using namespace nvcuda;

constexpr size_t align_up(size_t n) { return (n + 127) / 128 * 128; }

template <typename T, int D>
struct MmaConfig {
  static constexpr int kThreads = 128, BM = kMmaRows, BN = kMmaKeys;
  static constexpr int LD = D + 8;    // Q/K/V rows (elements of T): 16 B of padding against bank conflicts
  static constexpr int SLD = BN + 4;  // S rows (f32)
  static constexpr int PLD = BN + 8;  // P rows (T)
  static constexpr int OLD = D + 4;   // O rows (f32)
  static constexpr size_t q_off = 0;
  static constexpr size_t k_off = q_off + align_up(sizeof(T) * BM * LD);
  static constexpr size_t v_off = k_off + align_up(sizeof(T) * BN * LD);
  static constexpr size_t s_off = v_off + align_up(sizeof(T) * BN * LD);
  static constexpr size_t p_off = s_off + align_up(sizeof(float) * BM * SLD);
  static constexpr size_t o_off = p_off + align_up(sizeof(T) * BM * PLD);
  static constexpr size_t stat_off = o_off + align_up(sizeof(float) * BM * OLD);  // corr, m, l: [3][BM]
  static constexpr size_t slot_off = stat_off + align_up(sizeof(float) * 3 * BM);
  static constexpr size_t smem_bytes = slot_off + align_up(sizeof(int) * BN);
};

template <typename T, int D>
__global__ void __launch_bounds__(128) paged_attention_mma_kernel(AttnParams p) {
  using C = MmaConfig<T, D>;
  constexpr int BM = C::BM, BN = C::BN, V = kVec<T>, CPR = D / V;  // 16-byte chunks per row
  extern __shared__ __align__(128) unsigned char smem[];
  T* q_s = reinterpret_cast<T*>(smem + C::q_off);
  T* k_s = reinterpret_cast<T*>(smem + C::k_off);
  T* v_s = reinterpret_cast<T*>(smem + C::v_off);
  float* s_s = reinterpret_cast<float*>(smem + C::s_off);
  T* p_s = reinterpret_cast<T*>(smem + C::p_off);
  float* o_s = reinterpret_cast<float*>(smem + C::o_off);
  float* corr_s = reinterpret_cast<float*>(smem + C::stat_off);
  float* m_s = corr_s + BM;
  float* l_s = m_s + BM;
  int* slot_s = reinterpret_cast<int*>(smem + C::slot_off);

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int seq = blockIdx.x / p.Hk, kvh = blockIdx.x % p.Hk;
  const int q_begin = p.query_start_loc[seq];
  const int q_len = p.query_start_loc[seq + 1] - q_begin;
  const int ctx = p.seq_lens[seq];
  const int rows_total = q_len * p.group;
  const int row0 = blockIdx.y * BM;
  if (row0 >= rows_total) return;
  const int rows_here = min(BM, rows_total - row0);
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
  for (int c = threadIdx.x; c < BM * CPR; c += blockDim.x) {
    const int r = c / CPR, part = c % CPR;
    uint4 val = make_uint4(0, 0, 0, 0);
    if (r < rows_here) val = *reinterpret_cast<const uint4*>(q + row_global(r) * D + part * V);
    *reinterpret_cast<uint4*>(q_s + r * C::LD + part * V) = val;
  }
  for (int i = threadIdx.x; i < BM * C::OLD; i += blockDim.x) o_s[i] = 0.f;

  // Softmax state: lane pair (2r, 2r+1) of warp w owns row w*16 + r, each half of the 64 columns.
  const int rr = lane / 2, c0 = (lane % 2) * (BN / 2);
  const int r_local = warp * 16 + rr;
  const int limit = r_local < rows_here ? ctx - q_len + (row0 + r_local) / p.group + 1 : 0;
  float m_run = -INFINITY, l_run = 0.f;

  const T* kc = static_cast<const T*>(p.k_cache);
  const T* vc = static_cast<const T*>(p.v_cache);
  const int32_t* table = p.block_tables + (int64_t)seq * p.max_blocks_per_seq;
  T* qw = q_s + warp * 16 * C::LD;
  float* sw = s_s + warp * 16 * C::SLD;
  T* pw = p_s + warp * 16 * C::PLD;
  float* ow = o_s + warp * 16 * C::OLD;

  for (int kt = kv_begin; kt < kv_end; kt += BN) {
    __syncthreads();  // the previous tile's K/V are consumed (and Q, O are initialised on the first pass)
    for (int n = threadIdx.x; n < BN; n += blockDim.x) {
      const int tok = kt + n;
      slot_s[n] = tok < kv_end ? table[tok / p.block_size] * p.block_size + tok % p.block_size : -1;
    }
    __syncthreads();
    for (int c = threadIdx.x; c < BN * CPR; c += blockDim.x) {
      const int n = c / CPR, part = c % CPR;
      const int slot = slot_s[n];
      uint4 kval = make_uint4(0, 0, 0, 0), vval = make_uint4(0, 0, 0, 0);
      if (slot >= 0) {
        const int64_t src = ((int64_t)slot * p.Hk + kvh) * D + part * V;
        kval = *reinterpret_cast<const uint4*>(kc + src);
        vval = *reinterpret_cast<const uint4*>(vc + src);
      }
      *reinterpret_cast<uint4*>(k_s + n * C::LD + part * V) = kval;
      *reinterpret_cast<uint4*>(v_s + n * C::LD + part * V) = vval;
    }
    __syncthreads();

    // S (16 x 64) = Q_w (16 x D) K^T (D x 64); K^T is K read column-major.
#pragma unroll
    for (int j = 0; j < BN / 16; ++j) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.f);
#pragma unroll
      for (int k = 0; k < D / 16; ++k) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b;
        wmma::load_matrix_sync(a, qw + k * 16, C::LD);
        wmma::load_matrix_sync(b, k_s + j * 16 * C::LD + k * 16, C::LD);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(sw + j * 16, acc, C::SLD, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax of this lane's half row.
    float* srow = sw + rr * C::SLD + c0;
    float mx = -INFINITY;
#pragma unroll 8
    for (int c = 0; c < BN / 2; ++c) {
      const int tok = kt + c0 + c;
      const float v = (tok < kv_end && tok < limit) ? srow[c] * p.scale : -INFINITY;
      srow[c] = v;
      mx = fmaxf(mx, v);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float m_new = fmaxf(m_run, mx);
    const float corr = m_new == -INFINITY ? 1.f : expf(m_run - m_new);
    T* prow = pw + rr * C::PLD + c0;
    float sum = 0.f;
#pragma unroll 8
    for (int c = 0; c < BN / 2; ++c) {
      const float v = srow[c];
      const T pv = from_f32<T>(v == -INFINITY ? 0.f : expf(v - m_new));
      prow[c] = pv;
      sum += to_f32(pv);  // the rounded value, as P V will use it
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    l_run = l_run * corr + sum;
    m_run = m_new;
    if (lane % 2 == 0) corr_s[r_local] = corr;
    __syncwarp();
    for (int i = lane; i < 16 * D; i += 32) {
      const int r = i / D, d = i % D;
      ow[r * C::OLD + d] *= corr_s[warp * 16 + r];
    }
    __syncwarp();

    // O_w (16 x D) += P_w (16 x 64) V (64 x D).
#pragma unroll
    for (int j = 0; j < D / 16; ++j) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, ow + j * 16, C::OLD, wmma::mem_row_major);
#pragma unroll
      for (int k = 0; k < BN / 16; ++k) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> b;
        wmma::load_matrix_sync(a, pw + k * 16, C::PLD);
        wmma::load_matrix_sync(b, v_s + k * 16 * C::LD + j * 16, C::LD);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(ow + j * 16, acc, C::OLD, wmma::mem_row_major);
    }
  }

  if (lane % 2 == 0) {
    m_s[r_local] = m_run;
    l_s[r_local] = l_run;
  }
  __syncwarp();
  for (int i = lane; i < 16 * D; i += 32) {
    const int r = i / D, d = i % D;
    const int rl = warp * 16 + r;
    if (rl < rows_here) emit<T>(p, row_global(rl), d, ow[r * C::OLD + d], m_s[rl], l_s[rl], d == 0);
  }
}

template <typename T, int D>
void launch_typed(const AttnParams& p, dim3 grid) {
  using C = MmaConfig<T, D>;
  auto kernel = paged_attention_mma_kernel<T, D>;
  static bool smem_set = false;  // per instantiation
  if (!smem_set) {
    SHARDLM_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)C::smem_bytes));
    smem_set = true;
  }
  kernel<<<grid, C::kThreads, C::smem_bytes, stream()>>>(p);
}

template <typename T>
void launch_dim(const AttnParams& p, dim3 grid) {
  switch (p.D) {
    case 32: return launch_typed<T, 32>(p, grid);
    case 64: return launch_typed<T, 64>(p, grid);
    case 128: return launch_typed<T, 128>(p, grid);
    case 256: return launch_typed<T, 256>(p, grid);
  }
  fail("cuda paged_attention (tensor cores): unsupported head_dim ", p.D);
}

}  // namespace

bool mma_prefill_supports(DType dt, int head_dim) {
  if (dt != DType::F16 && dt != DType::BF16) return false;
  switch (head_dim) {
    case 32:
    case 64:
    case 128: return true;
    case 256: return MmaConfig<__half, 256>::smem_bytes <= max_shared_memory_per_block_optin();  // ~195 KB
  }
  return false;
}

void launch_mma_prefill(DType dt, const AttnParams& p, dim3 grid) {
  if (dt == DType::F16) return launch_dim<__half>(p, grid);
  if (dt == DType::BF16) return launch_dim<__nv_bfloat16>(p, grid);
  fail("cuda paged_attention (tensor cores): fp16 or bf16 expected, got ", dtype_name(dt));
}

}  // namespace shardlm::cuda::attn
