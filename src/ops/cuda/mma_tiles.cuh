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
