// vLLM's spellings of flags that CLI11 cannot declare itself: multi-letter short flags (`-tp 2`, `-dp 2`,
// `-pp 1`, also as `-tp=2`) and underscores in long flags (`--max_model_len`), which vLLM's parser accepts as
// dashes. Rewritten to their canonical long forms before parsing; everything after a bare `--` is left alone.
#pragma once
#include <string>
#include <vector>

namespace shardlm::cli {

std::vector<std::string> canonical_flag_spellings(int argc, const char* const* argv);

}  // namespace shardlm::cli
