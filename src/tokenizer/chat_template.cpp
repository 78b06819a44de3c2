// Chat templates: model-folder lookup and apply_chat_template's input handling (see chat_template.h).
#include "tokenizer/chat_template.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"
#include "io/json_file.h"
#include "tokenizer/jinja_eval.h"
#include "tokenizer/jinja_parser.h"
#include "tokenizer/jinja_pystr.h"

namespace shardlm {

namespace fs = std::filesystem;

ChatTemplate ChatTemplate::parse(const std::string& source) {
  ChatTemplate t;
  t.tmpl_ = jinja::parse_template(source);
  t.source_ = std::make_shared<const std::string>(source);
  return t;
}

std::string ChatTemplate::render(const nlohmann::ordered_json& context, const ChatTemplateOptions& options) const {
  if (!context.is_object())
    fail("chat template: the render context must be a JSON object, got ", json_excerpt(context));
  jinja::RenderOptions ro;
  ro.now = options.now;
  jinja::Interpreter interpreter(*tmpl_, ro);
  return interpreter.render(jinja::Value::from_json(context));
}

namespace {

constexpr const char* kContinueTag = "CONTINUE_FINAL_MESSAGE_TAG ";
const char* const kReasoningFields[] = {"reasoning_content", "thinking", "reasoning"};

bool is_reasoning_field(const std::string& f) {
  return std::any_of(std::begin(kReasoningFields), std::end(kReasoningFields), [&](const char* r) { return f == r; });
}

// transformers' _alias_reasoning_fields: {"thinking": r, **message, "reasoning_content": r}.
nlohmann::ordered_json alias_reasoning(const nlohmann::ordered_json& message) {
  const nlohmann::ordered_json* reasoning = nullptr;
  for (const char* f : kReasoningFields) {
    auto it = message.find(f);
    if (it != message.end() && !it->is_null()) {
      reasoning = &*it;
      break;
    }
  }
  if (!reasoning) return message;
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  out["thinking"] = *reasoning;
  for (auto it = message.begin(); it != message.end(); ++it) out[it.key()] = it.value();
  out["reasoning_content"] = *reasoning;
  return out;
}

std::string py_strip(const std::string& s) { return jinja::pystr::strip(s, std::nullopt, true, true); }

}  // namespace

std::string ChatTemplate::apply(const ChatTemplateInputs& inputs, const ChatTemplateOptions& options) const {
  const nlohmann::ordered_json& conversation = inputs.messages;
  if (!conversation.is_array()) fail("chat template: messages must be a list, got ", json_excerpt(conversation));
  if (conversation.empty()) fail("Cannot apply chat template to an empty conversation. Provide at least one message.");
  if (!inputs.continue_final_message.empty() && inputs.add_generation_prompt)
    fail(
        "continue_final_message and add_generation_prompt are not compatible. Use continue_final_message when you "
        "want the model to continue the final message, and add_generation_prompt when you want to add a header "
        "that will prompt it to start a new assistant message instead.");
  if (!inputs.kwargs.is_object())
    fail("chat template: kwargs must be a JSON object, got ", json_excerpt(inputs.kwargs));

  // Drop null-valued keys (transformers' _normalize_chat_messages), then alias the reasoning fields.
  nlohmann::ordered_json chat = nlohmann::ordered_json::array();
  for (size_t i = 0; i < conversation.size(); ++i) {
    const auto& m = conversation[i];
    if (!m.is_object())
      fail("Chat messages should be dicts, dataclasses or pydantic models, but got ", json_excerpt(m), " (message ", i,
           ")");
    nlohmann::ordered_json kept = nlohmann::ordered_json::object();
    for (auto it = m.begin(); it != m.end(); ++it)
      if (!it.value().is_null()) kept[it.key()] = it.value();
    chat.push_back(alias_reasoning(kept));
  }

  std::optional<std::string> final_message;
  if (!inputs.continue_final_message.empty()) {
    const std::string& field = inputs.continue_final_message;
    nlohmann::ordered_json& last = chat.back();
    auto it = last.find(field);
    if (it == last.end() || it->is_null())
      fail("continue_final_message is set but the final message has no \"", field, "\" to continue!");
    const nlohmann::ordered_json final_value = *it;
    std::vector<std::string> fields{field};
    if (is_reasoning_field(field)) {
      fields.clear();
      for (const char* f : kReasoningFields) {
        auto r = last.find(f);
        if (r != last.end() && *r == final_value) fields.push_back(f);
      }
    }
    if (!std::any_of(fields.begin(), fields.end(),
                     [&](const std::string& f) { return source_->find(f) != std::string::npos; }))
      fail("continue_final_message is set to \"", field, "\" but this is not an accepted field in the chat_template");
    if (final_value.is_array()) {
      bool found = false;
      for (auto block = it->rbegin(); block != it->rend(); ++block) {
        const bool has_text = block->is_object()
                                  ? block->contains("text")
                                  : block->is_string() && block->get<std::string>().find("text") != std::string::npos;
        if (!has_text) continue;
        if (!block->is_object() || !(*block)["text"].is_string())
          fail("continue_final_message: the last text block of the final message is not a {\"text\": string} object");
        final_message = (*block)["text"].get<std::string>();
        (*block)["text"] = *final_message + kContinueTag;
        found = true;
        break;
      }
      if (!found)
        fail("continue_final_message is set but we could not find any text to continue in the final message!");
    } else {
      if (!final_value.is_string())
        fail("continue_final_message: the final message's \"", field,
             "\" must be a string or a list of content blocks");
      final_message = final_value.get<std::string>();
      for (const std::string& f : fields) {
        if (!last[f].is_string()) fail("continue_final_message: the final message's \"", f, "\" is not a string");
        last[f] = last[f].get<std::string>() + kContinueTag;
      }
    }
  }

  nlohmann::ordered_json context = nlohmann::ordered_json::object();
  for (const char* reserved : {"messages", "tools", "documents", "add_generation_prompt"})
    if (inputs.kwargs.contains(reserved))
      fail("chat template: kwargs may not set '", reserved, "' (it is a separate input)");
  context["messages"] = std::move(chat);
  context["tools"] = inputs.tools;
  context["documents"] = inputs.documents;
  context["add_generation_prompt"] = inputs.add_generation_prompt;
  for (auto it = inputs.kwargs.begin(); it != inputs.kwargs.end(); ++it) context[it.key()] = it.value();

  std::string rendered = render(context, options);
  if (final_message) {
    const std::string tag = kContinueTag;
    const std::string tag_stripped = py_strip(tag);
    if (rendered.find(py_strip(*final_message)) == std::string::npos ||
        rendered.find(tag_stripped) == std::string::npos)
      fail(
          "continue_final_message is set but the final message does not appear in the chat after applying the chat "
          "template! This can happen if the chat template deletes portions of the final message. Please verify "
          "the chat template and final message in your chat to ensure they are compatible.");
    const size_t at = rendered.rfind(tag_stripped);
    if (rendered.compare(at, tag.size(), tag) == 0) {
      rendered.resize(at);
    } else {
      rendered = jinja::pystr::strip(rendered.substr(0, at), std::nullopt, false, true);
    }
  }
  return rendered;
}

namespace {

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("chat template: cannot read '", path.string(), "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail("chat template: error reading '", path.string(), "'");
  return ss.str();
}

}  // namespace

std::optional<std::string> find_chat_template(const std::string& model_dir, const std::string& name, bool with_tools) {
  const fs::path dir(model_dir);
  std::map<std::string, std::string> templates;  // name -> text
  bool single = false;                           // one template given as a plain string / chat_template.jinja only
  std::string origin;
  std::error_code ec;
  if (fs::is_regular_file(dir / "chat_template.jinja", ec))
    templates["default"] = read_text_file(dir / "chat_template.jinja");
  if (fs::is_directory(dir / "additional_chat_templates", ec)) {
    for (const auto& entry : fs::directory_iterator(dir / "additional_chat_templates", ec)) {
      const fs::path& p = entry.path();
      if (entry.is_regular_file(ec) && p.extension() == ".jinja") templates[p.stem().string()] = read_text_file(p);
    }
  }
  if (!templates.empty()) {
    single = templates.size() == 1 && templates.count("default");
    origin = (dir / "chat_template.jinja").string();
  } else {
    const fs::path config = dir / "tokenizer_config.json";
    if (!fs::is_regular_file(config, ec)) return std::nullopt;
    const nlohmann::json j = read_json_file(config.string(), "tokenizer config");
    origin = config.string();
    if (!j.is_object() || !j.contains("chat_template") || j["chat_template"].is_null()) return std::nullopt;
    const nlohmann::json& t = j["chat_template"];
    if (t.is_string()) {
      templates["default"] = t.get<std::string>();
      single = true;
    } else if (t.is_array()) {
      for (size_t i = 0; i < t.size(); ++i) {
        const auto& e = t[i];
        if (!e.is_object() || !e.contains("name") || !e["name"].is_string() || !e.contains("template") ||
            !e["template"].is_string())
          fail("tokenizer config: '", config.string(), "': chat_template[", i,
               "] must be an object with string fields \"name\" and \"template\", found ", json_excerpt(e));
        templates[e["name"].get<std::string>()] = e["template"].get<std::string>();
      }
      if (templates.empty()) return std::nullopt;
    } else {
      fail("tokenizer config: '", config.string(),
           "': chat_template must be a string or a list of {\"name\", "
           "\"template\"} objects, found ",
           json_excerpt(t));
    }
  }
  auto names = [&] {
    std::string list;
    for (const auto& [k, v] : templates) list += (list.empty() ? "'" : ", '") + k + "'";
    return list;
  };
  if (single) {
    if (!name.empty() && name != "default")
      fail("chat template: '", model_dir, "' has one chat template; there is none named '", name, "'");
    return templates.begin()->second;
  }
  if (!name.empty()) {
    auto it = templates.find(name);
    if (it == templates.end())
      fail("chat template: '", model_dir, "' has no chat template named '", name, "' (it has ", names(), ")");
    return it->second;
  }
  if (with_tools && templates.count("tool_use")) return templates["tool_use"];
  if (templates.count("default")) return templates["default"];
  fail("chat template: '", origin, "' has several chat templates and none is named 'default'; pick one of ", names());
}

nlohmann::ordered_json chat_template_special_tokens(const TokenizerConfig& config) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  const std::pair<const char*, const std::optional<AddedToken>*> fields[] = {
      {"bos_token", &config.bos_token},  {"eos_token", &config.eos_token}, {"unk_token", &config.unk_token},
      {"sep_token", &config.sep_token},  {"pad_token", &config.pad_token}, {"cls_token", &config.cls_token},
      {"mask_token", &config.mask_token}};
  for (const auto& [key, token] : fields)
    if (*token) out[key] = (*token)->content;
  return out;
}

}  // namespace shardlm
