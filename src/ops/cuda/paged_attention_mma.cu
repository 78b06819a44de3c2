// Tensor-core paged attention for prefill and mixed batches (fp16/bf16, head_dim 32/64/128/256), with the
// same row flattening, causal bounds, context splits and epilogue as the CUDA-core kernel
// (paged_attention.cu). FlashAttention-2's scheme on mma.sync: a block of 4 warps takes 64 query rows (16 per
// warp) and walks the context in tiles of 64 keys gathered through the block table, the next tile's K and V
// copied (cp.async, zero-filled past the context) while the current one is used. Per warp and tile:
//   S (16 x 64) = Q K^T   m16n8k16 MMAs, f32 accumulators in registers (Q and K fragments by ldmatrix)
//   online softmax in registers: the 4 lanes that hold a row reduce its max and sum by shuffles
//   O (16 x D) = O * correction + P V, P taken from S's registers as the A operand (rounded to the dtype),
//   V fragments by ldmatrix.trans
// Nothing but the K/V tiles and Q goes through shared memory.
#include "ops/cuda/cuda_context.h"
#include "ops/cuda/mma_tiles.cuh"
#include "ops/cuda/paged_attention.cuh"

namespace shardlm::cuda::attn {

namespace {

template <int D>
struct MmaConfig {
  static constexpr int kThreads = 128, BM = kMmaRows, BN = kMmaKeys;
  static constexpr int LD = D + 8;  // row stride in elements: 16 B of padding keeps ldmatrix conflict-free
  static constexpr size_t tile_bytes = 2 * (size_t)BN * LD;  // one K or V tile of 16-bit elements
  static constexpr size_t q_bytes = 2 * (size_t)BM * LD;
  static constexpr size_t smem_bytes = q_bytes + 4 * tile_bytes;  // Q, then K and V in two stages
};

template <typename T, int D>
__global__ void __launch_bounds__(128) paged_attention_mma_kernel(AttnParams p) {
  using C = MmaConfig<D>;
  constexpr int BM = C::BM, BN = C::BN, LD = C::LD, V = 8, CPR = D / V;  // 16-byte chunks per row
  constexpr int NT = BN / 8;   // key tiles of 8 in S
  constexpr int DT = D / 8;    // dim tiles of 8 in O
  constexpr float kLog2e = 1.4426950408889634f;
  extern __shared__ __align__(128) unsigned char smem[];
  T* q_s = reinterpret_cast<T*>(smem);
  T* kv_s = reinterpret_cast<T*>(smem + C::q_bytes);  // [stage][K|V][BN][LD]
  auto k_tile = [&](int stage) { return kv_s + (size_t)stage * 2 * BN * LD; };
  auto v_tile = [&](int stage) { return kv_s + ((size_t)stage * 2 + 1) * BN * LD; };

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int g = lane / 4, t4 = lane % 4;  // mma fragment coordinates: row group, pair of columns
  const int seq = blockIdx.x / p.Hk, kvh = blockIdx.x % p.Hk;
  const int q_begin = p.query_start_loc[seq];
  const int q_len = p.query_start_loc[seq + 1] - q_begin;
  if (p.skip_decodes && q_len == 1) return;
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

  const T* kc = static_cast<const T*>(p.k_cache);
  const T* vc = static_cast<const T*>(p.v_cache);
  PagedTileCopier<T, D, BN, C::kThreads> copier{p.block_tables + (int64_t)seq * p.max_blocks_per_seq,
                                                 p.block_size, p.Hk, kvh, kv_end};
  copier.lookup(kv_begin);
  auto load_tile = [&](int kt, int stage) { copier.template copy<LD>(kc, vc, k_tile(stage), v_tile(stage), kt + BN); };

  // Q rows of the block (zeros past rows_here) with the first K/V tile, as one group.
  const T* q = static_cast<const T*>(p.q);
  for (int c = threadIdx.x; c < BM * CPR; c += C::kThreads) {
    const int r = c / CPR, part = c % CPR;
    const bool valid = r < rows_here;
    cp_async16(q_s + r * LD + part * V, q + (valid ? row_global(r) * D + part * V : 0), valid ? 16 : 0);
  }
  load_tile(kv_begin, 0);
  cp_async_commit();

  // This lane's two rows (g and g + 8 of the warp's 16) and their causal limits.
  int limit[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int rl = warp * 16 + g + 8 * h;
    limit[h] = rl < rows_here ? ctx - q_len + (row0 + rl) / p.group + 1 : 0;
  }
  const float scale2 = p.scale * kLog2e;  // scores in log2 units: exp2 instead of exp
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.f, 0.f};
  float o[DT][4];
#pragma unroll
  for (int j = 0; j < DT; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;

  const T* qw = q_s + warp * 16 * LD;
  constexpr bool kQInRegs = D <= 128;
  constexpr int QF = kQInRegs ? D / 16 : 1;
  uint32_t qa[QF][4];
  const bool warp_idle = warp * 16 >= rows_here;
  int stage = 0;
  for (int kt = kv_begin; kt < kv_end; kt += BN, stage ^= 1) {
    if (kt + BN < kv_end) {
      load_tile(kt + BN, stage ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const T* ks = k_tile(stage);
    const T* vs = v_tile(stage);
    if (warp_idle) {  // no rows of this block in this warp (decode: the group fits in warp 0): copy only
      __syncthreads();
      continue;
    }

    // Q's A fragments stay in registers from the first tile on (head_dim <= 128; 256 would spill).
    if (kQInRegs && kt == kv_begin) {
#pragma unroll
      for (int kk = 0; kk < QF; ++kk) ldmatrix_x4(qa[kk], qw + (lane % 16) * LD + kk * 16 + (lane / 16) * 8);
    }
    // S = Q K^T over D in steps of 16; each ldmatrix.x4 of K gives two key tiles' B fragments.
    float s[NT][4];
#pragma unroll
    for (int j = 0; j < NT; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t a[4];
      if constexpr (kQInRegs) {
        a[0] = qa[kk][0], a[1] = qa[kk][1], a[2] = qa[kk][2], a[3] = qa[kk][3];
      } else {
        ldmatrix_x4(a, qw + (lane % 16) * LD + kk * 16 + (lane / 16) * 8);
      }
#pragma unroll
      for (int j = 0; j < NT; j += 2) {
        uint32_t b[4];
        const int mi = lane / 8;
        ldmatrix_x4(b, ks + (j * 8 + (mi / 2) * 8 + lane % 8) * LD + kk * 16 + (mi % 2) * 8);
        mma16816<T>(s[j], a, b[0], b[1]);
        mma16816<T>(s[j + 1], a, b[2], b[3]);
      }
    }

    // Online softmax; element (h, e) of key tile j is row g + 8h, key kt + 8j + 2*t4 + e.
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int h = i / 2, key = kt + 8 * j + 2 * t4 + i % 2;
        const float v = key < limit[h] && key < kv_end ? s[j][i] * scale2 : -INFINITY;
        s[j][i] = v;
        mx[h] = fmaxf(mx[h], v);
      }
    float corr[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 1));
      mx[h] = fmaxf(mx[h], __shfl_xor_sync(0xffffffffu, mx[h], 2));
      const float m_new = fmaxf(m_run[h], mx[h]);
      corr[h] = m_new == -INFINITY ? 1.f : exp2f(m_run[h] - m_new);
      m_run[h] = m_new;
    }
    float sum[2] = {0.f, 0.f};
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int h = i / 2;
        const float e = s[j][i] == -INFINITY ? 0.f : exp2f(s[j][i] - m_run[h]);
        s[j][i] = e;
        sum[h] += e;
      }
#pragma unroll
    for (int h = 0; h < 2; ++h) l_run[h] = l_run[h] * corr[h] + sum[h];  // lane-partial; reduced at the end
#pragma unroll
    for (int j = 0; j < DT; ++j) {
      o[j][0] *= corr[0];
      o[j][1] *= corr[0];
      o[j][2] *= corr[1];
      o[j][3] *= corr[1];
    }

    // O += P V over the tile's keys in steps of 16; P's A fragment is S's two key tiles 2kk and 2kk+1.
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      uint32_t a[4];
      a[0] = pack2<T>(s[2 * kk][0], s[2 * kk][1]);
      a[1] = pack2<T>(s[2 * kk][2], s[2 * kk][3]);
      a[2] = pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      a[3] = pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
      for (int j = 0; j < DT; j += 2) {
        uint32_t b[4];
        const int mi = lane / 8;
        ldmatrix_x4_trans(b, vs + (kk * 16 + (mi % 2) * 8 + lane % 8) * LD + (j + mi / 2) * 8);
        mma16816<T>(o[j], a, b[0], b[1]);
        mma16816<T>(o[j + 1], a, b[2], b[3]);
      }
    }
    __syncthreads();  // this stage is refilled by the next iteration's copy
  }

  // Row sums across the 4 lanes of a row; m back to natural units for the split merge.
  constexpr float kLn2 = 0.6931471805599453f;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l_run[h] += __shfl_xor_sync(0xffffffffu, l_run[h], 1);
    l_run[h] += __shfl_xor_sync(0xffffffffu, l_run[h], 2);
    const int rl = warp * 16 + g + 8 * h;
    if (rl >= rows_here) continue;
    const int64_t row = row_global(rl);
    const float m_nat = m_run[h] * kLn2;
#pragma unroll
    for (int j = 0; j < DT; ++j) {
      const int d = 8 * j + 2 * t4;
      emit<T>(p, row, d, o[j][2 * h], m_nat, l_run[h], d == 0);
      emit<T>(p, row, d + 1, o[j][2 * h + 1], m_nat, l_run[h], false);
    }
  }
}

template <typename T, int D>
void launch_typed(const AttnParams& p, dim3 grid) {
  using C = MmaConfig<D>;
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
    case 256: return MmaConfig<256>::smem_bytes <= max_shared_memory_per_block_optin();  // ~169 KB
  }
  return false;
}

void launch_mma_prefill(DType dt, const AttnParams& p, dim3 grid) {
  if (dt == DType::F16) return launch_dim<__half>(p, grid);
  if (dt == DType::BF16) return launch_dim<__nv_bfloat16>(p, grid);
  fail("cuda paged_attention (tensor cores): fp16 or bf16 expected, got ", dtype_name(dt));
}

}  // namespace shardlm::cuda::attn
