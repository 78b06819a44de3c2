// Self-launched ranks from C++ (api/self_launch.h): shardlm::LLM with tensor_parallel_size 2 in a process no
// launcher started runs rank 1 as a `shardlm _worker` child and returns what TP=1 returns (greedy tokens and
// logprobs), across several calls and a sleep / wake_up; the worker is gone once the LLM is.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <cmath>

#include "common/fixtures.h"
#include "shardlm/llm.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

std::vector<RequestOutput> greedy(LLM& llm) {
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 10;
  p.ignore_eos = true;
  p.logprobs = 1;
  return llm.generate({"Hello, my name is", "The capital of France is"}, p, false);
}

void expect_same(const std::vector<RequestOutput>& a, const std::vector<RequestOutput>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const CompletionOutput &x = a[i].outputs.at(0), &y = b[i].outputs.at(0);
    ASSERT_EQ(x.token_ids, y.token_ids) << "prompt " << i;
    ASSERT_TRUE(x.logprobs && y.logprobs);
    for (size_t t = 0; t < x.token_ids.size(); ++t)
      EXPECT_NEAR(x.logprobs->at(t).at(x.token_ids[t]), y.logprobs->at(t).at(y.token_ids[t]), 1e-4);
  }
}

}  // namespace

TEST(SelfLaunch, Tp2WithoutALauncherEqualsTp1) {
  SHARDLM_REQUIRE_FIXTURES();
  EngineArgs args;
  args.model = model_dir("tiny-opt");
  args.dtype = "float32";
  const std::vector<RequestOutput> one = [&] {
    LLM llm(args);
    return greedy(llm);
  }();
  args.tensor_parallel_size = 2;
  args.enable_sleep_mode = true;
  {
    LLM llm(args);
    ASSERT_TRUE(llm.self_launched());
    EXPECT_EQ(llm.world_size(), 2);
    expect_same(greedy(llm), one);
    llm.sleep(1);
    llm.wake_up();
    expect_same(greedy(llm), one);
  }
  // ~LLM waited for its worker: no child of this process is left.
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}
