// Chat templates: a model folder's Jinja template (chat_template.jinja, additional_chat_templates/*.jinja or
// tokenizer_config.json's "chat_template") rendered byte for byte as transformers' apply_chat_template
// renders it (jinja2 with trim_blocks and lstrip_blocks, loop controls, raise_exception, strftime_now,
// transformers' tojson, the sandbox's refusal of mutating methods). The Jinja machinery is jinja_*.{h,cpp};
// chat_template.cpp only adds the model-folder lookup and apply_chat_template's handling of its inputs.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "tokenizer/tokenizer_config.h"

namespace shardlm {

namespace jinja {
struct Template;
}

struct ChatTemplateOptions {
  // The time strftime_now() formats, as Unix seconds shown in UTC (for reproducible output); unset: the
  // current local time, as transformers does.
  std::optional<int64_t> now;
};

// The arguments of one transformers `apply_chat_template(conversation, tools, documents,
// add_generation_prompt, continue_final_message, tokenize=False, **kwargs)` call.
struct ChatTemplateInputs {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();  // [{"role": ..., "content": ...}, ...]
  nlohmann::ordered_json tools;                                       // a list of JSON schemas, or null
  nlohmann::ordered_json documents;                                   // a list of {"title", "text"} objects, or null
  bool add_generation_prompt = false;
  // "" leaves the last message closed; otherwise the field of the last message the model will continue
  // ("content" is what transformers' continue_final_message=True means).
  std::string continue_final_message;
  // The other template variables: the special tokens (see chat_template_special_tokens) and extra keyword
  // arguments such as enable_thinking. An object.
  nlohmann::ordered_json kwargs = nlohmann::ordered_json::object();
};

// A template parsed once and rendered any number of times; render and apply are const and thread-safe.
class ChatTemplate {
 public:
  // Throws shardlm::Error naming the line and column of a syntax error.
  static ChatTemplate parse(const std::string& source);

  // Renders with the keys of `context` (a JSON object) as the template's variables. Throws shardlm::Error
  // for raise_exception() (with the template's message) and for runtime errors (naming the line).
  std::string render(const nlohmann::ordered_json& context, const ChatTemplateOptions& options = {}) const;

  // What apply_chat_template(..., tokenize=False) returns: messages lose their null-valued keys, reasoning
  // given as "reasoning_content", "thinking" or "reasoning" is offered under "reasoning_content" and
  // "thinking" as well, continue_final_message cuts the output after the last message's text, and the
  // template sees messages, tools, documents, add_generation_prompt and the kwargs.
  std::string apply(const ChatTemplateInputs& inputs, const ChatTemplateOptions& options = {}) const;

  const std::string& source() const { return *source_; }

 private:
  std::shared_ptr<const jinja::Template> tmpl_;
  std::shared_ptr<const std::string> source_;
};

// The model folder's chat template text, chosen as transformers' AutoTokenizer does: chat_template.jinja
// and additional_chat_templates/<name>.jinja when any exist, else tokenizer_config.json's "chat_template"
// (a string, or a list of {"name", "template"}). With several templates, `name` picks one; without a name,
// "tool_use" when `with_tools` and there is one, else "default". nullopt when the folder has no template;
// Error for unreadable files, a malformed "chat_template" field or a name that is not there.
std::optional<std::string> find_chat_template(const std::string& model_dir, const std::string& name = "",
                                              bool with_tools = false);

// The named special tokens transformers passes to every chat template ({"bos_token": "<s>", ...}): those of
// bos, eos, unk, sep, pad, cls and mask that the tokenizer config sets. Start ChatTemplateInputs::kwargs
// from this.
nlohmann::ordered_json chat_template_special_tokens(const TokenizerConfig& config);

}  // namespace shardlm
