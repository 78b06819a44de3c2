// Paged-attention kernels behind cpu::paged_attention, by variant. Internal to ops/cpu; tests call the
// variants directly.
#pragma once
#include <cstdint>

#include "ops/backend.h"
#include "ops/cpu/isa.h"

namespace shardlm::cpu {

struct AttentionArgs {
  const float* q = nullptr;  // [T, Hq, D]
  int64_t Hq = 0, D = 0;
  const float* k_cache = nullptr;  // [num_blocks, block_size, Hk, D]
  const float* v_cache = nullptr;
  int64_t block_size = 0, Hk = 0;
  const int32_t* block_tables = nullptr;  // [num_seqs, max_blocks]
  int64_t max_blocks = 0;
  float scale = 1.f;
  float* out = nullptr;  // [T, Hq, D]
};

// Consecutive query rows of one (sequence, head) that the AVX2 kernel attends together.
constexpr int64_t kAttentionGroupRows = 4;

// Query rows [t_begin, t_end) of sequence `seq` for head `head`; row t sits at position
// pos_begin + (t - t_begin) and attends to positions [0, its position]. `scores` holds at least
// kAttentionGroupRows * (last position + 1, rounded up to a multiple of 8) floats.
void attend_rows_portable(const AttentionArgs& a, int32_t seq, int64_t head, int64_t t_begin, int64_t t_end,
                          int32_t pos_begin, float* scores);
void attend_rows_avx2(const AttentionArgs& a, int32_t seq, int64_t head, int64_t t_begin, int64_t t_end,
                      int32_t pos_begin, float* scores);

// cpu::paged_attention with an explicit variant.
void paged_attention_with(Isa isa, const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                          const AttentionMetadata& meta, float scale, Tensor& out);

}  // namespace shardlm::cpu
