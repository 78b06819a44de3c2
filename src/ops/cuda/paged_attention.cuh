// Shared by the paged-attention kernels (paged_attention.cu: the staged CUDA-core kernel, planning, split
// merge; paged_attention_mma.cu: tensor-core prefill; paged_attention_decode.cu: decode): the launch
// parameters and the row epilogue.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"
#include "ops/cuda/device_math.cuh"

namespace shardlm::cuda::attn {

struct AttnParams {
  const void* q;        // [T, Hq, D]
  const void* k_cache;  // [num_blocks, block_size, Hk, D]
  const void* v_cache;
  void* out;            // [T, Hq, D]
  const int32_t* query_start_loc;
  const int32_t* seq_lens;
  const int32_t* block_tables;  // [num_seqs, max_blocks_per_seq]
  float* part_o;                // [splits, T * Hq, D]   (only with splits > 1)
  float* part_ml;               // [splits, T * Hq, 2]   running max, running sum
  int64_t num_rows;             // T * Hq
  int Hq, Hk, group, D, block_size, max_blocks_per_seq;
  int split_len;  // keys per split, a multiple of BN
  float scale;
  // Mixed batches split between two kernels: the tensor-core prefill kernel skips sequences with one query
  // row (the decode kernel takes them); only with one context split (outputs written directly).
  bool skip_decodes = false;
};

// Writes one finished row: normalised into `out`, or as a partial for the split merge.
template <typename T>
__device__ __forceinline__ void emit(const AttnParams& p, int64_t row_global, int d, float o, float m, float l,
                                     bool write_ml) {
  if (gridDim.z == 1) {
    if (d < p.D) static_cast<T*>(p.out)[row_global * p.D + d] = from_f32<T>(l > 0.f ? o / l : 0.f);
  } else {
    const int64_t base = (int64_t)blockIdx.z * p.num_rows + row_global;
    if (d < p.D) p.part_o[base * p.D + d] = o;
    if (write_ml) {
      p.part_ml[base * 2] = m;
      p.part_ml[base * 2 + 1] = l;
    }
  }
}

// Tensor-core prefill (paged_attention_mma.cu): fp16/bf16, head_dim 32, 64, 128 or 256, 16-byte aligned
// tensors. Blocks of kMmaRows query rows and tiles of kMmaKeys keys.
constexpr int kMmaRows = 64, kMmaKeys = 64;
bool mma_prefill_supports(DType dt, int head_dim);
void launch_mma_prefill(DType dt, const AttnParams& p, dim3 grid);

// Decode batches on tensor cores (paged_attention_decode_mma.cu): fp16/bf16, head_dim 64/128/256, GQA groups
// of up to 16 query heads (one block per sequence, kv head and split: grid.y == 1); tiles of
// kDecodeMmaKeys keys.
constexpr int kDecodeMmaKeys = 64;
bool decode_mma_supports(DType dt, int head_dim, int group);
void launch_decode_mma(DType dt, const AttnParams& p, dim3 grid);

// Decode batches on CUDA cores (paged_attention_decode.cu): any floating dtype, head_dim up to 256. Blocks of
// decode_rows_per_block(group) query rows; each pass over the context covers kDecodeKeys keys.
constexpr int kDecodeKeys = 128;
int decode_rows_per_block(int group);
void launch_decode(DType dt, const AttnParams& p, dim3 grid);

}  // namespace shardlm::cuda::attn
