// TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing and Sequence post-processors (see
// post_processor.h). Only the single-sequence form matters: the engine never encodes pairs.
#include "tokenizer/post_processor.h"

#include "core/error.h"
#include "io/json_file.h"

namespace shardlm {
namespace {

namespace jf = json_fields;

// A template item: special ids, or (empty ids) the place of the sequence.
struct TemplateItem {
  bool is_sequence = false;
  std::vector<int32_t> special_ids;
};

class TemplatePostProcessor final : public PostProcessor {
 public:
  explicit TemplatePostProcessor(std::vector<TemplateItem> items) : items_(std::move(items)) {}
  std::vector<int32_t> process(std::vector<int32_t> ids, bool add_special_tokens) const override {
    if (!add_special_tokens) return ids;
    std::vector<int32_t> out;
    out.reserve(ids.size() + 4);
    for (const TemplateItem& item : items_) {
      if (item.is_sequence) {
        out.insert(out.end(), ids.begin(), ids.end());
      } else {
        out.insert(out.end(), item.special_ids.begin(), item.special_ids.end());
      }
    }
    return out;
  }

 private:
  std::vector<TemplateItem> items_;
};

// ByteLevel post-processing only trims offsets, which the engine does not use.
class IdentityPostProcessor final : public PostProcessor {
 public:
  std::vector<int32_t> process(std::vector<int32_t> ids, bool) const override { return ids; }
};

class SequencePostProcessor final : public PostProcessor {
 public:
  explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> steps) : steps_(std::move(steps)) {}
  std::vector<int32_t> process(std::vector<int32_t> ids, bool add_special_tokens) const override {
    for (const auto& step : steps_) ids = step->process(std::move(ids), add_special_tokens);
    return ids;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

std::vector<TemplateItem> parse_template(const jf::Json& config, const std::string& where) {
  const jf::Json& single = jf::require_array(config, "single", where);
  const std::string single_where = jf::child(where, "single");
  const jf::Json empty_object = jf::Json::object();
  const jf::Json& special_tokens = config.contains("special_tokens") ? jf::require_object(config, "special_tokens", where)
                                                                      : empty_object;
  std::vector<TemplateItem> items;
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string item_where = jf::child(single_where, i);
    const jf::Json& item = single[i];
    if (item.is_object() && item.contains("Sequence")) {
      items.push_back({true, {}});
    } else if (item.is_object() && item.contains("SpecialToken")) {
      const std::string name = jf::require_string(item["SpecialToken"], "id", jf::child(item_where, "SpecialToken"));
      auto it = special_tokens.find(name);
      if (it == special_tokens.end())
        fail(item_where, ": special token '", name, "' is not defined in ", jf::child(where, "special_tokens"));
      const std::string token_where = jf::child(jf::child(where, "special_tokens"), name);
      const jf::Json& ids = jf::require_array(*it, "ids", token_where);
      TemplateItem special;
      for (const jf::Json& id : ids) {
        if (!id.is_number_integer()) fail(jf::child(token_where, "ids"), ": expected integer ids, found ", json_excerpt(id));
        special.special_ids.push_back(id.get<int32_t>());
      }
      items.push_back(std::move(special));
    } else {
      fail(item_where, ": expected {\"Sequence\": ...} or {\"SpecialToken\": ...}, found ", json_excerpt(item));
    }
  }
  return items;
}

// RobertaProcessing / BertProcessing: "cls": [token, id], "sep": [token, id].
int32_t pair_id(const jf::Json& config, const std::string& key, const std::string& where) {
  const jf::Json& v = jf::require_array(config, key, where);
  if (v.size() != 2 || !v[1].is_number_integer())
    fail(jf::child(where, key), ": expected [token, id], found ", json_excerpt(v));
  return v[1].get<int32_t>();
}

}  // namespace

std::unique_ptr<PostProcessor> make_template_post_processor(std::vector<int32_t> before, std::vector<int32_t> after) {
  std::vector<TemplateItem> items;
  if (!before.empty()) items.push_back({false, std::move(before)});
  items.push_back({true, {}});
  if (!after.empty()) items.push_back({false, std::move(after)});
  return std::make_unique<TemplatePostProcessor>(std::move(items));
}

std::unique_ptr<PostProcessor> post_processor_from_json(const jf::Json& config, const std::string& where) {
  const std::string type = jf::type_of(config, where);
  if (type == "TemplateProcessing") return std::make_unique<TemplatePostProcessor>(parse_template(config, where));
  if (type == "ByteLevel") return std::make_unique<IdentityPostProcessor>();
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    // Roberta's single sequence is "<s> A </s>", Bert's "[CLS] A [SEP]": the same shape.
    return make_template_post_processor({pair_id(config, "cls", where)}, {pair_id(config, "sep", where)});
  }
  if (type == "Sequence") {
    const jf::Json& list = jf::require_array(config, "processors", where);
    std::vector<std::unique_ptr<PostProcessor>> steps;
    for (size_t i = 0; i < list.size(); ++i)
      steps.push_back(post_processor_from_json(list[i], jf::child(jf::child(where, "processors"), i)));
    return std::make_unique<SequencePostProcessor>(std::move(steps));
  }
  fail(jf::child(where, "type"), ": post-processor type '", type,
       "' is not supported (supported: TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence)");
}

}  // namespace shardlm
