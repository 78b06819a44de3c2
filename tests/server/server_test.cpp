// The server's parts without HTTP: OpenAI request parsing (types, defaults, errors naming the field) and the
// engine loop (requests from several threads batched, their deltas adding up to LLM::generate's outputs,
// bad prompts failing alone, aborts freeing the engine, stop() aborting what is in flight).
#include <gtest/gtest.h>

#include <thread>

#include "engine/llm_engine.h"
#include "engine/engine_util.h"
#include "server/engine_loop.h"
#include "server/openai_api.h"

using namespace shardlm;
using namespace shardlm::testing;
using namespace std::chrono_literals;

namespace {

server::ApiError parse_error(const std::string& body) {
  try {
    server::parse_completion_request(body);
  } catch (const server::ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no error for " << body;
  return {};
}

TEST(OpenAiApi, CompletionRequestsMapToSamplingParams) {
  auto r = server::parse_completion_request(
      R"({"model": "m", "prompt": ["a", [1, 2]], "max_tokens": 7, "temperature": 0.5, "top_p": 0.9, "n": 2,
          "seed": 3, "stop": "x", "stream": true, "stream_options": {"include_usage": true}, "user": "u",
          "frequency_penalty": null, "top_k": 5, "ignore_eos": true})");
  ASSERT_EQ(r.prompts.size(), 2u);
  EXPECT_EQ(r.prompts[0].text, "a");
  EXPECT_EQ(*r.prompts[1].token_ids, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(*r.params.max_tokens, 7);
  EXPECT_FLOAT_EQ(r.params.temperature, 0.5f);
  EXPECT_EQ(r.params.n, 2);
  EXPECT_EQ(*r.params.seed, 3);
  EXPECT_EQ(r.params.stop, std::vector<std::string>{"x"});
  EXPECT_EQ(r.params.top_k, 5);
  EXPECT_TRUE(r.params.ignore_eos && r.stream && r.include_usage);
  EXPECT_EQ(*server::parse_completion_request(R"({"model": "m", "prompt": "a"})").params.max_tokens, 16);
}

// vLLM's server: echo with logprobs asks for as many prompt logprobs; logit_bias keys are token ids as strings,
// biases clamped to [-100, 100]; vLLM's extra fields map to their SamplingParams fields.
TEST(OpenAiApi, EchoLogprobsLogitBiasAndVllmExtras) {
  auto r = server::parse_completion_request(
      R"({"model": "m", "prompt": "a", "echo": true, "logprobs": 3, "logit_bias": {"5": 250, "9": -0.5},
          "allowed_token_ids": [1, 2], "bad_words": ["x y"], "truncate_prompt_tokens": 4,
          "spaces_between_special_tokens": false})");
  EXPECT_EQ(r.params.prompt_logprobs, 3);
  EXPECT_FALSE(r.prompt_logprobs) << "not asked for by name: the choices carry no prompt_logprobs field";
  EXPECT_EQ(r.params.logit_bias, (std::map<int32_t, float>{{5, 100.0f}, {9, -0.5f}}));
  EXPECT_EQ(r.params.allowed_token_ids, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(r.params.bad_words, std::vector<std::string>{"x y"});
  EXPECT_EQ(r.params.truncate_prompt_tokens, 4);
  EXPECT_FALSE(r.params.spaces_between_special_tokens);
  auto named = server::parse_completion_request(R"({"model": "m", "prompt": "a", "prompt_logprobs": 0})");
  EXPECT_TRUE(named.prompt_logprobs);
  EXPECT_EQ(named.params.prompt_logprobs, 0);
  // The request's parameters are normalised as vLLM's SamplingParams are.
  auto tiny = server::parse_completion_request(R"({"model": "m", "prompt": "a", "temperature": 0.001, "seed": -1})");
  EXPECT_EQ(tiny.params.temperature, 0.01f);
  EXPECT_FALSE(tiny.params.seed.has_value());
}

TEST(OpenAiApi, BadRequestsNameTheField) {
  struct Case {
    const char* body;
    const char* param;
    const char* says;
  } cases[] = {
      {R"({"prompt": "a"})", "model", "'model'"},
      {R"({"model": "m"})", "prompt", "'prompt' is required"},
      {R"({"model": "m", "prompt": 5})", "prompt", "'prompt' must be"},
      {R"({"model": "m", "prompt": [1, -2]})", "prompt", "non-negative"},
      {R"({"model": "m", "prompt": "a", "max_tokens": "7"})", "max_tokens", "integer"},
      {R"({"model": "m", "prompt": "a", "temperature": -1})", "temperature", "temperature must be non-negative"},
      {R"({"model": "m", "prompt": "a", "stop": [1]})", "stop", "list of strings"},
      {R"({"model": "m", "prompt": "a", "frobnicate": 1})", "frobnicate", "unknown field"},
      {R"({"model": "m", "prompt": "a", "logprobs": -1})", "logprobs", "non-negative"},
      {R"({"model": "m", "prompt": "a", "logit_bias": {"7": 1, "x": 2}})", "logit_bias",
       "logit_bias contains key(s) that cannot be converted to integer token IDs: ['x']"},
      {R"({"model": "m", "prompt": "a", "logit_bias": {"7": "up"}})", "logit_bias", "must be a number"},
      {R"({"model": "m", "prompt": "a", "prompt_logprobs": -2})", "prompt_logprobs", "positive value or -1"},
      {R"({"model": "m", "prompt": "a", "prompt_logprobs": 1, "stream": true})", "prompt_logprobs",
       "not available when `stream=True`"},
      {R"({"model": "m", "prompt": "a", "bad_words": "no"})", "bad_words", "list of strings"},
      {R"({"model": "m", "prompt": "a", "truncate_prompt_tokens": 0})", "truncate_prompt_tokens", ">= 1 or -1"},
      {R"([1])", "", "JSON object"},
      {R"({"model": )", "", "not valid JSON"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    const server::ApiError e = parse_error(c.body);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, c.param);
    EXPECT_NE(e.message.find(c.says), std::string::npos) << e.message;
    const auto body = server::error_body(e);
    EXPECT_EQ(body["error"]["type"], "BadRequestError");
    EXPECT_EQ(body["error"]["code"], 400);
  }
}

// Collects a stream's events until every prompt has its final output.
std::vector<RequestOutput> drain(server::RequestStream& s, std::map<int, std::string>* texts = nullptr) {
  std::vector<RequestOutput> finals((size_t)s.num_prompts());
  int done = 0;
  while (done < s.num_prompts()) {
    auto e = s.next(10s);
    if (!e) {
      ADD_FAILURE() << "no event within 10 s";
      break;
    }
    EXPECT_FALSE(e->failure);
    if (e->delta && texts)
      for (const SequenceDelta& d : e->delta->sequences) (*texts)[e->prompt_index] += d.text;
    if (e->final) {
      finals[(size_t)e->prompt_index] = *e->final;
      ++done;
    }
  }
  return finals;
}

TEST(EngineLoop, RequestsFromSeveralThreadsMatchGenerate) {
  SHARDLM_REQUIRE_FIXTURES();
  LLM reference(cpu_args("tiny-opt"));
  const std::vector<Prompt> prompts = {"Hello, my name is", "The capital of France is", "Hi"};
  const auto want = reference.generate(prompts, greedy(9), false);
  LLM llm(cpu_args("tiny-opt"));
  server::EngineLoop loop(llm.engine(), 16);
  std::vector<std::thread> threads;
  std::vector<std::vector<RequestOutput>> got(prompts.size());
  std::vector<std::map<int, std::string>> streamed(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i)
    threads.emplace_back([&, i] {
      auto s = loop.submit({prompts[i]}, greedy(9));
      ASSERT_TRUE(s);
      got[i] = drain(*s, &streamed[i]);
    });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(got[i][0].outputs[0].token_ids, want[i].outputs[0].token_ids);
    EXPECT_EQ(streamed[i][0], want[i].outputs[0].text);
  }
  EXPECT_EQ(loop.num_unfinished(), 0);
}

TEST(EngineLoop, RejectedPromptsAbortsAndStop) {
  SHARDLM_REQUIRE_FIXTURES();
  LLM llm(cpu_args("tiny-opt"));
  server::EngineLoop loop(llm.engine(), 1);
  // Too long: its final output carries the error, the other prompt of the request runs.
  auto s = loop.submit({Prompt::from_token_ids(std::vector<int32_t>(llm.max_model_len() + 1, 2)), Prompt("Hi")},
                       greedy(3));
  ASSERT_TRUE(s);
  const auto finals = drain(*s);
  EXPECT_TRUE(finals[0].error.has_value());
  EXPECT_EQ(finals[1].outputs[0].token_ids.size(), 3u);
  EXPECT_THROW(loop.submit({"a"}, [] {
                 SamplingParams p;
                 p.top_p = 2;
                 return p;
               }()),
               std::invalid_argument);
  // An aborted request stops and frees the engine.
  SamplingParams long_run = greedy(400);
  long_run.ignore_eos = true;
  auto running = loop.submit({"Hello"}, long_run);
  ASSERT_TRUE(running && running->next(10s));  // it has started
  loop.abort(running);
  for (int i = 0; i < 500 && loop.num_unfinished() != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(loop.num_unfinished(), 0);
  // stop() aborts what is in flight and refuses more.
  auto inflight = loop.submit({"Hello"}, long_run);
  ASSERT_TRUE(inflight);
  loop.stop();
  EXPECT_FALSE(loop.submit({"Hello"}, greedy(2)));
}

}  // namespace
