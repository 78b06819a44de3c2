// Linear kernel variants (AVX2 Gemv, AVX2 Gemm, portable OpenBLAS) on f32/f16/bf16 weights with odd sizes,
// against a double-precision reference computed from the exactly widened weights.
#include <gtest/gtest.h>

#include <cstring>
#include <tuple>

#include "core/tensor.h"
#include "kernel_test_util.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/linear_kernels.h"
#include "ops/ops.h"

using namespace shardlm;
using namespace shardlm::testing;
using cpu::Isa;
using cpu::LinearPath;

namespace {

struct Shape {
  int64_t M, K, N;
};

// Odd sizes: K not a multiple of 8 or of the 256 block, N not a multiple of 4 or 16, M not of 4 or 6.
const Shape kShapes[] = {{1, 1, 1},    {1, 7, 5},     {2, 9, 17},    {3, 33, 31},  {4, 64, 13},  {5, 100, 47},
                         {7, 255, 65}, {9, 257, 33},  {13, 513, 70}, {31, 64, 100}, {1, 768, 260}, {8, 520, 19},
                         {37, 300, 301}};

std::vector<double> reference(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>* bias,
                              const Shape& s) {
  std::vector<double> y((size_t)(s.M * s.N));
  for (int64_t m = 0; m < s.M; ++m)
    for (int64_t n = 0; n < s.N; ++n) {
      double acc = bias ? (*bias)[(size_t)n] : 0.0;
      for (int64_t k = 0; k < s.K; ++k) acc += (double)x[(size_t)(m * s.K + k)] * w[(size_t)(n * s.K + k)];
      y[(size_t)(m * s.N + n)] = acc;
    }
  return y;
}

struct Variant {
  Isa isa;
  LinearPath path;
  std::string name;
};

std::vector<Variant> variants() {
  std::vector<Variant> v = {{Isa::Portable, LinearPath::Gemm, "portable"}};
  if (cpu::detected_isa() == Isa::Avx2) {
    v.push_back({Isa::Avx2, LinearPath::Gemv, "avx2-gemv"});
    v.push_back({Isa::Avx2, LinearPath::Gemm, "avx2-gemm"});
  }
  return v;
}

class LinearKernels : public ::testing::TestWithParam<DType> {};

TEST_P(LinearKernels, EveryVariantMatchesDoubleReference) {
  const DType dt = GetParam();
  uint64_t seed = 1;
  for (const Shape& s : kShapes) {
    const auto x = random_floats((size_t)(s.M * s.K), seed++);
    const StoredWeights w = store_as(random_floats((size_t)(s.N * s.K), seed++), dt);
    const auto bias = random_floats((size_t)s.N, seed++);
    for (bool with_bias : {false, true}) {
      const auto want = reference(x, w.values, with_bias ? &bias : nullptr, s);
      for (const Variant& v : variants()) {
        SCOPED_TRACE(v.name + " M=" + std::to_string(s.M) + " K=" + std::to_string(s.K) + " N=" +
                     std::to_string(s.N) + " bias=" + std::to_string(with_bias) + " " + dtype_name(dt));
        std::vector<float> y((size_t)(s.M * s.N), NAN);
        cpu::LinearArgs a{x.data(), s.M, s.K, w.stored.data(), dt, s.N, with_bias ? bias.data() : nullptr, y.data()};
        cpu::run_linear(a, v.isa, v.path);
        EXPECT_LT(normalised_error(y.data(), want), 1e-5);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(WeightDtypes, LinearKernels, ::testing::Values(DType::F32, DType::F16, DType::BF16),
                         [](const ::testing::TestParamInfo<DType>& i) { return dtype_name(i.param); });

// The column split over threads must not change any output bit (TP ranks and batch sizes rely on a
// deterministic kernel).
TEST(LinearKernelsThreads, ResultsIndependentOfThreadCount) {
  if (cpu::detected_isa() != Isa::Avx2) GTEST_SKIP() << "no AVX2 on this processor";
  const Shape s{20, 300, 1000};
  const auto x = random_floats((size_t)(s.M * s.K), 7);
  const StoredWeights w = store_as(random_floats((size_t)(s.N * s.K), 8), DType::F16);
  for (LinearPath path : {LinearPath::Gemv, LinearPath::Gemm}) {
    std::vector<std::vector<float>> outs;
    for (int threads : {1, 2, 3}) {
      cpu::set_num_threads(threads);
      std::vector<float> y((size_t)(s.M * s.N));
      cpu::LinearArgs a{x.data(), s.M, s.K, w.stored.data(), DType::F16, s.N, nullptr, y.data()};
      cpu::run_linear(a, Isa::Avx2, path);
      outs.push_back(y);
    }
    EXPECT_EQ(outs[0], outs[1]);
    EXPECT_EQ(outs[0], outs[2]);
  }
  cpu::set_num_threads(0);
}

// Through the op interface: f16 weights with an f16 bias and an f32 bias.
TEST(LinearOp, F16WeightsWithBiasOfEitherDtype) {
  const Shape s{3, 45, 29};
  const auto xv = random_floats((size_t)(s.M * s.K), 11);
  const StoredWeights w = store_as(random_floats((size_t)(s.N * s.K), 12), DType::F16);
  const StoredWeights b16 = store_as(random_floats((size_t)s.N, 13), DType::F16);
  const auto want = reference(xv, w.values, &b16.values, s);
  Tensor x = Tensor::from_f32(xv, {s.M, s.K});
  Tensor wt = Tensor::empty({s.N, s.K}, DType::F16);
  std::memcpy(wt.raw(), w.stored.data(), w.stored.size());
  Tensor bias16 = Tensor::empty({s.N}, DType::F16);
  std::memcpy(bias16.raw(), b16.stored.data(), b16.stored.size());
  Tensor bias32 = Tensor::from_f32(b16.values, {s.N});
  for (const Tensor* b : {&bias16, &bias32}) {
    Tensor y = Tensor::empty({s.M, s.N}, DType::F32);
    ops::linear(x, wt, b, y);
    EXPECT_LT(normalised_error(y.data<float>(), want), 1e-5) << dtype_name(b->dtype());
  }
}

}  // namespace
