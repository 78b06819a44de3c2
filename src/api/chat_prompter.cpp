// ChatPrompter (see chat_prompter.h): inputs checked and turned into transformers' apply_chat_template call.
#include "api/chat_prompter.h"

#include <stdexcept>

#include "core/error.h"
#include "io/json_file.h"

namespace shardlm {

namespace {

using ojson = nlohmann::ordered_json;

ojson parse_json_arg(const std::string& text, const char* what) {
  try {
    // Through the depth-bounded parser, then kept in order (templates iterate objects in insertion order).
    nlohmann::json checked = parse_json_text(text.data(), text.size(), what);
    (void)checked;
    return ojson::parse(text);
  } catch (const std::exception& e) {
    throw std::invalid_argument(e.what());
  }
}

}  // namespace

ChatPrompter::ChatPrompter(const std::string& tokenizer_dir)
    : dir_(tokenizer_dir), special_tokens_(chat_template_special_tokens(read_tokenizer_config(tokenizer_dir))) {
  if (std::optional<std::string> text = find_chat_template(tokenizer_dir, "", false)) default_ = ChatTemplate::parse(*text);
  if (std::optional<std::string> text = find_chat_template(tokenizer_dir, "", true)) {
    if (default_ && *text == default_->source()) tool_use_ = default_;
    else tool_use_ = ChatTemplate::parse(*text);
  }
}

std::string ChatPrompter::render(const std::string& messages_json, const ChatOptions& options) const {
  return render(parse_json_arg(messages_json, "chat messages"), options);
}

std::string ChatPrompter::render(const ojson& messages, const ChatOptions& options) const {
  if (!messages.is_array() || messages.empty())
    throw std::invalid_argument("chat: a conversation must be a non-empty list of messages");
  for (size_t i = 0; i < messages.size(); ++i)
    if (!messages[i].is_object() || !messages[i].contains("role") || !messages[i]["role"].is_string())
      throw std::invalid_argument(str_cat("chat: message ", i, " must be an object with a string 'role'"));
  if (options.add_generation_prompt && options.continue_final_message)
    throw std::invalid_argument("chat: continue_final_message and add_generation_prompt cannot both be true");
  ChatTemplateInputs in;
  in.messages = messages;
  if (!options.tools_json.empty()) {
    in.tools = parse_json_arg(options.tools_json, "chat tools");
    if (!in.tools.is_array() && !in.tools.is_null()) throw std::invalid_argument("chat: tools must be a JSON list");
  }
  in.add_generation_prompt = options.add_generation_prompt;
  if (options.continue_final_message) in.continue_final_message = "content";
  in.kwargs = special_tokens_;
  if (!options.template_kwargs_json.empty()) {
    const ojson extra = parse_json_arg(options.template_kwargs_json, "chat template kwargs");
    if (!extra.is_object()) throw std::invalid_argument("chat: chat_template_kwargs must be a JSON object");
    for (const auto& [k, v] : extra.items()) in.kwargs[k] = v;
  }
  try {
    if (!options.chat_template.empty()) return ChatTemplate::parse(options.chat_template).apply(in);
    const bool with_tools = in.tools.is_array() && !in.tools.empty();
    const std::optional<ChatTemplate>& t = with_tools && tool_use_ ? tool_use_ : default_;
    if (!t)
      throw std::invalid_argument("chat: the tokenizer folder '" + dir_ +
                                  "' has no chat template (tokenizer_config.json 'chat_template' or chat_template.jinja); "
                                  "pass one as chat_template");
    return t->apply(in);
  } catch (const Error& e) {
    throw std::invalid_argument(e.what());
  }
}

}  // namespace shardlm
