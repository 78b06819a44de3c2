// Tensor-core paged attention for decode batches (one query row per sequence) in fp16/bf16: a block takes one
// (sequence, kv head, context split) and its GQA group of query rows (up to 16: one m16 MMA tile, rows past
// the group are zeros). The context streams through shared memory in tiles of 64 keys, STAGES tiles in
// flight (cp.async; slots looked up a tile ahead: PagedTileCopier), and each of the 4 warps takes its own 16
// keys of every tile, so all warps compute and all copy:
//   S (16 x 16) = Q K^T      Q's A fragments in registers for the whole context, K's by ldmatrix
//   online softmax per warp, over the keys it has seen
//   O (16 x D) += P V        P from S's registers, V by ldmatrix.trans
// At the end the 4 warps' states (max, sum, O) merge through shared memory into the rows' output, or into
// the split partials that paged_attention.cu's merge kernel combines. Against the prefill kernel running
// decode (one warp of four with rows, two tiles in flight, a block-table read per 16-byte copy) this keeps
// more bytes in flight per SM and wastes no warps.
#include "ops/cuda/cuda_context.h"
#include "ops/cuda/mma_tiles.cuh"
#include "ops/cuda/paged_attention.cuh"

namespace shardlm::cuda::attn {

namespace {

constexpr int kThreads = 128, kWarps = 4, BN = kDecodeMmaKeys, KPW = BN / kWarps;  // keys per warp and tile

template <int D>
struct DecodeMmaConfig {
  static constexpr int STAGES = D >= 256 ? 2 : 3;  // two blocks an SM at head_dim <= 128
  static constexpr int LD = D + 8;                 // 16 B of padding: conflict-free ldmatrix
  static constexpr size_t q_bytes = 2 * (size_t)16 * LD;
  static constexpr size_t stage_bytes = 2 * 2 * (size_t)BN * LD;  // K and V tiles of 16-bit elements
  static constexpr size_t merge_bytes = sizeof(float) * kWarps * 16 * (D + 2);
  static constexpr size_t kv_bytes = STAGES * stage_bytes > merge_bytes ? STAGES * stage_bytes : merge_bytes;
  static constexpr size_t smem_bytes = q_bytes + kv_bytes;
};

template <typename T, int D>
__global__ void __launch_bounds__(kThreads) paged_decode_mma_kernel(AttnParams p) {
  using C = DecodeMmaConfig<D>;
  constexpr int LD = C::LD, STAGES = C::STAGES, KF = D / 16, DT = D / 8;
  constexpr float kLog2e = 1.4426950408889634f;
  extern __shared__ __align__(128) unsigned char smem[];
  T* q_s = reinterpret_cast<T*>(smem);
  T* kv_s = reinterpret_cast<T*>(smem + C::q_bytes);  // [stage][K|V][BN][LD]
  auto k_tile = [&](int stage) { return kv_s + (size_t)stage * 2 * BN * LD; };
  auto v_tile = [&](int stage) { return kv_s + ((size_t)stage * 2 + 1) * BN * LD; };

  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int g = lane / 4, t4 = lane % 4;
  const int seq = blockIdx.x / p.Hk, kvh = blockIdx.x % p.Hk;
  const int q_row = p.query_start_loc[seq];  // the sequence's one query token
  if (p.query_start_loc[seq + 1] - q_row != 1) return;  // not a decode (a mixed batch's prefill, or padding)
  const int ctx = p.seq_lens[seq];
  const int rows = p.group;
  const int kv_begin = blockIdx.z * p.split_len;
  const int kv_end = min(ctx, kv_begin + p.split_len);
  const int64_t row_base = (int64_t)q_row * p.Hq + kvh * p.group;  // row r of the block is row_base + r

  if (kv_begin >= kv_end) {
    if (gridDim.z > 1)
      for (int r = threadIdx.x; r < rows; r += blockDim.x) {
        const int64_t base = (int64_t)blockIdx.z * p.num_rows + row_base + r;
        p.part_ml[base * 2] = -INFINITY;
        p.part_ml[base * 2 + 1] = 0.f;
      }
    return;
  }

  const T* kc = static_cast<const T*>(p.k_cache);
  const T* vc = static_cast<const T*>(p.v_cache);
  PagedTileCopier<T, D, BN, kThreads> copier{p.block_tables + (int64_t)seq * p.max_blocks_per_seq, p.block_size,
                                             p.Hk, kvh, kv_end};
  copier.lookup(kv_begin);

  // Q rows (zeros past the group) with plain loads; the first STAGES - 1 tiles in flight meanwhile.
  const int num_tiles = (kv_end - kv_begin + BN - 1) / BN;
#pragma unroll
  for (int t = 0; t < STAGES - 1; ++t) {
    if (t < num_tiles) copier.template copy<LD>(kc, vc, k_tile(t), v_tile(t), kv_begin + (t + 1) * BN);
    cp_async_commit();
  }
  const T* q = static_cast<const T*>(p.q);
  for (int c = threadIdx.x; c < 16 * (D / 8); c += kThreads) {
    const int r = c / (D / 8), part = c % (D / 8);
    uint4 v = make_uint4(0, 0, 0, 0);
    if (r < rows) v = *reinterpret_cast<const uint4*>(q + (row_base + r) * D + part * 8);
    *reinterpret_cast<uint4*>(q_s + r * LD + part * 8) = v;
  }
  __syncthreads();
  uint32_t qa[KF][4];
#pragma unroll
  for (int kk = 0; kk < KF; ++kk) ldmatrix_x4(qa[kk], q_s + (lane % 16) * LD + kk * 16 + (lane / 16) * 8);

  const float scale2 = p.scale * kLog2e;  // scores in log2 units
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.f, 0.f};
  float o[DT][4];
#pragma unroll
  for (int j = 0; j < DT; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;

  for (int t = 0; t < num_tiles; ++t) {
    cp_async_wait<STAGES - 2>();  // tile t has landed (groups so far: STAGES - 1 + t)
    __syncthreads();              // ... for every thread; and everyone is done with tile t - 1's stage
    const int next = t + STAGES - 1;
    if (next < num_tiles)
      copier.template copy<LD>(kc, vc, k_tile(next % STAGES), v_tile(next % STAGES), kv_begin + (next + 1) * BN);
    cp_async_commit();

    const int key0 = kv_begin + t * BN + warp * KPW;  // this warp's 16 keys
    const T* ks = k_tile(t % STAGES) + warp * KPW * LD;
    const T* vs = v_tile(t % STAGES) + warp * KPW * LD;
    const int mi = lane / 8;

    float s[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#pragma unroll
    for (int kk = 0; kk < KF; ++kk) {
      uint32_t b[4];
      ldmatrix_x4(b, ks + ((mi / 2) * 8 + lane % 8) * LD + kk * 16 + (mi % 2) * 8);
      mma16816<T>(s[0], qa[kk], b[0], b[1]);
      mma16816<T>(s[1], qa[kk], b[2], b[3]);
    }

    // Element (h, e) of key tile j is row g + 8h, key key0 + 8j + 2 t4 + e; keys past kv_end are masked.
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < 2; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float v = key0 + 8 * j + 2 * t4 + i % 2 < kv_end ? s[j][i] * scale2 : -INFINITY;
        s[j][i] = v;
        mx[i / 2] = fmaxf(mx[i / 2], v);
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
    for (int j = 0; j < 2; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float e = s[j][i] == -INFINITY ? 0.f : exp2f(s[j][i] - m_run[i / 2]);
        s[j][i] = e;
        sum[i / 2] += e;
      }
#pragma unroll
    for (int h = 0; h < 2; ++h) l_run[h] = l_run[h] * corr[h] + sum[h];  // lane-partial; reduced at the end

    uint32_t a[4];
    a[0] = pack2<T>(s[0][0], s[0][1]);
    a[1] = pack2<T>(s[0][2], s[0][3]);
    a[2] = pack2<T>(s[1][0], s[1][1]);
    a[3] = pack2<T>(s[1][2], s[1][3]);
#pragma unroll
    for (int j = 0; j < DT; j += 2) {
      o[j][0] *= corr[0], o[j][1] *= corr[0], o[j][2] *= corr[1], o[j][3] *= corr[1];
      o[j + 1][0] *= corr[0], o[j + 1][1] *= corr[0], o[j + 1][2] *= corr[1], o[j + 1][3] *= corr[1];
      uint32_t b[4];
      ldmatrix_x4_trans(b, vs + ((mi % 2) * 8 + lane % 8) * LD + (j + mi / 2) * 8);
      mma16816<T>(o[j], a, b[0], b[1]);
      mma16816<T>(o[j + 1], a, b[2], b[3]);
    }
  }

  // Merge the warps: each writes its rows' (max, sum, O) to shared memory (the tile stages are free now).
  cp_async_wait<0>();
  __syncthreads();
  float* ml_s = reinterpret_cast<float*>(kv_s);  // [warp][16][2]
  float* o_s = ml_s + kWarps * 16 * 2;           // [warp][16][D]
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l_run[h] += __shfl_xor_sync(0xffffffffu, l_run[h], 1);
    l_run[h] += __shfl_xor_sync(0xffffffffu, l_run[h], 2);
    const int r = g + 8 * h;
    if (t4 == 0) {
      ml_s[(warp * 16 + r) * 2] = m_run[h];
      ml_s[(warp * 16 + r) * 2 + 1] = l_run[h];
    }
#pragma unroll
    for (int j = 0; j < DT; ++j) {
      o_s[(warp * 16 + r) * D + 8 * j + 2 * t4] = o[j][2 * h];
      o_s[(warp * 16 + r) * D + 8 * j + 2 * t4 + 1] = o[j][2 * h + 1];
    }
  }
  __syncthreads();
  constexpr float kLn2 = 0.6931471805599453f;
  for (int idx = threadIdx.x; idx < rows * D; idx += kThreads) {
    const int r = idx / D, d = idx % D;
    float M = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) M = fmaxf(M, ml_s[(w * 16 + r) * 2]);
    float L = 0.f, O = 0.f;
    if (M != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float mw = ml_s[(w * 16 + r) * 2];
        if (mw == -INFINITY) continue;
        const float f = exp2f(mw - M);
        L += ml_s[(w * 16 + r) * 2 + 1] * f;
        O += o_s[(w * 16 + r) * D + d] * f;
      }
    }
    emit<T>(p, row_base + r, d, O, M * kLn2, L, d == 0);
  }
}

template <typename T, int D>
void launch_typed(const AttnParams& p, dim3 grid) {
  using C = DecodeMmaConfig<D>;
  auto kernel = paged_decode_mma_kernel<T, D>;
  static bool smem_set = false;  // per instantiation
  if (!smem_set) {
    SHARDLM_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)C::smem_bytes));
    smem_set = true;
  }
  kernel<<<grid, kThreads, C::smem_bytes, stream()>>>(p);
}

template <typename T>
void launch_dim(const AttnParams& p, dim3 grid) {
  switch (p.D) {
    case 64: return launch_typed<T, 64>(p, grid);
    case 128: return launch_typed<T, 128>(p, grid);
    case 256: return launch_typed<T, 256>(p, grid);
  }
  fail("cuda paged_attention (tensor-core decode): unsupported head_dim ", p.D);
}

}  // namespace

bool decode_mma_supports(DType dt, int head_dim, int group) {
  if ((dt != DType::F16 && dt != DType::BF16) || group < 1 || group > 16) return false;
  switch (head_dim) {
    case 64:
    case 128: return true;
    case 256: return DecodeMmaConfig<256>::smem_bytes <= max_shared_memory_per_block_optin();
  }
  return false;
}

void launch_decode_mma(DType dt, const AttnParams& p, dim3 grid) {
  if (dt == DType::F16) return launch_dim<__half>(p, grid);
  if (dt == DType::BF16) return launch_dim<__nv_bfloat16>(p, grid);
  fail("cuda paged_attention (tensor-core decode): fp16 or bf16 expected, got ", dtype_name(dt));
}

}  // namespace shardlm::cuda::attn
