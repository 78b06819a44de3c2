// The NCCL device group. One rank always (a one-process communicator over a stub CPU group); two ranks
// when two GPUs are visible: the test re-runs this binary as two child processes (fresh CUDA state each)
// joined by a socket pair that carries the NCCL id, and checks their collectives.
#include <gtest/gtest.h>

#include "cuda/cuda_test_util.h"

#if defined(SHARDLM_HAVE_CUDA) && defined(SHARDLM_HAVE_NCCL)
#include <cuda_runtime.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "ops/cuda/nccl_group.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

// A CPU "group" of one or two processes that can only move bytes (all the NCCL group asks of it here).
class SocketPairGroup final : public ProcessGroup {
 public:
  SocketPairGroup(int rank, int size, int fd) : rank_(rank), size_(size), fd_(fd) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "test-bytes"; }
  void all_reduce(Tensor&, ReduceOp) override { fail("stub group: no tensor collectives"); }
  void all_gather(const Tensor&, Tensor&) override { fail("stub group: no tensor collectives"); }
  void broadcast(Tensor&, int) override { fail("stub group: no tensor collectives"); }
  void barrier() override {}
  void broadcast_bytes(std::string& bytes, int root) override {
    if (size_ == 1) return;
    if (rank_ == root) {
      uint64_t n = bytes.size();
      write_all(&n, sizeof n);
      write_all(bytes.data(), n);
    } else {
      uint64_t n = 0;
      read_all(&n, sizeof n);
      bytes.resize(n);
      read_all(bytes.data(), n);
    }
  }
  std::vector<std::string> all_gather_bytes(const std::string& mine) override {
    if (size_ == 1) return {mine};
    std::string a = mine, b = mine;
    broadcast_bytes(a, 0);
    broadcast_bytes(b, 1);
    return {a, b};
  }

 private:
  void write_all(const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n) {
      ssize_t w = ::write(fd_, c, n);
      if (w <= 0) fail("socket write failed");
      c += w;
      n -= (size_t)w;
    }
  }
  void read_all(void* p, size_t n) {
    char* c = static_cast<char*>(p);
    while (n) {
      ssize_t r = ::read(fd_, c, n);
      if (r <= 0) fail("socket read failed");
      c += r;
      n -= (size_t)r;
    }
  }
  int rank_, size_, fd_;
};

Tensor filled(int64_t n, float value, DType dt) {
  std::vector<float> v((size_t)n, value);
  return Tensor::from_f32(v, {n}).to_dtype(dt).to(Device::CUDA);
}

TEST(NcclGroup, SingleRankCollectivesAreIdentities) {
  SHARDLM_REQUIRE_GPU();
  auto cpu = std::make_shared<SocketPairGroup>(0, 1, -1);
  auto g = make_nccl_group(cpu, 0);
  EXPECT_EQ(g->backend(), "nccl");
  EXPECT_EQ(g->size(), 1);
  Tensor x = filled(1000, 1.5f, DType::BF16);
  g->all_reduce(x, ReduceOp::Sum);
  EXPECT_EQ(to_cpu_f32(x).data<float>()[999], 1.5f);
  Tensor out = Tensor::empty({1000}, DType::BF16, Device::CUDA);
  g->all_gather(x, out);
  EXPECT_EQ(to_cpu_f32(out).data<float>()[0], 1.5f);
  g->broadcast(x, 0);
  g->barrier();
  EXPECT_THROW(g->broadcast(x, 1), Error);
}

// Run as a child: rank r of two, on GPU r.
TEST(NcclGroup, TwoRankChild) {
  const char* rank_env = std::getenv("SHARDLM_NCCL_TEST_RANK");
  if (!rank_env) GTEST_SKIP() << "only runs as a child of TwoRanksOnTwoGpus";
  const int rank = std::atoi(rank_env);
  const int fd = std::atoi(std::getenv("SHARDLM_NCCL_TEST_FD"));
  auto cpu = std::make_shared<SocketPairGroup>(rank, 2, fd);
  auto g = make_nccl_group(cpu, rank);
  ASSERT_EQ(g->rank(), rank);
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    Tensor x = filled(4099, (float)(rank + 1), dt);  // 1 on rank 0, 2 on rank 1
    g->all_reduce(x, ReduceOp::Sum);
    Tensor xs = to_cpu_f32(x);
    EXPECT_EQ(xs.data<float>()[0], 3.f);
    EXPECT_EQ(xs.data<float>()[4098], 3.f);
    g->all_reduce(x = filled(7, (float)rank, dt), ReduceOp::Max);
    EXPECT_EQ(to_cpu_f32(x).data<float>()[6], 1.f);
    Tensor mine = filled(5, (float)(10 * rank + 1), dt);
    Tensor all = Tensor::empty({10}, dt, Device::CUDA);
    g->all_gather(mine, all);
    Tensor a = to_cpu_f32(all);
    EXPECT_EQ(a.data<float>()[4], 1.f);   // rank 0's block first
    EXPECT_EQ(a.data<float>()[5], 11.f);  // then rank 1's
    Tensor b = filled(3, (float)(rank + 7), dt);
    g->broadcast(b, 1);
    EXPECT_EQ(to_cpu_f32(b).data<float>()[2], 8.f);
  }
  g->barrier();
}

TEST(NcclGroup, TwoRanksOnTwoGpus) {
  SHARDLM_REQUIRE_GPU();
  if (std::getenv("SHARDLM_NCCL_TEST_RANK")) GTEST_SKIP() << "child process";
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices < 2) GTEST_SKIP() << "needs two GPUs";
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  pid_t pids[2];
  for (int r = 0; r < 2; ++r) {
    pids[r] = fork();
    ASSERT_GE(pids[r], 0);
    if (pids[r] == 0) {
      // Exec a fresh copy of this binary: CUDA state does not survive fork().
      setenv("SHARDLM_NCCL_TEST_RANK", std::to_string(r).c_str(), 1);
      setenv("SHARDLM_NCCL_TEST_FD", std::to_string(sv[r]).c_str(), 1);
      close(sv[1 - r]);
      execl("/proc/self/exe", "test_cuda", "--gtest_filter=NcclGroup.TwoRankChild", (char*)nullptr);
      _exit(127);
    }
  }
  close(sv[0]);
  close(sv[1]);
  for (int r = 0; r < 2; ++r) {
    int status = 0;
    ASSERT_EQ(waitpid(pids[r], &status, 0), pids[r]);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "rank " << r << " status " << status;
  }
}

}  // namespace

#endif  // SHARDLM_HAVE_CUDA && SHARDLM_HAVE_NCCL
