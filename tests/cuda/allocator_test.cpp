// The CUDA allocator through Tensor: host<->device copies, zeros, device-to-device copies of views, block
// reuse under churn, and an impossible allocation reported as an Error.
#include <gtest/gtest.h>

#include <cstring>

#include "cuda/cuda_test_util.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

TEST(CudaAllocator, HostDeviceRoundTripIsExact) {
  SHARDLM_REQUIRE_GPU();
  Tensor h = Tensor::from_f32(random_values(12345, 1), {12345});
  Tensor back = h.to(Device::CUDA).to(Device::CPU);
  ASSERT_EQ(back.device(), Device::CPU);
  EXPECT_EQ(std::memcmp(back.raw(), h.raw(), h.nbytes()), 0);
}

TEST(CudaAllocator, ZerosAreZero) {
  SHARDLM_REQUIRE_GPU();
  Tensor z = Tensor::zeros({3, 1000}, DType::BF16, Device::CUDA).to(Device::CPU);
  for (int64_t i = 0; i < z.numel(); ++i) ASSERT_EQ(z.data<uint16_t>()[i], 0) << i;
}

TEST(CudaAllocator, ViewsCopyBetweenDevices) {
  SHARDLM_REQUIRE_GPU();
  Tensor h = Tensor::from_f32(random_values(40, 2), {8, 5});
  Tensor d = h.to(Device::CUDA);
  Tensor rows = d.slice_rows(2, 3).clone();  // device-to-device copy of a view
  Tensor back = rows.to(Device::CPU);
  EXPECT_EQ(std::memcmp(back.raw(), h.data<float>() + 10, 15 * sizeof(float)), 0);
  Tensor into = Tensor::zeros({3, 5}, DType::F32, Device::CUDA);
  into.copy_from(h.slice_rows(5, 3));  // host view -> device
  back = into.to(Device::CPU);
  EXPECT_EQ(std::memcmp(back.raw(), h.data<float>() + 25, 15 * sizeof(float)), 0);
}

TEST(CudaAllocator, FreedBlocksAreReusedWithoutCorruption) {
  SHARDLM_REQUIRE_GPU();
  // Churn through sizes that share rounding classes; every tensor must keep its own contents.
  for (int round = 0; round < 50; ++round) {
    std::vector<Tensor> live;
    for (int i = 1; i <= 8; ++i) {
      int64_t n = 100 * i + round;
      Tensor h = Tensor::from_f32(random_values((size_t)n, (uint32_t)(round * 10 + i)), {n});
      live.push_back(h.to(Device::CUDA));
    }
    for (int i = 1; i <= 8; ++i) {
      int64_t n = 100 * i + round;
      Tensor want = Tensor::from_f32(random_values((size_t)n, (uint32_t)(round * 10 + i)), {n});
      Tensor got = live[(size_t)i - 1].to(Device::CPU);
      ASSERT_EQ(std::memcmp(got.raw(), want.raw(), want.nbytes()), 0) << "round " << round << " tensor " << i;
    }
  }
}

TEST(CudaAllocator, ImpossibleAllocationIsAnError) {
  SHARDLM_REQUIRE_GPU();
  EXPECT_THROW(Tensor::empty({int64_t{1} << 50}, DType::U8, Device::CUDA), Error);
  // The device is still usable afterwards.
  Tensor ok = Tensor::zeros({16}, DType::F32, Device::CUDA).to(Device::CPU);
  EXPECT_EQ(ok.data<float>()[15], 0.f);
}

}  // namespace
