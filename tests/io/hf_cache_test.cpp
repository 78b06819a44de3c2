// resolve_model_path: local folders, hub ids in a fake cache tree, and the not-found message.
#include "io/hf_cache.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>

#include "temp_dir.h"
#include "test_util.h"

namespace shardlm {
namespace {

using testing::expect_error;
using testing::TempDir;

// Sets (or unsets, with nullopt) environment variables for one test and restores them afterwards.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, std::optional<std::string>>> vars) {
    for (const auto& [name, value] : vars) {
      const char* old = std::getenv(name);
      saved_.push_back({name, old ? std::optional<std::string>(old) : std::nullopt});
      if (value)
        setenv(name, value->c_str(), 1);
      else
        unsetenv(name);
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value)
        setenv(name.c_str(), value->c_str(), 1);
      else
        unsetenv(name.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST(HfCache, ExistingDirectoryIsReturnedAsIs) {
  TempDir dir;
  EXPECT_EQ(resolve_model_path(dir.path()), dir.path());
}

TEST(HfCache, RefsMainChoosesTheSnapshot) {
  TempDir home;
  ScopedEnv env({{"HF_HUB_CACHE", std::nullopt}, {"HF_HOME", home.path()}});
  const std::string repo = "hub/models--facebook--opt-125m";
  home.write(repo + "/refs/main", "abc123\n");
  home.write(repo + "/snapshots/abc123/config.json", "{}");
  home.write(repo + "/snapshots/zzz999/config.json", "{}");
  EXPECT_EQ(resolve_model_path("facebook/opt-125m"), home.file(repo + "/snapshots/abc123"));
}

TEST(HfCache, WithoutRefsTheOnlySnapshotIsUsed) {
  TempDir cache;
  ScopedEnv env({{"HF_HUB_CACHE", cache.path()}, {"HF_HOME", "/nonexistent"}});
  cache.write("models--gpt2/snapshots/e7da7f2/config.json", "{}");
  EXPECT_EQ(resolve_model_path("gpt2"), cache.file("models--gpt2/snapshots/e7da7f2"));
}

TEST(HfCache, DefaultsToHomeCache) {
  TempDir home;
  ScopedEnv env({{"HF_HUB_CACHE", std::nullopt},
                 {"HF_HOME", std::nullopt},
                 {"XDG_CACHE_HOME", std::nullopt},
                 {"HOME", home.path()}});
  home.write(".cache/huggingface/hub/models--org--m/snapshots/r1/config.json", "{}");
  EXPECT_EQ(resolve_model_path("org/m"), home.file(".cache/huggingface/hub/models--org--m/snapshots/r1"));
}

TEST(HfCache, NotFoundListsWhereItLooked) {
  TempDir home;
  ScopedEnv env({{"HF_HUB_CACHE", std::nullopt}, {"HF_HOME", home.path()}});
  expect_error([&] { resolve_model_path("meta-llama/Llama-3-8B"); },
               {"'meta-llama/Llama-3-8B' is not a directory",
                home.path() + "/hub/models--meta-llama--Llama-3-8B/snapshots/", "$HF_HOME/hub"});
  expect_error([&] { resolve_model_path("/no/such/folder"); }, {"'/no/such/folder' is not a directory", "hub id"});
}

}  // namespace
}  // namespace shardlm
