// Chat: conversations rendered into prompts by the model's chat template (the Jinja template of its
// tokenizer_config.json or chat_template.jinja), byte for byte as transformers' apply_chat_template renders it.
// A conversation is JSON text: a list of messages as chat templates read them, e.g.
//   [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
// (with "tool_calls", "reasoning_content", ... where the template uses them).
#pragma once
#include <string>

namespace shardlm {

struct ChatOptions {
  std::string chat_template;          // a template's text to use instead of the model's; "" for the model's
  bool add_generation_prompt = true;  // end with the template's opening of the assistant's turn
  bool continue_final_message = false;  // leave the last message open for the model to continue
  std::string tools_json;             // a JSON list of tool schemas shown to the template, or "" for none
  std::string template_kwargs_json;   // a JSON object of extra template variables (enable_thinking, ...), or ""
};

}  // namespace shardlm
