// The registry of environment variables: reads go through it, it refuses names it does not list, and the code
// and the README cannot fall behind it (the source tree is scanned).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "core/env_vars.h"
#include "core/error.h"

using namespace shardlm;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<fs::path> sources(const std::vector<std::string>& dirs) {
  std::vector<fs::path> out;
  for (const auto& d : dirs)
    for (const auto& e : fs::recursive_directory_iterator(fs::path(SHARDLM_SOURCE_DIR) / d)) {
      const std::string ext = e.path().extension().string();
      if (ext == ".cpp" || ext == ".h" || ext == ".cu" || ext == ".cuh") out.push_back(e.path());
    }
  return out;
}

TEST(EnvVars, ValuesAreReadThroughTheTable) {
  ::setenv("SHARDLM_PROFILE_OPS", "", 1);
  EXPECT_EQ(env_value("SHARDLM_PROFILE_OPS"), std::nullopt);  // empty counts as unset
  ::setenv("SHARDLM_DIST_TIMEOUT", "12", 1);
  EXPECT_EQ(env_value("SHARDLM_DIST_TIMEOUT"), "12");
  ::unsetenv("SHARDLM_DIST_TIMEOUT");
  ::unsetenv("SHARDLM_PROFILE_OPS");
  EXPECT_EQ(env_value("SHARDLM_DIST_TIMEOUT"), std::nullopt);
}

TEST(EnvVars, AnUnlistedNameIsAnError) {
  try {
    env_value("SHARDLM_NO_SUCH_VARIABLE");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("SHARDLM_NO_SUCH_VARIABLE"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("env_vars.cpp"), std::string::npos);
  }
}

TEST(EnvVars, NamesAreUniqueAndDescribed) {
  std::set<std::string> seen;
  for (const EnvVarInfo& v : env_vars()) {
    EXPECT_TRUE(seen.insert(v.name).second) << v.name;
    EXPECT_TRUE(std::string(v.group) == "shardlm" || std::string(v.group) == "launcher" ||
                std::string(v.group) == "system")
        << v.name;
    EXPECT_GT(std::string(v.meaning).size(), 10u) << v.name;
  }
}

TEST(EnvVars, NoCodeReadsTheEnvironmentBehindTheTable) {
  const std::regex quoted("\"(SHARDLM_[A-Z0-9_]+)\"");
  for (const fs::path& p : sources({"src", "tools", "python/src"})) {
    const std::string text = read_text(p);
    if (p.filename() != "env_vars.cpp") EXPECT_EQ(text.find("getenv("), std::string::npos) << p;
    for (std::sregex_iterator it(text.begin(), text.end(), quoted), end; it != end; ++it)
      EXPECT_TRUE(is_registered_env_var((*it)[1])) << (*it)[1] << " in " << p;
  }
}

TEST(EnvVars, TheReadmeListsEveryShardlmVariable) {
  const std::string readme = read_text(fs::path(SHARDLM_SOURCE_DIR) / "README.md");
  for (const EnvVarInfo& v : env_vars())
    if (std::string(v.group) == "shardlm")
      EXPECT_NE(readme.find(v.name), std::string::npos) << v.name << " is not in README.md";
}

}  // namespace
