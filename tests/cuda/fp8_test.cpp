// The CUDA FP8 ops against the CPU reference (ops/cpu/linear_fp8.cpp): activation quantisation (bit-exact
// codes and scales from identical inputs) and linear_fp8 for per-row (per-tensor / per-channel) weight scales
// with every activation scheme, and 128x128 blocks with per-group activations, at odd and real sizes.
#include <gtest/gtest.h>

#include <cstring>

#include "cuda/cuda_test_util.h"
#include "layers/fp8_linear.h"
#include "ops/ops.h"

namespace shardlm::testing {
namespace {

// An FP8 weight [N, K] quantised from random values by the loader's own rule, on `dev`.
Fp8Weight random_fp8_weight(int64_t N, int64_t K, Fp8WeightScales scales, Fp8ActQuant act, uint32_t seed, Device dev) {
  std::vector<float> w = random_values((size_t)(N * K), seed, 0.05f);
  std::vector<uint8_t> q((size_t)(N * K));
  std::vector<float> s;
  const int64_t block = scales == Fp8WeightScales::Block ? 128 : 0;
  quantize_fp8_weight(w.data(), N, K, scales, block, block, q.data(), s);
  Fp8Weight f;
  f.weight = Tensor::empty({N, K}, DType::F8E4M3);
  std::memcpy(f.weight.raw(), q.data(), q.size());
  f.scale = block ? Tensor::from_f32(s, {(N + 127) / 128, (K + 127) / 128}) : Tensor::from_f32(s, {N});
  f.block_n = f.block_k = block;
  f.act = act;
  if (act == Fp8ActQuant::StaticPerTensor) f.input_scale = Tensor::from_f32({0.01f}, {1});
  if (dev == Device::CUDA) {
    f.weight = f.weight.to(Device::CUDA);
    f.scale = f.scale.to(Device::CUDA);
    if (f.input_scale.defined()) f.input_scale = f.input_scale.to(Device::CUDA);
  }
  return f;
}

struct Case {
  int64_t M, N, K;
  Fp8WeightScales scales;
  Fp8ActQuant act;
};

class Fp8LinearTest : public ::testing::TestWithParam<Case> {};

TEST_P(Fp8LinearTest, MatchesTheCpuReference) {
  SHARDLM_REQUIRE_GPU();
  const Case c = GetParam();
  for (DType dt : {DType::BF16, DType::F32}) {
    // Inputs rounded to dt, so both backends quantise the same values.
    Tensor x = random_f32({c.M, c.K}, dt, 11);
    Fp8Weight w_cpu = random_fp8_weight(c.N, c.K, c.scales, c.act, 12, Device::CPU);
    Fp8Weight w_gpu = random_fp8_weight(c.N, c.K, c.scales, c.act, 12, Device::CUDA);
    Tensor bias = random_f32({c.N}, dt, 13);
    Tensor y_cpu = Tensor::empty({c.M, c.N}, DType::F32);
    ops::linear_fp8(x, w_cpu, &bias, y_cpu);
    Tensor xg = to_gpu(x, dt), bg = to_gpu(bias, dt);
    Tensor y_gpu = Tensor::empty({c.M, c.N}, dt, Device::CUDA);
    ops::linear_fp8(xg, w_gpu, &bg, y_gpu);
    // Same FP8 codes and scales on both sides; what differs is the summation and the output rounding. Hopper's
    // FP8 tensor cores accumulate with fewer mantissa bits than f32 (H100: 1.2e-4 relative at K = 4096).
    EXPECT_LT(rel_error(to_cpu_f32(y_gpu), y_cpu), dt == DType::F32 ? 5e-4 : 1e-2)
        << dtype_label(dt) << " M=" << c.M << " N=" << c.N << " K=" << c.K;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Fp8LinearTest,
    ::testing::Values(Case{1, 64, 64, Fp8WeightScales::PerTensor, Fp8ActQuant::DynamicPerToken},
                      Case{7, 48, 80, Fp8WeightScales::PerChannel, Fp8ActQuant::DynamicPerToken},
                      Case{33, 96, 160, Fp8WeightScales::PerChannel, Fp8ActQuant::DynamicPerTensor},
                      Case{5, 64, 128, Fp8WeightScales::PerTensor, Fp8ActQuant::StaticPerTensor},
                      Case{300, 6144, 4096, Fp8WeightScales::PerTensor, Fp8ActQuant::DynamicPerToken},
                      Case{1, 4096, 4096, Fp8WeightScales::PerChannel, Fp8ActQuant::DynamicPerToken},
                      Case{3, 256, 384, Fp8WeightScales::Block, Fp8ActQuant::DynamicPerGroup},
                      Case{130, 1024, 4096, Fp8WeightScales::Block, Fp8ActQuant::DynamicPerGroup}));

TEST(Fp8Quantize, CodesAndScalesEqualTheCpuOnes) {
  SHARDLM_REQUIRE_GPU();
  for (Fp8ActQuant act : {Fp8ActQuant::DynamicPerToken, Fp8ActQuant::DynamicPerTensor, Fp8ActQuant::StaticPerTensor,
                          Fp8ActQuant::DynamicPerGroup}) {
    const int64_t M = 9, K = 200, group = 128;
    Tensor x = random_f32({M, K}, DType::BF16, 21, 3.f);
    Tensor in_scale = Tensor::from_f32({0.02f}, {1});
    const Tensor* is = act == Fp8ActQuant::StaticPerTensor ? &in_scale : nullptr;
    std::vector<int64_t> sshape = fp8_act_scale_shape(act, M, K, group);
    Tensor q_cpu = Tensor::empty({M, K}, DType::F8E4M3), s_cpu = Tensor::empty(sshape, DType::F32);
    ops::quantize_fp8(x, act, group, is, q_cpu, s_cpu);
    Tensor in_scale_gpu = in_scale.to(Device::CUDA);
    Tensor q_gpu = Tensor::empty({M, K}, DType::F8E4M3, Device::CUDA), s_gpu = Tensor::empty(sshape, DType::F32, Device::CUDA);
    ops::quantize_fp8(to_gpu(x, DType::BF16), act, group, is ? &in_scale_gpu : nullptr, q_gpu, s_gpu);
    Tensor qg = q_gpu.to(Device::CPU), sg = s_gpu.to(Device::CPU);
    EXPECT_EQ(std::memcmp(qg.raw(), q_cpu.raw(), q_cpu.nbytes()), 0) << fp8_act_quant_name(act);
    EXPECT_EQ(std::memcmp(sg.raw(), s_cpu.raw(), s_cpu.nbytes()), 0) << fp8_act_quant_name(act);
  }
}

}  // namespace
}  // namespace shardlm::testing
