// LLM::chat and LLM::apply_chat_template (the C++ side of chat; rendering itself is tested against
// transformers in tests/tokenizer and python/tests/test_chat.py): chat equals generate on the rendered prompt
// tokenized without added special tokens, the template's options and variables reach it, and malformed
// conversations or a template's raise_exception are std::invalid_argument naming the problem.
#include <gtest/gtest.h>

#include "engine_util.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

constexpr const char* kTemplate =
    "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"
    "{% if tools %}tools: {{ tools | length }}\n{% endif %}{% if flag is defined %}flag={{ flag }}\n{% endif %}"
    "{% if add_generation_prompt %}[assistant]{% endif %}";

TEST(Chat, ChatEqualsGenerateOnTheRenderedPrompt) {
  SHARDLM_REQUIRE_FIXTURES();
  EngineArgs a = cpu_args("tiny-llama");
  LLM llm(a);
  ChatOptions o;
  o.chat_template = kTemplate;
  o.tools_json = R"([{"type": "function"}])";
  o.template_kwargs_json = R"({"flag": true})";
  const std::string conv = R"([{"role": "user", "content": "Hello there"}])";
  const std::string text = llm.apply_chat_template(conv, o);
  EXPECT_EQ(text, "<s>[user] Hello there\ntools: 1\nflag=True\n[assistant]");
  const auto want = llm.generate({Prompt::from_token_ids(llm.encode(text, false))}, greedy(6), false);
  const auto got = llm.chat({conv}, greedy(6), o, false);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].outputs[0].token_ids, want[0].outputs[0].token_ids);
  EXPECT_EQ(got[0].prompt, text);
  EXPECT_EQ(got[0].prompt_token_ids, llm.encode(text, false)) << "no second BOS: the template wrote it";

  o.add_generation_prompt = false;
  o.continue_final_message = true;
  EXPECT_EQ(llm.apply_chat_template(R"([{"role": "assistant", "content": "Sure, "}])", o), "<s>[assistant] Sure, ");
}

TEST(Chat, BadConversationsAndTemplateErrors) {
  SHARDLM_REQUIRE_FIXTURES();
  LLM llm(cpu_args("tiny-llama"));
  ChatOptions o;
  o.chat_template = "{{ raise_exception('roles must alternate') }}";
  auto message_of = [&](const std::string& conv, const ChatOptions& opts) -> std::string {
    try {
      llm.apply_chat_template(conv, opts);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_NE(message_of(R"([{"role": "user", "content": "a"}])", o).find("roles must alternate"), std::string::npos);
  o.chat_template = kTemplate;
  EXPECT_NE(message_of("[", o).find("chat messages"), std::string::npos);
  EXPECT_NE(message_of("[]", o).find("non-empty"), std::string::npos);
  EXPECT_NE(message_of(R"([{"content": "a"}])", o).find("'role'"), std::string::npos);
  o.continue_final_message = true;
  EXPECT_NE(message_of(R"([{"role": "user", "content": "a"}])", o).find("cannot both"), std::string::npos);
  EXPECT_NE(message_of(R"([{"role": "user", "content": "a"}])", ChatOptions{}).find("no chat template"), std::string::npos)
      << "tiny-llama ships none";
}

}  // namespace
