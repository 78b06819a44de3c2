// The server's answers without HTTP: chat request parsing (content parts, logprobs/top_logprobs, defaults,
// refusals naming the field) and ResponseBuilder — streamed chunks concatenate to the non-streamed body
// (text, logprobs), completions' echo and character text offsets, chat's role chunk and logprobs shape,
// usage, [DONE], errors — on a synthetic event stream whose token texts come from a small table.
#include <gtest/gtest.h>

#include <map>

#include "server/openai_api.h"
#include "server/response_builder.h"

using namespace shardlm;
using namespace shardlm::server;
using nlohmann::json;

namespace {

ApiError chat_error(const std::string& body) {
  try {
    parse_chat_request(body);
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "no error for " << body;
  return {};
}

TEST(ChatRequest, FieldsAndDefaults) {
  ChatRequest r = parse_chat_request(R"({"model": "m", "messages": [
      {"role": "system", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]}],
      "max_completion_tokens": 9, "logprobs": true, "top_logprobs": 3, "temperature": 0,
      "chat_template_kwargs": {"enable_thinking": false}, "tools": [{"type": "function"}], "tool_choice": "none",
      "stream": true, "stream_options": {"include_usage": true}})");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[1]["content"], "one\ntwo");  // text parts joined as vLLM does for string templates
  EXPECT_EQ(*r.params.max_tokens, 9);
  EXPECT_EQ(*r.params.logprobs, 3);
  EXPECT_EQ(r.template_kwargs["enable_thinking"], false);
  EXPECT_EQ(r.tools.size(), 1u);
  EXPECT_TRUE(r.add_generation_prompt && !r.continue_final_message && r.stream && r.include_usage);
  ChatRequest d = parse_chat_request(R"({"model": "m", "messages": [{"role": "user", "content": "hi"}]})");
  EXPECT_FALSE(d.params.max_tokens.has_value()) << "chat: up to the context length by default";
  EXPECT_FALSE(d.params.logprobs.has_value());
  EXPECT_EQ(*parse_chat_request(R"({"model": "m", "messages": [{"role": "user", "content": "hi"}], "logprobs": true})")
                 .params.logprobs,
            0);
}

TEST(ChatRequest, BadRequestsNameTheField) {
  struct Case {
    const char* body;
    const char* param;
    const char* says;
  } cases[] = {
      {R"({"model": "m"})", "messages", "'messages'"},
      {R"({"model": "m", "messages": []})", "messages", "non-empty"},
      {R"({"model": "m", "messages": [{"content": "x"}]})", "messages", "'role'"},
      {R"({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", "messages[0].content",
       "only text parts"},
      {R"({"model": "m", "messages": [{"role": "user", "content": 5}]})", "messages[0].content", "string or a list"},
      {R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})", "top_logprobs",
       "'logprobs': true"},
      {R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "auto"})", "tool_choice",
       "not parsed"},
      {R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}})",
       "response_format", "structured output"},
      {R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "continue_final_message": true})",
       "continue_final_message", "cannot both"},
      {R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"})", "temperature", "number"},
      {R"({"model": "m", "messages": [{"role": "user", "content": "x"}], "prompt": "x"})", "prompt", "unknown field"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    const ApiError e = chat_error(c.body);
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, c.param);
    EXPECT_NE(e.message.find(c.says), std::string::npos) << e.message;
  }
}

// Token texts of the synthetic vocabulary: id -> text ("é" is two bytes, one character).
std::string token_text(int32_t id) {
  static const std::map<int32_t, std::string> texts = {{1, " a"}, {2, "é"}, {3, "!"}, {4, " b"}};
  return texts.at(id);
}

StreamEvent delta(int prompt, int seq, std::vector<int32_t> ids, std::string text,
                  std::vector<std::map<int32_t, float>> logprobs = {}, std::string finish = "") {
  StreamEvent e;
  e.prompt_index = prompt;
  e.delta = RequestDelta{};
  SequenceDelta s;
  s.index = seq;
  s.token_ids = std::move(ids);
  s.text = std::move(text);
  s.logprobs = std::move(logprobs);
  s.finish_reason = std::move(finish);
  e.delta->sequences.push_back(std::move(s));
  return e;
}

StreamEvent final_of(int prompt, std::vector<int32_t> ids, std::string text,
                     std::optional<std::vector<std::map<int32_t, float>>> logprobs, int prompt_tokens) {
  StreamEvent e;
  e.prompt_index = prompt;
  RequestOutput r;
  r.prompt_token_ids.assign((size_t)prompt_tokens, 7);
  r.finished = true;
  CompletionOutput c;
  c.token_ids = std::move(ids);
  c.text = std::move(text);
  c.logprobs = std::move(logprobs);
  c.finish_reason = "length";
  r.outputs.push_back(c);
  e.final = r;
  return e;
}

// Parses "data: {...}\n\n" events; "[DONE]" becomes the string "[DONE]".
std::vector<json> events_of(const std::string& sse) {
  std::vector<json> out;
  size_t pos = 0;
  while ((pos = sse.find("data: ", pos)) != std::string::npos) {
    const size_t end = sse.find("\n\n", pos);
    const std::string payload = sse.substr(pos + 6, end - pos - 6);
    out.push_back(payload == "[DONE]" ? json("[DONE]") : json::parse(payload));
    pos = end + 2;
  }
  return out;
}

// The events of one generation of " aé!" (tokens 1, 2, 3) with logprobs; the second token's text is held
// back one step (an incomplete character, say) and arrives with the third.
std::vector<StreamEvent> one_generation() {
  const std::vector<std::map<int32_t, float>> lp = {{{1, -0.5f}, {4, -1.0f}}, {{2, -0.25f}}, {{3, -0.125f}, {4, -3.0f}}};
  return {delta(0, 0, {1}, " a", {lp[0]}), delta(0, 0, {2}, "", {lp[1]}),
          delta(0, 0, {3}, "é!", {lp[2]}, "length"), final_of(0, {1, 2, 3}, " aé!", lp, 4)};
}

// Echo with logprobs (vLLM's shape): the prompt's tokens come first in tokens / token_logprobs / top_logprobs /
// text_offset, the first prompt token with null logprob and null top_logprobs, offsets counted from 0; streamed
// chunks add up to the same lists. The prompt " b!" is tokens 4, 3.
TEST(ResponseBuilder, EchoWithLogprobsPutsThePromptTokensFirst) {
  ResponseOptions o;
  o.kind = ApiKind::Completion;
  o.logprobs = 1;
  o.echo = {" b!"};
  o.echo_logprobs = true;
  const std::vector<std::map<int32_t, float>> prompt_lp = {{}, {{3, -2.0f}, {1, -0.75f}}};
  std::vector<StreamEvent> events = one_generation();
  events[0].delta->prompt_logprobs = prompt_lp;  // the request's first delta carries them
  events[0].delta->prompt_token_ids = {4, 3};
  events.back().final->prompt_token_ids = {4, 3};
  events.back().final->prompt_logprobs = prompt_lp;
  ResponseBuilder streamed(o, 1, token_text), whole(o, 1, token_text);
  std::string sse;
  for (const StreamEvent& e : events) {
    sse += streamed.sse(e);
    EXPECT_FALSE(whole.add(e).has_value());
  }
  const json choice = whole.response()["choices"][0];
  EXPECT_EQ(choice["text"], " b! aé!");
  const json& lp = choice["logprobs"];
  EXPECT_EQ(lp["tokens"], json({" b", "!", " a", "é", "!"}));
  EXPECT_EQ(lp["token_logprobs"], json({nullptr, -2.0, -0.5, -0.25, -0.125}));
  EXPECT_EQ(lp["top_logprobs"][0], nullptr);
  EXPECT_EQ(lp["top_logprobs"][1], json({{" a", -0.75}, {"!", -2.0}}));
  EXPECT_EQ(lp["text_offset"], json({0, 2, 3, 5, 6}));
  json tokens = json::array(), offsets = json::array(), values = json::array();
  for (const json& e : events_of(sse)) {
    if (!e.is_object() || e["choices"].empty() || e["choices"][0]["logprobs"].is_null()) continue;
    for (const json& t : e["choices"][0]["logprobs"]["tokens"]) tokens.push_back(t);
    for (const json& t : e["choices"][0]["logprobs"]["text_offset"]) offsets.push_back(t);
    for (const json& t : e["choices"][0]["logprobs"]["token_logprobs"]) values.push_back(t);
  }
  EXPECT_EQ(tokens, lp["tokens"]);
  EXPECT_EQ(offsets, lp["text_offset"]);
  EXPECT_EQ(values, lp["token_logprobs"]);
}

// vLLM's extra prompt_logprobs field: per choice, null first, then {"<id>": {logprob, rank, decoded_token}};
// the top N ranked 1..N, the prompt token (when not among them) with its own rank.
TEST(ResponseBuilder, PromptLogprobsFieldCarriesRanks) {
  ResponseOptions o;
  o.kind = ApiKind::Completion;
  o.prompt_logprobs = 1;
  std::vector<StreamEvent> events = one_generation();
  events.back().final->prompt_token_ids = {4, 3};
  events.back().final->prompt_logprobs = std::vector<std::map<int32_t, float>>{{}, {{3, -2.0f}, {1, -0.75f}}};
  events.back().final->prompt_token_ranks = {0, 7};
  ResponseBuilder whole(o, 1, token_text);
  for (const StreamEvent& e : events) EXPECT_FALSE(whole.add(e).has_value());
  const json plp = whole.response()["choices"][0]["prompt_logprobs"];
  ASSERT_EQ(plp.size(), 2u);
  EXPECT_EQ(plp[0], nullptr);
  EXPECT_EQ(plp[1]["1"], json({{"logprob", -0.75}, {"rank", 1}, {"decoded_token", " a"}}));
  EXPECT_EQ(plp[1]["3"], json({{"logprob", -2.0}, {"rank", 7}, {"decoded_token", "!"}}));
}

TEST(ResponseBuilder, CompletionStreamAddsUpToTheResponseWithEchoAndOffsets) {
  ResponseOptions o;
  o.kind = ApiKind::Completion;
  o.id = "cmpl-1";
  o.model = "m";
  o.logprobs = 1;
  o.echo = {"Hi"};
  o.include_usage = true;
  ResponseBuilder streamed(o, 1, token_text), whole(o, 1, token_text);
  std::string sse;
  for (const StreamEvent& e : one_generation()) {
    sse += streamed.sse(e);
    EXPECT_FALSE(whole.add(e).has_value());
  }
  ASSERT_TRUE(streamed.done() && whole.done());
  const json body = whole.response();
  const json& choice = body["choices"][0];
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(choice["text"], "Hi aé!");
  EXPECT_EQ(choice["logprobs"]["tokens"], json({" a", "é", "!"}));
  EXPECT_EQ(choice["logprobs"]["text_offset"], json({2, 4, 5})) << "characters, after the echoed prompt";
  EXPECT_EQ(choice["logprobs"]["token_logprobs"], json({-0.5, -0.25, -0.125}));
  EXPECT_EQ(choice["logprobs"]["top_logprobs"][0], json({{" a", -0.5}, {" b", -1.0}}));
  EXPECT_EQ(body["usage"], json({{"prompt_tokens", 4}, {"completion_tokens", 3}, {"total_tokens", 7}}));

  const std::vector<json> events = events_of(sse);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(events[events.size() - 2]["usage"], body["usage"]);
  EXPECT_TRUE(events[events.size() - 2]["choices"].empty());
  std::string text;
  json tokens = json::array(), offsets = json::array();
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    const json& c = events[i]["choices"][0];
    text += c["text"].get<std::string>();
    for (const json& t : c["logprobs"]["tokens"]) tokens.push_back(t);
    for (const json& t : c["logprobs"]["text_offset"]) offsets.push_back(t);
  }
  EXPECT_EQ(text, choice["text"]);
  EXPECT_EQ(tokens, choice["logprobs"]["tokens"]);
  EXPECT_EQ(offsets, choice["logprobs"]["text_offset"]);
  EXPECT_EQ(events[events.size() - 3]["choices"][0]["finish_reason"], "length");
}

TEST(ResponseBuilder, ChatOpensWithTheRoleAndRanksTopLogprobs) {
  ResponseOptions o;
  o.kind = ApiKind::Chat;
  o.id = "chatcmpl-1";
  o.model = "m";
  o.logprobs = 1;
  ResponseBuilder streamed(o, 1, token_text), whole(o, 1, token_text);
  std::string sse;
  for (const StreamEvent& e : one_generation()) {
    sse += streamed.sse(e);
    whole.add(e);
  }
  const json body = whole.response();
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["choices"][0]["message"], json({{"role", "assistant"}, {"content", " aé!"}}));
  const json& content = body["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 3u);
  EXPECT_EQ(content[1]["token"], "é");
  EXPECT_EQ(content[1]["bytes"], json({0xC3, 0xA9}));
  EXPECT_EQ(content[0]["top_logprobs"].size(), 1u);
  EXPECT_EQ(content[0]["top_logprobs"][0]["token"], " a") << "the most likely first";
  const std::vector<json> events = events_of(sse);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events[0]["object"], "chat.completion.chunk");
  EXPECT_EQ(events[0]["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  for (const json& e : events)
    if (e.is_object() && e["choices"][0]["delta"].contains("content")) text += e["choices"][0]["delta"]["content"];
  EXPECT_EQ(text, " aé!");
  EXPECT_FALSE(events[1]["choices"][0]["delta"].contains("role"));
}

TEST(ResponseBuilder, FailuresAndRejectedPrompts) {
  ResponseOptions o;
  ResponseBuilder b(o, 2, token_text);
  StreamEvent rejected = final_of(1, {}, "", std::nullopt, 3);
  rejected.final->error = "prompt too long";
  const std::optional<ApiError> e = b.add(rejected);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->status, 400);
  StreamEvent failed;
  failed.failure = "rank 1 died";
  ResponseBuilder s(o, 1, token_text);
  const std::vector<json> events = events_of(s.sse(failed));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["error"]["code"], 500);
  EXPECT_TRUE(s.done());
}

}  // namespace
