// Sleep mode on a GPU (skips without one): the CUDA memory arena hands its physical memory back to the driver
// (cudaMemGetInfo's free bytes grow) and maps it again at the same addresses, restoring kept contents and
// zeroing discarded ones; an engine with CUDA graphs generates the same greedy tokens after sleep(1) and
// wake_up() (the graphs captured before the sleep replay on the same addresses).
#include <gtest/gtest.h>

#include <cstring>

#include "common/fixtures.h"
#include "core/memory_arena.h"
#include "cuda/cuda_test_util.h"
#include "engine/llm_engine.h"
#include "shardlm/llm.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

constexpr size_t kMiB = size_t(1) << 20;

size_t free_device_bytes() {
  size_t free_b = 0, total_b = 0;
  allocator_for(Device::CUDA)->memory_info(&free_b, &total_b);
  return free_b;
}

TEST(CudaArena, SleepReturnsMemoryAndWakeRestoresAtTheSameAddress) {
  SHARDLM_REQUIRE_GPU();
  auto arena = allocator_for(Device::CUDA)->create_arena("test", 512 * kMiB);
  Tensor host = Tensor::from_f32(random_values(64 * kMiB / 4, 7), {(int64_t)(64 * kMiB / 4)});
  Tensor dev;
  {
    ArenaScope scope(arena);
    dev = host.to(Device::CUDA);
  }
  ASSERT_TRUE(arena->owns(dev.raw()));
  const void* address = dev.raw();

  const size_t free_awake = free_device_bytes();
  arena->sleep(SleepContents::Keep);
  EXPECT_GE(free_device_bytes(), free_awake + 60 * kMiB) << "the physical memory went back to the driver";
  arena->wake();
  EXPECT_EQ(dev.raw(), address);
  Tensor back = dev.to(Device::CPU);
  EXPECT_EQ(std::memcmp(back.raw(), host.raw(), host.nbytes()), 0) << "kept contents come back";

  arena->sleep(SleepContents::Discard);
  arena->wake();
  back = dev.to(Device::CPU);
  bool zero = true;
  for (int64_t i = 0; i < back.numel(); i += 997) zero = zero && back.data<float>()[i] == 0.0f;
  EXPECT_TRUE(zero) << "discarded contents read as zero";
  dev = Tensor();
  EXPECT_EQ(arena->stats().num_live_blocks, 0u);
}

TEST(CudaSleepMode, GenerationWithGraphsEqualsAfterLevel1AndMemoryIsReturned) {
  SHARDLM_REQUIRE_GPU();
  SHARDLM_REQUIRE_FIXTURES();
  EngineArgs a;
  a.model = model_dir("tiny-llama");
  a.device = "cuda";
  a.dtype = "float32";
  a.kv_cache_memory_bytes = int64_t(256) << 20;
  a.enable_sleep_mode = true;
  LLM llm(a);
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  greedy.max_tokens = 16;
  greedy.ignore_eos = true;
  const std::vector<Prompt> prompts = {Prompt::from_token_ids({1, 15, 27, 300, 41}),
                                       Prompt::from_token_ids({1, 99, 7})};
  auto tokens = [&] {
    std::vector<std::vector<int32_t>> out;
    for (const auto& o : llm.generate(prompts, greedy, false)) out.push_back(o.outputs[0].token_ids);
    return out;
  };
  const auto before = tokens();
  const size_t kv_bytes = llm.engine().arena("kv_cache")->stats().used_bytes;
  const size_t weight_bytes = llm.engine().arena("weights")->stats().used_bytes;

  const size_t free_awake = free_device_bytes();
  llm.sleep(1);
  const size_t free_level1 = free_device_bytes();
  EXPECT_GE(free_level1, free_awake + kv_bytes + weight_bytes * 9 / 10);
  llm.wake_up();
  EXPECT_EQ(tokens(), before);

  llm.sleep(2);
  EXPECT_GE(free_device_bytes(), free_awake + kv_bytes);
  llm.wake_up();
}

}  // namespace
