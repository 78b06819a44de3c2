// CUDA paged attention against the CPU op: random block tables (shuffled, non-contiguous blocks), GQA
// groups 1..16, head sizes 8..256, block sizes 1..32, prefill, chunked prefill (cached prefix + new
// rows), decode with long contexts (the split-context path) and mixed prefill + decode batches.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <cstdlib>

#include "cuda/cuda_test_util.h"
#include "ops/ops.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

struct AttnCase {
  const char* name;
  std::vector<int32_t> q_lens, ctx_lens;  // per sequence: new query rows, context after this step
  int64_t Hq, Hk, D, block_size;
};

struct Batch {
  Tensor q, k_cache, v_cache;  // f32 on the CPU, values exact in the tested dtype
  std::vector<int32_t> qsl, seq_lens, tables;
  int64_t max_blocks = 0;
  int32_t max_q = 0, max_ctx = 0;
};

Batch make_batch(const AttnCase& c, DType dt, uint32_t seed) {
  Batch b;
  const size_t S = c.q_lens.size();
  std::vector<int64_t> need(S);
  int64_t total_blocks = 3;  // spare blocks nobody uses
  for (size_t s = 0; s < S; ++s) {
    need[s] = (c.ctx_lens[s] + c.block_size - 1) / c.block_size;
    total_blocks += need[s];
    b.max_blocks = std::max(b.max_blocks, need[s]);
    b.max_q = std::max(b.max_q, c.q_lens[s]);
    b.max_ctx = std::max(b.max_ctx, c.ctx_lens[s]);
  }
  std::vector<int32_t> ids((size_t)total_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), std::mt19937(seed));
  b.tables.assign(S * (size_t)b.max_blocks, 0);
  size_t next = 0;
  for (size_t s = 0; s < S; ++s)
    for (int64_t j = 0; j < need[s]; ++j) b.tables[s * (size_t)b.max_blocks + (size_t)j] = ids[next++];
  int32_t T = 0;
  for (size_t s = 0; s < S; ++s) {
    b.qsl.push_back(T);
    T += c.q_lens[s];
  }
  b.qsl.push_back(T);
  b.seq_lens = c.ctx_lens;
  b.q = random_f32({T, c.Hq, c.D}, dt, seed + 1);
  b.k_cache = random_f32({total_blocks, c.block_size, c.Hk, c.D}, dt, seed + 2);
  b.v_cache = random_f32({total_blocks, c.block_size, c.Hk, c.D}, dt, seed + 3);
  return b;
}

AttentionMetadata metadata(const Batch& b, Device dev) {
  AttentionMetadata m;
  m.query_start_loc = int_tensor(b.qsl, dev);
  m.seq_lens = int_tensor(b.seq_lens, dev);
  m.block_tables = int_tensor(b.tables, dev).reshape({(int64_t)b.seq_lens.size(), b.max_blocks});
  m.num_seqs = (int32_t)b.seq_lens.size();
  m.max_query_len = b.max_q;
  m.max_seq_len = b.max_ctx;
  for (size_t i = 0; i + 1 < b.qsl.size(); ++i) m.num_decode_seqs += b.qsl[i + 1] - b.qsl[i] == 1;
  return m;
}

std::vector<AttnCase> cases() {
  std::vector<AttnCase> v = {
      {"prefill_gqa4", {1, 17, 40}, {1, 17, 40}, 8, 2, 64, 16},
      {"chunked_prefill", {5, 16}, {37, 86}, 4, 4, 128, 16},
      {"chunked_prefill_long_context", {8}, {1500}, 8, 2, 128, 16},  // few blocks: the context is split
      {"decode_mha_long_contexts", {1, 1, 1}, {1, 300, 2000}, 4, 4, 128, 16},
      {"decode_gqa8", {1, 1, 1, 1, 1, 1}, {5, 64, 129, 700, 33, 1}, 16, 2, 64, 32},
      {"decode_group16", {1, 1}, {50, 600}, 16, 1, 128, 16},
      {"decode_gqa2", {1, 1, 1}, {17, 260, 1030}, 4, 2, 128, 16},
      {"mixed_prefill_decode", {1, 12, 1, 30}, {100, 12, 513, 45}, 6, 2, 128, 16},
      {"head_dim_8", {3, 1}, {20, 9}, 2, 1, 8, 4},
      {"head_dim_16_block_size_1", {4, 1}, {10, 7}, 4, 2, 16, 1},
      {"head_dim_20_unaligned_rows", {7, 1}, {7, 40}, 3, 1, 20, 8},
      {"head_dim_80", {9, 1}, {30, 300}, 4, 2, 80, 16},
      {"head_dim_256", {20, 1}, {20, 500}, 4, 1, 256, 16},
      {"head_dim_256_decode", {1, 1}, {20, 700}, 8, 2, 256, 16},
      {"long_prefill", {300}, {300}, 2, 1, 64, 16},
      // llama-3-8b's shape (GQA 4, head_dim 128): many 64-key tiles, a chunk after a cached prefix, a decode row.
      {"long_prefill_gqa4_d128", {700, 129, 1}, {700, 200, 90}, 8, 2, 128, 16},
      {"prefill_block_size_32", {33, 64}, {70, 64}, 4, 1, 64, 32},
      // Contexts around the tensor-core decode kernel's 64-key tiles, blocks of 8 slots.
      {"decode_gqa4_block_size_8", {1, 1, 1, 1}, {63, 64, 65, 1000}, 8, 2, 128, 8},
  };
  // Many short decodes: enough blocks that the context is not split.
  AttnCase many{"decode_many_sequences", {}, {}, 8, 8, 64, 16};
  std::mt19937 rng(7);
  for (int s = 0; s < 40; ++s) {
    many.q_lens.push_back(1);
    many.ctx_lens.push_back(1 + (int32_t)(rng() % 200));
  }
  v.push_back(many);
  // Enough sequences x kv heads (>= 2 blocks per SM) for the unstaged decode kernel, with GQA.
  AttnCase wide{"decode_wide_batch_gqa4", {}, {}, 16, 4, 128, 16};
  AttnCase wide_odd{"decode_wide_batch_head_dim_80", {}, {}, 8, 8, 80, 8};
  for (int s = 0; s < 96; ++s) {
    wide.q_lens.push_back(1);
    wide.ctx_lens.push_back(1 + (int32_t)(rng() % 300));
    wide_odd.q_lens.push_back(1);
    wide_odd.ctx_lens.push_back(1 + (int32_t)(rng() % 100));
  }
  v.push_back(wide);
  v.push_back(wide_odd);
  // A mixed batch big enough that its decodes go to the decode kernel and its prompts to the prefill kernel.
  AttnCase mixed{"mixed_many_decodes", {40, 70}, {100, 70}, 8, 2, 128, 16};
  for (int s = 0; s < 200; ++s) {
    mixed.q_lens.push_back(1);
    mixed.ctx_lens.push_back(1 + (int32_t)(rng() % 300));
  }
  v.push_back(mixed);
  return v;
}

class CudaPagedAttention : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override { SHARDLM_REQUIRE_GPU(); }
};

// By default fp16/bf16 prefill with head_dim 32/64/128/256 runs on the tensor-core prefill kernel and fp16/bf16
// decode with head_dim 64/128/256 and GQA groups up to 16 on the tensor-core decode kernel; other decode
// batches that fill the GPU on the CUDA-core decode kernel, the rest on the staged kernel.
// SHARDLM_CUDA_ATTENTION=decode-v1 routes decode as before the tensor-core decode kernel (large GQA batches
// on the prefill kernel), =simt-decode sends every large decode batch to the CUDA-core decode kernel,
// =staged runs everything on the staged kernel. All four settings are checked.
class AttentionVariant {
 public:
  explicit AttentionVariant(const char* value) {
    if (value) setenv("SHARDLM_CUDA_ATTENTION", value, 1);
    else unsetenv("SHARDLM_CUDA_ATTENTION");
  }
  ~AttentionVariant() { unsetenv("SHARDLM_CUDA_ATTENTION"); }
};

TEST_P(CudaPagedAttention, MatchesCpuReference) {
  const DType dt = GetParam();
  for (const char* variant : {static_cast<const char*>(nullptr), "staged", "simt-decode", "decode-v1"}) {
    AttentionVariant scoped(variant);
    uint32_t seed = 1000;
    for (const AttnCase& c : cases()) {
      SCOPED_TRACE(std::string(c.name) + " (" + (variant ? variant : "default") + " kernels)");
      Batch b = make_batch(c, dt, seed += 10);
      const float scale = 1.f / std::sqrt((float)c.D);
      Tensor want = Tensor::empty(b.q.shape(), DType::F32);
      ops::paged_attention(b.q, b.k_cache, b.v_cache, metadata(b, Device::CPU), scale, want);
      Tensor got = Tensor::empty(b.q.shape(), dt, Device::CUDA);
      ops::paged_attention(to_gpu(b.q, dt), to_gpu(b.k_cache, dt), to_gpu(b.v_cache, dt),
                           metadata(b, Device::CUDA), scale, got);
      EXPECT_LT(rel_error(to_cpu_f32(got), want), error_bar_accumulating(dt));
    }
  }
}

// The layer's sequence: cache_write of this step's K/V, then attention over cache + new rows.
TEST_P(CudaPagedAttention, CacheWriteThenAttendMatchesCpu) {
  const DType dt = GetParam();
  AttnCase c{"write_then_attend", {6, 1, 1}, {6, 45, 200}, 8, 4, 64, 16};
  Batch b = make_batch(c, dt, 77);
  const int64_t T = b.q.dim(0);
  Tensor k_new = random_f32({T, c.Hk, c.D}, dt, 78), v_new = random_f32({T, c.Hk, c.D}, dt, 79);
  std::vector<int32_t> slots;
  for (size_t s = 0; s < c.q_lens.size(); ++s)
    for (int32_t j = 0; j < c.q_lens[s]; ++j) {
      int32_t pos = c.ctx_lens[s] - c.q_lens[s] + j;
      slots.push_back(b.tables[s * (size_t)b.max_blocks + (size_t)(pos / c.block_size)] * (int32_t)c.block_size +
                      pos % (int32_t)c.block_size);
    }
  Tensor kc_g = to_gpu(b.k_cache, dt), vc_g = to_gpu(b.v_cache, dt);
  ops::cache_write(k_new, v_new, int_tensor(slots, Device::CPU), b.k_cache, b.v_cache);
  ops::cache_write(to_gpu(k_new, dt), to_gpu(v_new, dt), int_tensor(slots, Device::CUDA), kc_g, vc_g);
  Tensor want = Tensor::empty(b.q.shape(), DType::F32);
  ops::paged_attention(b.q, b.k_cache, b.v_cache, metadata(b, Device::CPU), 0.125f, want);
  Tensor got = Tensor::empty(b.q.shape(), dt, Device::CUDA);
  ops::paged_attention(to_gpu(b.q, dt), kc_g, vc_g, metadata(b, Device::CUDA), 0.125f, got);
  EXPECT_LT(rel_error(to_cpu_f32(got), want), error_bar_accumulating(dt));
}

INSTANTIATE_TEST_SUITE_P(AllFloatTypes, CudaPagedAttention, ::testing::Values(DType::F32, DType::F16, DType::BF16),
                         [](const ::testing::TestParamInfo<DType>& i) { return std::string(dtype_label(i.param)); });

TEST(CudaPagedAttentionErrors, HeadDimAbove256IsAnError) {
  SHARDLM_REQUIRE_GPU();
  AttnCase c{"d320", {1}, {4}, 1, 1, 320, 4};
  Batch b = make_batch(c, DType::F16, 5);
  Tensor out = Tensor::empty(b.q.shape(), DType::F16, Device::CUDA);
  EXPECT_THROW(ops::paged_attention(to_gpu(b.q, DType::F16), to_gpu(b.k_cache, DType::F16),
                                    to_gpu(b.v_cache, DType::F16), metadata(b, Device::CUDA), 1.f, out),
               Error);
}

}  // namespace
