// write_torchelastic_error_file writes the JSON layout torch.distributed.elastic's ErrorHandler uses.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

#include "distributed/error_file.h"

TEST(ErrorFile, WritesTorchelasticJson) {
  char path[] = "/tmp/shardlm-error-file-XXXXXX";
  int fd = ::mkstemp(path);
  ::close(fd);
  ::setenv("TORCHELASTIC_ERROR_FILE", path, 1);
  const long long before = (long long)std::time(nullptr);
  ASSERT_TRUE(shardlm::write_torchelastic_error_file("lost rank 1 during all_reduce: \"quoted\"\nline2"));
  ::unsetenv("TORCHELASTIC_ERROR_FILE");
  std::ifstream f(path);
  auto j = nlohmann::json::parse(f);
  EXPECT_EQ(j["message"]["message"], "lost rank 1 during all_reduce: \"quoted\"\nline2");
  ASSERT_TRUE(j["message"]["extraInfo"]["py_callstack"].is_string());
  ASSERT_TRUE(j["message"]["extraInfo"]["timestamp"].is_string());  // torch writes str(int(time.time()))
  long long ts = std::stoll(j["message"]["extraInfo"]["timestamp"].get<std::string>());
  EXPECT_GE(ts, before);
  EXPECT_LE(ts, before + 5);
  EXPECT_EQ(shardlm::read_torchelastic_error_file(path), "lost rank 1 during all_reduce: \"quoted\"\nline2");
  ::unlink(path);
}

TEST(ErrorFile, NoVariableNoFile) {
  ::unsetenv("TORCHELASTIC_ERROR_FILE");
  EXPECT_FALSE(shardlm::write_torchelastic_error_file("x"));
  EXPECT_EQ(shardlm::read_torchelastic_error_file("/nonexistent/error.json"), "");
}

TEST(ErrorFile, UnwritablePathIsOnlyAWarning) {
  ::setenv("TORCHELASTIC_ERROR_FILE", "/nonexistent-dir/sub/error.json", 1);
  EXPECT_FALSE(shardlm::write_torchelastic_error_file("x"));
  ::unsetenv("TORCHELASTIC_ERROR_FILE");
}
