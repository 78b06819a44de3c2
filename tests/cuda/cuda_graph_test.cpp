// CUDA graphs through ops/graph.h: captured ops replay on new input values at fixed addresses; memory the
// captured work allocates comes from the graph's private pool, so tensors allocated after a capture never
// alias it (and replays never overwrite them); buckets share one pool; a capture that synchronises fails
// with an Error and leaves the stream usable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "cuda/cuda_test_util.h"
#include "ops/graph.h"
#include "ops/ops.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

GraphBackend& graphs() {
  GraphBackend* g = graph_backend_for(Device::CUDA);
  if (!g) throw Error("no CUDA graph backend although a GPU is present");
  return *g;
}

TEST(CudaGraph, ReplaysCapturedOpsOnNewInputValues) {
  SHARDLM_REQUIRE_GPU();
  const int64_t M = 4, K = 33, N = 19;
  Tensor w = random_f32({N, K}, DType::F32, 1, 0.3f);
  Tensor x_dev = Tensor::zeros({M, K}, DType::F32, Device::CUDA);
  Tensor w_dev = w.to(Device::CUDA);
  Tensor out = Tensor::zeros({M, N}, DType::F32, Device::CUDA);
  auto pool = graphs().create_pool();
  auto graph = graphs().capture(pool, [&] {
    Tensor y = Tensor::empty({M, N}, DType::F32, Device::CUDA);  // from the pool
    ops::linear(x_dev, w_dev, nullptr, y);
    ops::activation_inplace(y, Activation::Relu);
    out.copy_from(y);
  });
  for (uint32_t round = 0; round < 3; ++round) {
    Tensor x = random_f32({M, K}, DType::F32, 10 + round);
    x_dev.copy_from(x);
    graph->replay();
    Tensor want = Tensor::empty({M, N}, DType::F32);
    ops::linear(x, w, nullptr, want);
    ops::activation_inplace(want, Activation::Relu);
    EXPECT_LT(rel_error(out.to(Device::CPU), want), 1e-5) << "round " << round;
  }
}

TEST(CudaGraph, TensorsAllocatedAfterCaptureNeverAliasGraphMemory) {
  SHARDLM_REQUIRE_GPU();
  const std::vector<int64_t> sizes = {100, 4096, 5000, (int64_t{1} << 20) + 3, 777};
  std::set<const void*> graph_blocks;
  Tensor kept;  // allocated inside the capture, alive afterwards
  auto pool = graphs().create_pool();
  auto graph = graphs().capture(pool, [&] {
    for (int64_t n : sizes) {
      Tensor t = Tensor::empty({n}, DType::U8, Device::CUDA);
      t.zero_();  // the replay writes every block the capture allocated
      graph_blocks.insert(t.raw());
    }
    kept = Tensor::empty({4096}, DType::U8, Device::CUDA);
    kept.zero_();
    graph_blocks.insert(kept.raw());
  });
  EXPECT_GT(pool->bytes(), 0u);

  // Many tensors of the same sizes, alive together, and then churned: none may land on a graph block.
  std::vector<Tensor> after;
  for (int i = 0; i < 20; ++i)
    for (int64_t n : sizes) {
      Tensor t = Tensor::empty({n}, DType::U8, Device::CUDA);
      EXPECT_EQ(graph_blocks.count(t.raw()), 0u) << "a tensor of " << n << " bytes aliases graph memory";
      after.push_back(t);
    }
  for (size_t i = 0; i < after.size(); i += 2) after[i] = Tensor();  // back to the general cache
  for (int64_t n : sizes) {
    Tensor t = Tensor::empty({n}, DType::U8, Device::CUDA);
    EXPECT_EQ(graph_blocks.count(t.raw()), 0u) << "a reused block of " << n << " bytes aliases graph memory";
  }

  // Fill the survivors with a pattern; replays zero the graph's blocks and must leave them alone.
  for (size_t i = 1; i < after.size(); i += 2) {
    Tensor host = Tensor::empty(after[i].shape(), DType::U8);
    std::memset(host.raw(), 0x5a, host.nbytes());
    after[i].copy_from(host);
  }
  for (int r = 0; r < 3; ++r) graph->replay();
  for (size_t i = 1; i < after.size(); i += 2) {
    Tensor host = after[i].to(Device::CPU);
    const uint8_t* p = host.data<uint8_t>();
    ASSERT_TRUE(std::all_of(p, p + host.numel(), [](uint8_t b) { return b == 0x5a; })) << "tensor " << i;
  }
}

TEST(CudaGraph, GraphsShareTheirPoolAndBlocksGoBackToIt) {
  SHARDLM_REQUIRE_GPU();
  auto pool = graphs().create_pool();
  const void* first = nullptr;
  const void* second = nullptr;
  // The first graph's temporary is freed at the end of its capture: back to the pool, where the second
  // graph's capture finds it (they never run at the same time).
  auto g1 = graphs().capture(pool, [&] {
    Tensor t = Tensor::empty({3000}, DType::F32, Device::CUDA);
    t.zero_();
    first = t.raw();
  });
  auto g2 = graphs().capture(pool, [&] {
    Tensor t = Tensor::empty({3000}, DType::F32, Device::CUDA);
    t.zero_();
    second = t.raw();
  });
  EXPECT_EQ(first, second);
  Tensor outside = Tensor::empty({3000}, DType::F32, Device::CUDA);
  EXPECT_NE(outside.raw(), first);
  g1->replay();
  g2->replay();
  EXPECT_EQ(outside.to(Device::CPU).numel(), 3000);
}

TEST(CudaGraph, CaptureThatSynchronisesIsAnErrorAndTheStreamStillWorks) {
  SHARDLM_REQUIRE_GPU();
  Tensor x = Tensor::from_f32(random_values(64, 3), {64});
  Tensor x_dev = x.to(Device::CUDA);
  auto pool = graphs().create_pool();
  EXPECT_THROW(graphs().capture(pool, [&] { Tensor h = x_dev.to(Device::CPU); }), Error);
  EXPECT_THROW(graphs().capture(pool, [&] { throw Error("from the body"); }), Error);
  Tensor back = x_dev.clone().to(Device::CPU);
  EXPECT_EQ(std::memcmp(back.raw(), x.raw(), x.nbytes()), 0);
  // And a capture right after still works.
  Tensor y = Tensor::zeros({64}, DType::F32, Device::CUDA);
  auto graph = graphs().capture(pool, [&] { y.copy_from(x_dev); });
  graph->replay();
  back = y.to(Device::CPU);
  EXPECT_EQ(std::memcmp(back.raw(), x.raw(), x.nbytes()), 0);
}

}  // namespace
