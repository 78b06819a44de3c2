#include "vllm_spellings.h"

#include <map>

namespace shardlm::cli {

namespace {

const std::map<std::string, std::string>& short_aliases() {
  static const std::map<std::string, std::string> m = {{"-tp", "--tensor-parallel-size"},
                                                       {"-dp", "--data-parallel-size"},
                                                       {"-pp", "--pipeline-parallel-size"}};
  return m;
}

std::string canonical(const std::string& arg) {
  const size_t eq = arg.find('=');
  const std::string name = arg.substr(0, eq);
  const std::string rest = eq == std::string::npos ? "" : arg.substr(eq);
  if (auto it = short_aliases().find(name); it != short_aliases().end()) return it->second + rest;
  if (name.size() > 2 && name.compare(0, 2, "--") == 0 && name[2] != '-') {
    std::string dashed = name;
    for (size_t i = 2; i < dashed.size(); ++i)
      if (dashed[i] == '_') dashed[i] = '-';
    return dashed + rest;
  }
  return arg;
}

}  // namespace

std::vector<std::string> canonical_flag_spellings(int argc, const char* const* argv) {
  std::vector<std::string> out;
  bool positional_only = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (i > 0 && !positional_only) {
      if (arg == "--") positional_only = true;
      else arg = canonical(arg);
    }
    out.push_back(std::move(arg));
  }
  return out;
}

}  // namespace shardlm::cli
