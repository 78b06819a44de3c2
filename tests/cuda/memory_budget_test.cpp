// gpu_memory_utilization on a GPU (skips without one) is each engine's share of the card, as in vLLM: two
// engines at 0.3 in one process both start and get about the same KV cache (the first engine's memory is not
// charged to the second); an engine asking for more than is free when it starts gets one clear error naming
// the setting; the scheduler defaults follow vLLM's for the card.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/fixtures.h"
#include "cuda/cuda_test_util.h"
#include "engine/llm_engine.h"
#include "shardlm/llm.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

EngineArgs args_at(double utilization) {
  EngineArgs a;
  a.model = model_dir("tiny-opt");
  a.device = "cuda";
  a.dtype = "float32";
  a.gpu_memory_utilization = utilization;
  return a;
}

TEST(CudaMemoryBudget, GpuMemoryUtilizationIsEachEnginesShare) {
  SHARDLM_REQUIRE_GPU();
  SHARDLM_REQUIRE_FIXTURES();
  auto first = std::make_unique<LLM>(args_at(0.3));
  auto second = std::make_unique<LLM>(args_at(0.3));
  const int64_t a = first->engine().stats().num_kv_blocks, b = second->engine().stats().num_kv_blocks;
  EXPECT_GT(b, a * 9 / 10) << "the second engine's cache is not charged for the first engine's memory";
  EXPECT_LT(b, a * 11 / 10);
  try {
    LLM third(args_at(0.9));
    FAIL() << "0.9 of the card cannot be free with two engines holding 0.3 each";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("gpu_memory_utilization 0.900"), std::string::npos) << what;
    EXPECT_NE(what.find("were free when the engine started"), std::string::npos) << what;
  }
  // vLLM's scheduler defaults for the card (left at 0 in the arguments).
  size_t free_bytes = 0, total = 0;
  allocator_for(Device::CUDA)->memory_info(&free_bytes, &total);
  const bool large = total >= (size_t(70) << 30) && allocator_for(Device::CUDA)->model_name().find("A100") == std::string::npos;
  EXPECT_EQ(first->engine().args().max_num_batched_tokens, large ? 16384 : 8192);
  EXPECT_EQ(first->engine().args().max_num_seqs, large ? 1024 : 256);
  // The first engine still generates after the failed third.
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  greedy.max_tokens = 4;
  EXPECT_EQ(first->generate({Prompt::from_token_ids({2, 100, 200})}, greedy, false)[0].outputs[0].token_ids.size(), 4u);
}

}  // namespace
