// The packed step inputs (one int32 buffer, views as ForwardInputs), padding rows of graph buckets, the
// bucket sizes, and the CPU path with graphs requested (there are none on the CPU; outputs unchanged).
#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "engine/decode_graphs.h"
#include "engine/step_inputs.h"
#include "engine_util.h"
#include "engine/llm_engine.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

std::vector<int32_t> values(const Tensor& t) { return std::vector<int32_t>(t.data<int32_t>(), t.data<int32_t>() + t.numel()); }

TEST(StepInputs, PacksEveryInputIntoOneBufferOfViews) {
  // Sequence 0: a 3-token chunk at positions 4..6 (blocks [7, 2], block size 4); sequence 1: one decode
  // token at position 1 (block [5]), not sampled.
  const std::vector<int32_t> a = {11, 12, 13}, b = {21};
  const std::vector<int32_t> blocks_a = {7, 2}, blocks_b = {5};
  const std::vector<SequenceStep> steps = {{a, 4, &blocks_a, true}, {b, 1, &blocks_b, false}};
  const StepLayout layout(4, 2, 2, 1);
  EXPECT_EQ(layout.total, 4 * 3 + 3 + 2 + 4 + 1);
  Tensor buffer = Tensor::empty({layout.total + 5}, DType::I32);  // larger than needed is fine
  pack_step_inputs(steps, 4, layout, buffer.data<int32_t>());
  ForwardInputs in = step_input_views(buffer, layout, 3, 7);
  EXPECT_EQ(values(in.token_ids), (std::vector<int32_t>{11, 12, 13, 21}));
  EXPECT_EQ(values(in.positions), (std::vector<int32_t>{4, 5, 6, 1}));
  EXPECT_EQ(values(in.attn.slot_mapping), (std::vector<int32_t>{8, 9, 10, 21}));
  EXPECT_EQ(values(in.attn.query_start_loc), (std::vector<int32_t>{0, 3, 4}));
  EXPECT_EQ(values(in.attn.seq_lens), (std::vector<int32_t>{7, 2}));
  EXPECT_EQ(in.attn.block_tables.shape(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(values(in.attn.block_tables), (std::vector<int32_t>{7, 2, 5, 0}));
  EXPECT_EQ(values(in.logits_indices), (std::vector<int32_t>{2}));
  EXPECT_EQ(in.attn.num_seqs, 2);
  EXPECT_EQ(in.attn.max_query_len, 3);
  EXPECT_EQ(in.attn.max_seq_len, 7);
  EXPECT_EQ(in.token_ids.raw(), buffer.raw());  // views, not copies
}

TEST(StepInputs, PaddingRowsWriteNoKvAndAttendToBlockZero) {
  const std::vector<int32_t> a = {5}, b = {6};
  const std::vector<int32_t> blocks_a = {3, 9}, blocks_b = {4};
  const std::vector<SequenceStep> steps = {{a, 5, &blocks_a, true}, {b, 0, &blocks_b, true}};
  const StepLayout layout(4, 4, 3, 4);  // a bucket of 4 holding 2 decodes; table width 3
  std::vector<int32_t> host((size_t)layout.total, -99);
  pack_step_inputs(steps, 4, layout, host.data());
  Tensor buffer = Tensor::empty({layout.total}, DType::I32);
  std::copy(host.begin(), host.end(), buffer.data<int32_t>());
  ForwardInputs in = step_input_views(buffer, layout, 1, 12);
  EXPECT_EQ(values(in.token_ids), (std::vector<int32_t>{5, 6, 0, 0}));
  EXPECT_EQ(values(in.positions), (std::vector<int32_t>{5, 0, 0, 0}));
  EXPECT_EQ(values(in.attn.slot_mapping), (std::vector<int32_t>{37, 16, -1, -1}));
  EXPECT_EQ(values(in.attn.query_start_loc), (std::vector<int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(values(in.attn.seq_lens), (std::vector<int32_t>{6, 1, 1, 1}));
  EXPECT_EQ(values(in.attn.block_tables), (std::vector<int32_t>{3, 9, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(values(in.logits_indices), (std::vector<int32_t>{0, 1, 2, 3}));
}

TEST(StepInputs, LayoutMismatchIsCaught) {
  const std::vector<int32_t> a = {1, 2};
  const std::vector<int32_t> blocks = {0};
  std::vector<int32_t> host(64);
  EXPECT_THROW(pack_step_inputs({{a, 0, &blocks, true}}, 4, StepLayout(1, 1, 1, 1), host.data()), Error);
  EXPECT_THROW(pack_step_inputs({{a, 0, &blocks, true}}, 4, StepLayout(2, 1, 1, 0), host.data()), Error);
}

TEST(DecodeGraphBuckets, FollowVllmCaptureSizes) {
  EXPECT_EQ(DecodeGraphs::batch_sizes(1), (std::vector<int32_t>{1}));
  EXPECT_EQ(DecodeGraphs::batch_sizes(3), (std::vector<int32_t>{1, 2, 4}));
  EXPECT_EQ(DecodeGraphs::batch_sizes(13), (std::vector<int32_t>{1, 2, 4, 8, 16}));
  const std::vector<int32_t> s256 = DecodeGraphs::batch_sizes(256);
  EXPECT_EQ(s256.size(), 3u + 32u);
  EXPECT_EQ(s256.back(), 256);
  const std::vector<int32_t> s300 = DecodeGraphs::batch_sizes(300);
  EXPECT_EQ(s300.back(), 304);
  EXPECT_EQ(DecodeGraphs::batch_sizes(100000).back(), 512);  // larger decode batches run eagerly
}

TEST(DecodeGraphBuckets, CpuEngineHasNoGraphsAndEnforceEagerChangesNothing) {
  SHARDLM_REQUIRE_FIXTURES();
  std::vector<std::vector<int32_t>> tokens[2];
  for (int eager = 0; eager < 2; ++eager) {
    EngineArgs a = cpu_args("tiny-llama");
    a.enforce_eager = eager == 1;
    LLM llm(a);
    EXPECT_EQ(llm.engine().runner().decode_graphs(), nullptr);
    for (const auto& out : llm.generate(mixed_prompts(6, 32000, 3, 20), greedy(5), false))
      tokens[eager].push_back(out.outputs[0].token_ids);
  }
  EXPECT_EQ(tokens[0], tokens[1]);
}

}  // namespace
