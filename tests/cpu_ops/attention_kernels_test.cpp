// Paged-attention variants against a double-precision causal softmax attention, with shuffled block tables,
// grouped-query heads, head dims that are and are not multiples of 8, and steps mixing prefill chunks
// (several query rows, some continuing a cached prefix) with single-row decodes. Prefill rows are attended in
// groups of cpu::kAttentionGroupRows by the AVX2 kernel, so query lengths around multiples of it get cases
// of their own.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/tensor.h"
#include "kernel_test_util.h"
#include "ops/cpu/attention_kernels.h"
#include "ops/cpu/cpu_kernels.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

struct SeqSpec {
  int32_t query_len, context_len;  // context_len includes this step's query rows
};

struct Case {
  int64_t Hq, Hk, D, block_size;
  std::vector<SeqSpec> seqs;
};

Tensor i32_tensor(const std::vector<int32_t>& v, std::vector<int64_t> shape) {
  Tensor t = Tensor::empty(std::move(shape), DType::I32);
  std::copy(v.begin(), v.end(), t.data<int32_t>());
  return t;
}

void check_case(const Case& c, uint64_t seed) {
  const int32_t S = (int32_t)c.seqs.size();
  int32_t T = 0, max_ctx = 0;
  for (const auto& s : c.seqs) {
    T += s.query_len;
    max_ctx = std::max(max_ctx, s.context_len);
  }
  const int64_t max_blocks = (max_ctx + c.block_size - 1) / c.block_size;
  const int64_t num_blocks = S * max_blocks + 3;
  // Blocks handed out in a shuffled order so sequences do not occupy contiguous memory.
  std::vector<int32_t> pool((size_t)num_blocks);
  for (int64_t i = 0; i < num_blocks; ++i) pool[(size_t)i] = (int32_t)i;
  std::shuffle(pool.begin(), pool.end(), std::mt19937_64(seed));
  std::vector<int32_t> tables((size_t)(S * max_blocks), -1), qsl = {0}, seq_lens;
  for (int32_t s = 0; s < S; ++s) {
    for (int64_t b = 0; b < (c.seqs[(size_t)s].context_len + c.block_size - 1) / c.block_size; ++b)
      tables[(size_t)(s * max_blocks + b)] = pool[(size_t)(s * max_blocks + b)];
    qsl.push_back(qsl.back() + c.seqs[(size_t)s].query_len);
    seq_lens.push_back(c.seqs[(size_t)s].context_len);
  }
  const int64_t row = c.Hk * c.D;
  Tensor k_cache = Tensor::from_f32(random_floats((size_t)(num_blocks * c.block_size * row), seed + 1),
                                    {num_blocks, c.block_size, c.Hk, c.D});
  Tensor v_cache = Tensor::from_f32(random_floats((size_t)(num_blocks * c.block_size * row), seed + 2),
                                    {num_blocks, c.block_size, c.Hk, c.D});
  Tensor q = Tensor::from_f32(random_floats((size_t)(T * c.Hq * c.D), seed + 3), {T, c.Hq, c.D});
  AttentionMetadata meta;
  meta.query_start_loc = i32_tensor(qsl, {S + 1});
  meta.seq_lens = i32_tensor(seq_lens, {S});
  meta.block_tables = i32_tensor(tables, {S, max_blocks});
  meta.num_seqs = S;
  meta.max_seq_len = max_ctx;
  const float scale = 1.f / std::sqrt((float)c.D);

  // Reference: for each row, softmax over positions [0, pos] in double.
  std::vector<double> want((size_t)(T * c.Hq * c.D));
  const float* kc = k_cache.data<float>();
  const float* vc = v_cache.data<float>();
  for (int32_t s = 0; s < S; ++s) {
    for (int32_t r = 0; r < c.seqs[(size_t)s].query_len; ++r) {
      const int32_t t = qsl[(size_t)s] + r;
      const int32_t pos = c.seqs[(size_t)s].context_len - c.seqs[(size_t)s].query_len + r;
      for (int64_t h = 0; h < c.Hq; ++h) {
        const int64_t kh = h / (c.Hq / c.Hk);
        const float* qv = q.data<float>() + (t * c.Hq + h) * c.D;
        std::vector<double> p((size_t)pos + 1);
        auto slot_of = [&](int32_t j) {
          return (int64_t)tables[(size_t)(s * max_blocks + j / c.block_size)] * c.block_size + j % c.block_size;
        };
        double m = -INFINITY, l = 0;
        for (int32_t j = 0; j <= pos; ++j) {
          const float* kv = kc + (slot_of(j) * c.Hk + kh) * c.D;
          double d = 0;
          for (int64_t e = 0; e < c.D; ++e) d += (double)qv[e] * kv[e];
          p[(size_t)j] = d * scale;
          m = std::max(m, p[(size_t)j]);
        }
        for (auto& v : p) l += (v = std::exp(v - m));
        for (int64_t e = 0; e < c.D; ++e) {
          double o = 0;
          for (int32_t j = 0; j <= pos; ++j) o += p[(size_t)j] * vc[(slot_of(j) * c.Hk + kh) * c.D + e];
          want[(size_t)((t * c.Hq + h) * c.D + e)] = o / l;
        }
      }
    }
  }
  for (cpu::Isa isa : runnable_isas()) {
    SCOPED_TRACE(std::string(cpu::isa_name(isa)) + " Hq=" + std::to_string(c.Hq) + " Hk=" + std::to_string(c.Hk) +
                 " D=" + std::to_string(c.D));
    Tensor out = Tensor::empty({T, c.Hq, c.D}, DType::F32);
    cpu::paged_attention_with(isa, q, k_cache, v_cache, meta, scale, out);
    EXPECT_LT(normalised_error(out.data<float>(), want), 1e-5);
  }
}

TEST(AttentionKernels, PrefillDecodeAndMixedSteps) {
  const std::vector<Case> cases = {
      {4, 4, 16, 16, {{1, 1}}},                              // first token
      {4, 2, 16, 16, {{7, 7}}},                              // prefill, GQA
      {12, 12, 64, 16, {{37, 37}, {1, 90}, {5, 21}}},        // prefill + decode + chunk over a prefix
      {8, 4, 8, 4, {{1, 19}, {1, 1}, {9, 17}}},              // stories260K's head dim, small blocks
      {6, 3, 12, 8, {{11, 11}, {1, 40}}},                    // head dim not a multiple of 8
      {2, 1, 128, 16, {{3, 70}}},                            // head dim over 64 (two value passes)
      {2, 2, 72, 5, {{17, 17}}},                             // 64 + 8 features, odd block size
      {4, 4, 64, 16, {{200, 200}}},                          // long prefill, many row blocks
  };
  uint64_t seed = 100;
  for (const auto& c : cases) check_case(c, seed += 10);
}

TEST(AttentionKernels, RowGroupsWithRaggedTails) {
  // Query lengths 1 .. kAttentionGroupRows + 1, alone and after a cached prefix, and items (16 rows) whose
  // last group is partial; groups whose rows straddle a block boundary; one context over several value tiles.
  static_assert(cpu::kAttentionGroupRows == 4, "query lengths below are chosen around groups of 4");
  const std::vector<Case> cases = {
      {4, 2, 64, 16, {{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5}}},           // from the first position, GQA
      {4, 2, 64, 16, {{2, 17}, {3, 17}, {4, 18}, {5, 33}, {6, 15}}},      // over a prefix, across blocks
      {3, 3, 24, 3, {{18, 18}, {19, 23}, {21, 21}, {17, 40}}},            // 16 + 8 features, block size 3
      {2, 1, 8, 4, {{5, 9}, {7, 7}, {1, 6}}},                             // head dim 8: one feature chunk
      {2, 2, 64, 1, {{5, 5}, {6, 11}}},                                   // one position per block
      {6, 3, 12, 8, {{5, 13}, {4, 4}}},                                   // head dim not a multiple of 8
      {1, 1, 64, 16, {{23, 301}}},                                        // several 32-key value tiles
      {2, 1, 128, 16, {{9, 70}}},                                         // head dim over 64
  };
  uint64_t seed = 700;
  for (const auto& c : cases) check_case(c, seed += 10);
}

TEST(AttentionKernels, SameResultsWithOneOrTwoThreads) {
  const Case c{4, 2, 32, 16, {{50, 50}, {1, 33}}};
  cpu::set_num_threads(1);
  check_case(c, 5);
  cpu::set_num_threads(2);
  check_case(c, 5);
  cpu::set_num_threads(0);
}

}  // namespace
