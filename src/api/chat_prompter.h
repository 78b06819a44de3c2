// ChatPrompter: a model folder's chat templates, parsed once, and the special tokens transformers passes to
// them; renders a conversation into the prompt text that LLM::chat, the Python tokenizer's
// apply_chat_template and the server's /v1/chat/completions all use (so every entry point renders the same
// bytes).
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "shardlm/chat.h"
#include "tokenizer/chat_template.h"

namespace shardlm {

class ChatPrompter {
 public:
  // Reads the folder's templates (none is fine until a conversation needs one). Error for malformed files.
  explicit ChatPrompter(const std::string& tokenizer_dir);

  // The prompt text of `messages` (a JSON list of message objects). std::invalid_argument for malformed
  // input, a template that rejects the conversation (its raise_exception message) or a folder without a
  // template when `options` gives none.
  std::string render(const nlohmann::ordered_json& messages, const ChatOptions& options) const;
  std::string render(const std::string& messages_json, const ChatOptions& options) const;

 private:
  std::string dir_;
  nlohmann::ordered_json special_tokens_;
  std::optional<ChatTemplate> default_, tool_use_;
};

}  // namespace shardlm
