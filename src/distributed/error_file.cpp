// Writing and reading torchelastic error files (format of torch.distributed.elastic's ErrorHandler).
#include "distributed/error_file.h"

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/env_vars.h"

namespace shardlm {

bool write_torchelastic_error_file(const std::string& message) {
  const std::optional<std::string> where = env_value("TORCHELASTIC_ERROR_FILE");
  if (!where) return false;
  const std::string& path = *where;
  try {
    nlohmann::json j;
    j["message"]["message"] = message;
    // torch stores a Python traceback here; a native worker has none, and torchrun prints this field.
    j["message"]["extraInfo"]["py_callstack"] = "(native shardlm worker: no Python traceback)\n" + message;
    j["message"]["extraInfo"]["timestamp"] = std::to_string((long long)std::time(nullptr));
    std::ofstream f(path, std::ios::trunc);
    f << j.dump();
    f.close();
    if (!f) {
      std::cerr << "shardlm: warning: could not write the error file " << path << "\n";
      return false;
    }
    return true;
  } catch (const std::exception& e) {
    std::cerr << "shardlm: warning: could not write the error file " << path << ": " << e.what() << "\n";
    return false;
  }
}

std::string read_torchelastic_error_file(const std::string& path) {
  try {
    std::ifstream f(path);
    if (!f) return "";
    auto j = nlohmann::json::parse(f);
    const auto& m = j.at("message");
    if (m.is_string()) return m.get<std::string>();
    return m.at("message").get<std::string>();
  } catch (const std::exception&) {
    return "";
  }
}

}  // namespace shardlm
