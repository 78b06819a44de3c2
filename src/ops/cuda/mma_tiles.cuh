// Tensor-core building blocks shared by the paged-attention kernels on mma.sync (paged_attention_mma.cu:
// prefill and mixed batches; paged_attention_decode_mma.cu: decode): async 16-byte copies, ldmatrix, the
// m16n8k16 MMA, packing of f32 pairs into 16-bit operands, and the copier of K/V tiles out of the paged cache.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "ops/cuda/paged_attention.cuh"

namespace shardlm::cuda::attn {

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return (uint32_t)__cvta_generic_to_shared(p);
}

// 16 bytes global -> shared; src_bytes 0 writes zeros (keys past the context).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

// c (16x8, f32) += a (16x16) b (16x8)
template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Two floats as one register of two 16-bit values, the first in the low half (mma's element order).
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  } else {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
}

// One tile of the online softmax (FlashAttention's running max and sum) on S's m16n8 fragments: NT key tiles
// of 8; this lane holds rows g and g + 8 (h = 0, 1) of the warp's 16, element i of a key tile in row i / 2.
// s: raw scores; visible(j, i) says whether element i of key tile j is attended to, and those are scaled by
// scale2 (log2 units), the others set to -inf. On return s holds exp2(s - m) (0 where masked). m_run, l_run:
// the rows' running max and sum (l lane-partial: the 4 lanes of a row are summed at the end). corr: what O
// must be scaled by before this tile's P V is added.
template <int NT, typename Visible>
__device__ __forceinline__ void online_softmax_tile(float (&s)[NT][4], float scale2, Visible&& visible,
                                                    float (&m_run)[2], float (&l_run)[2], float (&corr)[2]) {
  float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
  for (int j = 0; j < NT; ++j)
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      s[j][i] = visible(j, i) ? s[j][i] * scale2 : -INFINITY;
      mx[i / 2] = fmaxf(mx[i / 2], s[j][i]);
    }
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
      const float e = s[j][i] == -INFINITY ? 0.f : exp2f(s[j][i] - m_run[i / 2]);
      s[j][i] = e;
      sum[i / 2] += e;
    }
#pragma unroll
  for (int h = 0; h < 2; ++h) l_run[h] = l_run[h] * corr[h] + sum[h];
}

// P's A fragment for keys [16 kk, 16 kk + 16) of the tile: S's key tiles 2 kk and 2 kk + 1, rounded to T.
template <typename T, int NT>
__device__ __forceinline__ void p_fragment(const float (&s)[NT][4], int kk, uint32_t (&a)[4]) {
  a[0] = pack2<T>(s[2 * kk][0], s[2 * kk][1]);
  a[1] = pack2<T>(s[2 * kk][2], s[2 * kk][3]);
  a[2] = pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
  a[3] = pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
}

// Copies tiles of BN keys -- the K and V rows of one kv head, D 16-bit features each -- from the paged
// cache into shared memory ([BN][LD] each) with cp.async; keys at or past the end are zero-filled.
// Thread t moves 16-byte part t % CPR of keys t / CPR + i * KPI (i < ITERS), so a warp copies KW keys per
// step, BN / warps keys per tile. Each key's cache slot (block-table read and division) is looked up once
// per tile by one lane of the warp that copies it and passed to the copying lanes by shuffle; the lookup
// for the next tile is issued right after the current tile's copies, so its latency hides behind the
// compute instead of stalling every 16-byte copy.
template <typename T, int D, int BN, int THREADS>
struct PagedTileCopier {
  static constexpr int V = 8, CPR = D / V, KPI = THREADS / CPR, ITERS = BN / KPI, KW = 32 / CPR;
  static_assert(sizeof(T) == 2 && CPR <= 32 && THREADS % CPR == 0 && BN % KPI == 0, "tile copy layout");
  static_assert(KW * ITERS <= 32, "one lane per key of the warp's share of a tile");

  const int32_t* table;
  int block_size, Hk, kvh, end;
  int slot = -1;  // this lane's key of the next tile to copy; -1 past `end`

  // The key this lane looks up in the tile that starts at kt (lanes past KW * ITERS repeat lane 0's).
  __device__ __forceinline__ int my_key(int kt) const {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int j = lane < KW * ITERS ? lane : 0;
    return kt + warp * KW + j % KW + KPI * (j / KW);
  }
  __device__ __forceinline__ void lookup(int kt) {
    const int tok = my_key(kt);
    slot = tok < end ? table[tok / block_size] * block_size + tok % block_size : -1;
  }
  // Copies the tile last looked up into ks / vs (row stride LD elements), then looks up the one at next_kt.
  template <int LD>
  __device__ __forceinline__ void copy(const T* kc, const T* vc, T* ks, T* vs, int next_kt) {
    const int lane = threadIdx.x % 32, part = threadIdx.x % CPR;
#pragma unroll
    for (int i = 0; i < ITERS; ++i) {
      const int n = threadIdx.x / CPR + i * KPI;
      const int s = __shfl_sync(0xffffffffu, slot, i * KW + lane / CPR);
      const int64_t src = ((int64_t)max(s, 0) * Hk + kvh) * D + part * V;
      cp_async16(ks + n * LD + part * V, kc + src, s >= 0 ? 16 : 0);
      cp_async16(vs + n * LD + part * V, vc + src, s >= 0 ? 16 : 0);
    }
    lookup(next_kt);
  }
};

}  // namespace shardlm::cuda::attn
