// Locating ../shared/fixtures. Tests that need it call SHARDLM_REQUIRE_FIXTURES(), which skips loudly
// when the folder is absent (in CI it is present and the tests run).
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

namespace shardlm::testing {

inline std::string fixtures_dir() {
  if (const char* env = std::getenv("SHARDLM_FIXTURES")) return env;
  return std::string(SHARDLM_SOURCE_DIR) + "/../shared/fixtures";
}

inline bool have_fixtures() { return std::filesystem::is_directory(fixtures_dir() + "/models"); }

inline std::string model_dir(const std::string& name) { return fixtures_dir() + "/models/" + name; }
inline std::string tokenizer_dir(const std::string& name) { return fixtures_dir() + "/tokenizers/" + name; }

// Directory where built programs live (build/bin).
inline std::string bin_dir() {
  if (const char* env = std::getenv("SHARDLM_BIN_DIR")) return env;
  return std::string(SHARDLM_BINARY_DIR) + "/bin";
}

}  // namespace shardlm::testing

#define SHARDLM_REQUIRE_FIXTURES()                                                                  \
  do {                                                                                              \
    if (!::shardlm::testing::have_fixtures()) {                                                     \
      std::cerr << "\n*** SKIPPING: test fixtures not found at " << ::shardlm::testing::fixtures_dir() \
                << " (clone ../shared beside the repository) ***\n";                               \
      GTEST_SKIP() << "fixtures absent: " << ::shardlm::testing::fixtures_dir();                    \
    }                                                                                               \
  } while (0)
