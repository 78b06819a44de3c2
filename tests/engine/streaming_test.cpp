// The streaming interface (RequestDelta through GenerateHooks::on_delta): each sequence's deltas add up to its
// final output exactly (tokens, text, logprobs), finish once, hold back text that could become a stop string,
// and streaming changes nothing about what is generated.
#include <gtest/gtest.h>

#include <map>

#include "engine/llm_engine.h"
#include "engine_util.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

struct Streamed {
  std::vector<int32_t> tokens;
  std::string text;
  std::vector<std::map<int32_t, float>> logprobs;
  std::vector<std::string> finish_reasons;  // one entry per delta that carried one
  int deltas = 0;
};

struct Collector {
  std::map<std::pair<int64_t, int>, Streamed> seqs;
  std::map<int64_t, int> request_finished_flags;
  std::vector<std::string> texts_seen;  // every delta's text, in order
  GenerateHooks hooks() {
    GenerateHooks h;
    h.progress_bar = false;
    h.on_delta = [this](const RequestDelta& d) {
      if (d.finished) ++request_finished_flags[d.request_id];
      for (const SequenceDelta& s : d.sequences) {
        Streamed& st = seqs[{d.request_id, s.index}];
        st.tokens.insert(st.tokens.end(), s.token_ids.begin(), s.token_ids.end());
        st.text += s.text;
        st.logprobs.insert(st.logprobs.end(), s.logprobs.begin(), s.logprobs.end());
        if (!s.finish_reason.empty()) st.finish_reasons.push_back(s.finish_reason);
        ++st.deltas;
        texts_seen.push_back(s.text);
      }
    };
    return h;
  }
};

void expect_streams_add_up(const Collector& c, const std::vector<RequestOutput>& outs) {
  for (const RequestOutput& o : outs) {
    EXPECT_EQ(c.request_finished_flags.count(o.request_id) ? c.request_finished_flags.at(o.request_id) : 0, 1)
        << o.request_id;
    for (const CompletionOutput& co : o.outputs) {
      SCOPED_TRACE("request " + std::to_string(o.request_id) + " sequence " + std::to_string(co.index));
      const Streamed& st = c.seqs.at({o.request_id, co.index});
      EXPECT_EQ(st.tokens, co.token_ids);
      EXPECT_EQ(st.text, co.text);
      EXPECT_EQ(st.deltas, (int)co.token_ids.size());  // one delta per step that sampled the sequence
      ASSERT_EQ(st.finish_reasons.size(), 1u);
      EXPECT_EQ(st.finish_reasons[0], co.finish_reason);
      if (co.logprobs) EXPECT_EQ(st.logprobs, *co.logprobs);
      else EXPECT_TRUE(st.logprobs.empty());
    }
  }
}

TEST(EngineStreaming, DeltasAddUpToTheOutputsAndChangeNothing) {
  SHARDLM_REQUIRE_FIXTURES();
  std::vector<Prompt> prompts = {"Hello, my name is", "The capital of France is", "The future of AI is"};
  std::vector<SamplingParams> params(3);
  params[0] = greedy(12);
  params[0].logprobs = 2;
  params[1].temperature = 0.8f;
  params[1].top_p = 0.95f;
  params[1].seed = 7;
  params[1].n = 2;
  params[1].max_tokens = 9;
  params[2] = greedy(5);
  LLM plain(cpu_args("tiny-opt"));
  const auto want = plain.generate(prompts, params, false);
  LLM streaming(cpu_args("tiny-opt"));
  Collector c;
  const auto got = streaming.generate(prompts, params, c.hooks());
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].outputs.size(), want[i].outputs.size());
    for (size_t k = 0; k < got[i].outputs.size(); ++k) {
      EXPECT_EQ(got[i].outputs[k].token_ids, want[i].outputs[k].token_ids);
      EXPECT_EQ(got[i].outputs[k].text, want[i].outputs[k].text);
    }
  }
  expect_streams_add_up(c, got);
  EXPECT_EQ(c.seqs.size(), 4u);  // 1 + 2 + 1 sequences
}

TEST(EngineStreaming, TextThatMayBecomeAStopStringIsHeldBack) {
  SHARDLM_REQUIRE_FIXTURES();
  LLM llm(cpu_args("tiny-opt"));
  const std::string ref = llm.generate({"Hello, my name is"}, greedy(16), false)[0].outputs[0].text;
  ASSERT_GT(ref.size(), 12u);
  const std::string stop = ref.substr(6, 5);  // ends generation mid-way, inside the text
  SamplingParams sp = greedy(16);
  sp.stop = {stop};
  Collector c;
  const auto outs = llm.generate({"Hello, my name is"}, {sp}, c.hooks());
  const CompletionOutput& co = outs[0].outputs[0];
  EXPECT_EQ(co.finish_reason, "stop");
  EXPECT_EQ(co.text, ref.substr(0, ref.find(stop)));
  expect_streams_add_up(c, outs);
  // No delta ever carried a byte of the stop string (it would have to be taken back).
  for (const std::string& t : c.texts_seen) EXPECT_EQ(t.find(stop), std::string::npos) << t;
}

TEST(EngineStreaming, RequestIdsCountAcrossCalls) {
  SHARDLM_REQUIRE_FIXTURES();
  LLM llm(cpu_args("tiny-opt"));
  const auto a = llm.generate({"Hello", "Hi"}, greedy(2), false);
  const auto b = llm.generate({"Hello"}, greedy(2), false);
  EXPECT_EQ(a[0].request_id, 0);
  EXPECT_EQ(a[1].request_id, 1);
  EXPECT_EQ(b[0].request_id, 2);
  // The engine assigns them; an add that throws (a prompt id outside the vocabulary) takes one too, so ranks
  // making the same calls number their requests alike.
  LLMEngine& engine = llm.engine();
  EXPECT_EQ(engine.next_request_id(), 3);
  EXPECT_THROW(engine.add_request(Prompt::from_token_ids({1 << 30}), greedy(2)), std::invalid_argument);
  const AddedRequest added = engine.add_request(Prompt::from_token_ids({2, 100}), greedy(2));
  EXPECT_EQ(added.request_id, 4);
  EXPECT_FALSE(added.rejected);
  engine.abort_request(added.request_id);
  EXPECT_FALSE(engine.has_unfinished_requests());
  EXPECT_EQ(llm.generate({"Hello"}, greedy(2), false)[0].request_id, 5);
}

TEST(EngineStreaming, ARejectedPromptFailsTheWholeCallWhenAsked) {
  SHARDLM_REQUIRE_FIXTURES();
  LLM llm(cpu_args("tiny-opt"));
  std::vector<int32_t> too_long(llm.max_model_len() + 5, 2);
  GenerateHooks h;
  h.progress_bar = false;
  h.reject_whole_call = true;
  std::vector<Prompt> prompts = {Prompt("Hello"), Prompt::from_token_ids(too_long)};
  EXPECT_THROW(llm.generate(prompts, std::vector<SamplingParams>(2, greedy(3)), h), std::invalid_argument);
  EXPECT_FALSE(llm.engine().has_unfinished_requests());  // "Hello" was not left queued
  const auto outs = llm.generate(prompts, greedy(3), false);  // without the hook: an error output
  EXPECT_FALSE(outs[0].error.has_value());
  EXPECT_TRUE(outs[1].error.has_value());
}

}  // namespace
