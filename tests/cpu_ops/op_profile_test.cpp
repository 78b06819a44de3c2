// The op profiler on the CPU backend: with profiling on, ops are counted once each under a key naming the op
// and its shape class, results are unchanged, reset() clears, and the table is written to the named file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <cstring>
#include <unistd.h>

#include "core/tensor.h"
#include "kernel_test_util.h"
#include "ops/op_profile.h"
#include "ops/ops.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

struct ProfileOn {
  explicit ProfileOn(const std::string& where) { op_profile::configure(where); }
  ~ProfileOn() {
    op_profile::reset();
    op_profile::configure("");
  }
};

int64_t calls_of(const std::string& table, const std::string& key) {
  std::istringstream in(table);
  std::string line;
  while (std::getline(in, line)) {
    const size_t at = line.find("  " + key);
    if (at == std::string::npos || at + 2 + key.size() != line.size()) continue;
    std::istringstream fields(line);
    double ms;
    int64_t calls;
    fields >> ms >> calls;
    return calls;
  }
  return -1;
}

TEST(OpProfile, RowBucketsGroupSimilarSizes) {
  EXPECT_EQ(op_profile::rows_bucket(1), "=1");
  EXPECT_EQ(op_profile::rows_bucket(2), "<=8");
  EXPECT_EQ(op_profile::rows_bucket(9), "<=64");
  EXPECT_EQ(op_profile::rows_bucket(65), "<=128");
  EXPECT_EQ(op_profile::rows_bucket(2048), "<=2048");
  EXPECT_EQ(op_profile::rows_bucket(2049), "<=4096");
}

TEST(OpProfile, CountsEachOpUnderItsShapeKeyAndLeavesResultsAlone) {
  const int64_t M = 3, K = 16, N = 5;
  Tensor x = Tensor::from_f32(random_floats(M * K, 1), {M, K}), w = Tensor::from_f32(random_floats(N * K, 2), {N, K});
  Tensor plain = Tensor::empty({M, N}, DType::F32), profiled = Tensor::empty({M, N}, DType::F32);
  ops::linear(x, w, nullptr, plain);
  EXPECT_EQ(op_profile::report(), "");  // off: nothing timed
  {
    ProfileOn on("1");
    ops::linear(x, w, nullptr, profiled);
    ops::linear(x, w, nullptr, profiled);
    Tensor y = Tensor::empty({M, K}, DType::F32);
    Tensor g = Tensor::from_f32(random_floats(K, 3), {K});
    ops::rms_norm(x, g, 1e-5f, y);
    const std::string table = op_profile::report();
    EXPECT_EQ(calls_of(table, "linear M<=8 N=5 K=16"), 2) << table;
    EXPECT_EQ(calls_of(table, "rms_norm rows<=8"), 1) << table;
    op_profile::reset();
    EXPECT_EQ(op_profile::report(), "");
  }
  EXPECT_EQ(0, std::memcmp(plain.raw(), profiled.raw(), plain.nbytes()));
}

TEST(OpProfile, WritesTheTableToTheNamedFileOnce) {
  const auto path = std::filesystem::temp_directory_path() / ("op_profile_" + std::to_string(::getpid()) + ".txt");
  {
    ProfileOn on(path.string());
    Tensor x = Tensor::from_f32(random_floats(8, 4), {2, 4}), y = Tensor::from_f32(random_floats(8, 5), {2, 4});
    ops::add_inplace(x, y);
    op_profile::write_report();
    std::ifstream in(path);
    const std::string table((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(calls_of(table, "add rows<=8"), 1) << table;
    std::filesystem::remove(path);
    op_profile::write_report();  // already written: no second file
    EXPECT_FALSE(std::filesystem::exists(path));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
