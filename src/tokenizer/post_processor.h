// Post-processors of tokenizer.json ("post_processor"): add the special tokens (BOS/EOS/CLS/SEP)
// around an encoded sequence when add_special_tokens is true.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/json_fields.h"

namespace shardlm {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual std::vector<int32_t> process(std::vector<int32_t> ids, bool add_special_tokens) const = 0;
};

std::unique_ptr<PostProcessor> post_processor_from_json(const json_fields::Json& config, const std::string& where);

// A single-sequence template: `before` + ids + `after`.
std::unique_ptr<PostProcessor> make_template_post_processor(std::vector<int32_t> before, std::vector<int32_t> after);

}  // namespace shardlm
