// RequestOutput::metrics and LLM::get_metrics() on a real engine: each request's times are ordered and inside the
// call, its generated-token count is its outputs' length; the counters (prompt and generation tokens, finished
// requests by reason, one time-to-first-token observation per request) move by exactly what the outputs say;
// a priority under the FCFS policy is refused before anything runs.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <stdexcept>

#include "engine/engine_metrics.h"
#include "engine_util.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

std::map<std::string, Metric> by_name(const std::vector<Metric>& metrics) {
  std::map<std::string, Metric> out;
  for (const Metric& m : metrics) {
    const auto reason = m.labels.find("finished_reason");
    out[m.name + (reason == m.labels.end() ? "" : "/" + reason->second)] = m;
  }
  return out;
}

}  // namespace

TEST(RequestMetrics, TimesOrderedAndCountersMatchOutputs) {
  SHARDLM_REQUIRE_FIXTURES();
  LLM llm(cpu_args("tiny-opt"));
  const auto before = by_name(llm.get_metrics());
  std::vector<Prompt> prompts = mixed_prompts(5, 50272, 3, 20);
  std::vector<SamplingParams> params(prompts.size(), greedy(6));
  params[1].n = 2;
  params[1].temperature = 0.7f;
  params[1].seed = 5;
  const double start = metrics_clock_now();
  GenerateHooks hooks;
  hooks.progress_bar = false;
  const auto outs = llm.generate(prompts, params, hooks);
  const double end = metrics_clock_now();
  const auto after = by_name(llm.get_metrics());

  int64_t prompt_tokens = 0, generated = 0;
  for (const RequestOutput& o : outs) {
    const RequestMetrics& m = o.metrics;
    EXPECT_LE(start, m.arrival_time);
    EXPECT_LE(m.arrival_time, m.first_scheduled_time);
    EXPECT_LE(m.first_scheduled_time, m.first_token_time);
    EXPECT_LE(m.first_token_time, m.last_token_time);
    EXPECT_LE(m.last_token_time, m.finished_time);
    EXPECT_LE(m.finished_time, end);
    EXPECT_DOUBLE_EQ(m.time_in_queue, m.first_scheduled_time - m.arrival_time);
    EXPECT_DOUBLE_EQ(m.first_token_latency, m.first_token_time - m.arrival_time);
    int64_t tokens = 0;
    for (const CompletionOutput& c : o.outputs) tokens += (int64_t)c.token_ids.size();
    EXPECT_EQ(m.num_generation_tokens, tokens);
    generated += tokens;
    prompt_tokens += (int64_t)o.prompt_token_ids.size();
  }
  auto moved = [&](const std::string& name) { return after.at(name).value - before.at(name).value; };
  EXPECT_EQ(moved("vllm:generation_tokens"), (double)generated);
  EXPECT_EQ(moved("vllm:prompt_tokens"), (double)prompt_tokens);
  EXPECT_EQ(moved("vllm:request_success/length"), (double)prompts.size());
  EXPECT_EQ(moved("vllm:request_success/stop"), 0.0);
  const Metric& ttft = after.at("vllm:time_to_first_token_seconds");
  EXPECT_EQ(ttft.count - before.at("vllm:time_to_first_token_seconds").count, (int64_t)prompts.size());
  ASSERT_EQ(ttft.bucket_counts.size(), ttft.bucket_bounds.size() + 1);
  EXPECT_EQ(ttft.bucket_counts.back(), ttft.count);
  EXPECT_EQ(after.at("vllm:num_requests_running").value, 0.0);
  EXPECT_EQ(after.at("vllm:num_requests_waiting").value, 0.0);
  EXPECT_EQ(after.at("vllm:kv_cache_usage_perc").value, 0.0);
}

TEST(RequestMetrics, FcfsIgnoresPriority) {
  // vLLM 0.26 accepts a priority under "fcfs" and schedules by arrival all the same: with one request running at
  // a time, the first prompt starts first although its priority value is the larger (later under "priority").
  SHARDLM_REQUIRE_FIXTURES();
  EngineArgs args = cpu_args("tiny-opt");
  args.max_num_seqs = 1;
  LLM llm(args);
  const std::vector<Prompt> prompts = mixed_prompts(2, 50272, 4, 10);
  const std::vector<SamplingParams> params(2, greedy(2));
  GenerateHooks hooks;
  hooks.progress_bar = false;
  const std::vector<RequestOutput> outs = llm.generate(prompts, params, hooks, {3, 0});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_LT(outs[0].metrics.first_scheduled_time, outs[1].metrics.first_scheduled_time);
  EXPECT_LE(outs[0].metrics.finished_time, outs[1].metrics.first_scheduled_time);
  EXPECT_THROW(llm.generate(prompts, params, hooks, {0}), std::invalid_argument);  // one per prompt
  EXPECT_EQ(by_name(llm.get_metrics()).at("vllm:request_success/abort").value, 0.0);  // refused before queueing
}
