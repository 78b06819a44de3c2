// Norm and activation variants against double-precision references on odd row widths.
#include <gtest/gtest.h>

#include "kernel_test_util.h"
#include "ops/cpu/rowwise_kernels.h"

using namespace shardlm;
using namespace shardlm::testing;
using cpu::Isa;

namespace {

const int64_t kWidths[] = {1, 7, 8, 9, 16, 33, 100, 771};
constexpr int64_t kRows = 3;

double act_ref(Activation act, double v) {
  switch (act) {
    case Activation::Relu: return v > 0 ? v : 0;
    case Activation::Gelu: return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    case Activation::GeluTanh: return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    case Activation::Silu: return v / (1 + std::exp(-v));
  }
  return v;
}

const Activation kActs[] = {Activation::Relu, Activation::Gelu, Activation::GeluTanh, Activation::Silu};
const char* act_name(Activation a) {
  switch (a) {
    case Activation::Relu: return "relu";
    case Activation::Gelu: return "gelu";
    case Activation::GeluTanh: return "gelu_tanh";
    case Activation::Silu: return "silu";
  }
  return "?";
}

TEST(RowwiseKernels, RmsNorm) {
  for (int64_t H : kWidths) {
    const auto x = random_floats((size_t)(kRows * H), (uint64_t)H, 3.f);
    const auto w = random_floats((size_t)H, (uint64_t)H + 1);
    std::vector<double> want((size_t)(kRows * H));
    for (int64_t r = 0; r < kRows; ++r) {
      double ss = 0;
      for (int64_t i = 0; i < H; ++i) ss += (double)x[(size_t)(r * H + i)] * x[(size_t)(r * H + i)];
      const double inv = 1 / std::sqrt(ss / (double)H + 1e-6);
      for (int64_t i = 0; i < H; ++i) want[(size_t)(r * H + i)] = x[(size_t)(r * H + i)] * inv * w[(size_t)i];
    }
    for (Isa isa : runnable_isas()) {
      std::vector<float> y((size_t)(kRows * H));
      if (isa == Isa::Avx2) cpu::rms_norm_rows_avx2(x.data(), w.data(), H, 1e-6f, y.data(), kRows);
      else cpu::rms_norm_rows_portable(x.data(), w.data(), H, 1e-6f, y.data(), kRows);
      EXPECT_LT(normalised_error(y.data(), want), 1e-6) << cpu::isa_name(isa) << " H=" << H;
    }
  }
}

TEST(RowwiseKernels, LayerNormWithAndWithoutAffine) {
  for (int64_t H : kWidths) {
    // An offset mean makes the two-pass variance matter.
    auto x = random_floats((size_t)(kRows * H), (uint64_t)H + 2, 2.f);
    for (auto& v : x) v += 5.f;
    const auto w = random_floats((size_t)H, (uint64_t)H + 3);
    const auto b = random_floats((size_t)H, (uint64_t)H + 4);
    for (bool affine : {false, true}) {
      std::vector<double> want((size_t)(kRows * H));
      for (int64_t r = 0; r < kRows; ++r) {
        double mean = 0, var = 0;
        for (int64_t i = 0; i < H; ++i) mean += x[(size_t)(r * H + i)];
        mean /= (double)H;
        for (int64_t i = 0; i < H; ++i) var += (x[(size_t)(r * H + i)] - mean) * (x[(size_t)(r * H + i)] - mean);
        const double inv = 1 / std::sqrt(var / (double)H + 1e-5);
        for (int64_t i = 0; i < H; ++i) {
          double v = (x[(size_t)(r * H + i)] - mean) * inv;
          if (affine) v = v * w[(size_t)i] + b[(size_t)i];
          want[(size_t)(r * H + i)] = v;
        }
      }
      for (Isa isa : runnable_isas()) {
        std::vector<float> y((size_t)(kRows * H));
        const float* wp = affine ? w.data() : nullptr;
        const float* bp = affine ? b.data() : nullptr;
        if (isa == Isa::Avx2) cpu::layer_norm_rows_avx2(x.data(), wp, bp, H, 1e-5f, y.data(), kRows);
        else cpu::layer_norm_rows_portable(x.data(), wp, bp, H, 1e-5f, y.data(), kRows);
        // H = 1 gives an all-zero row (or the bias): compare absolutely there.
        EXPECT_LT(normalised_error(y.data(), want), H == 1 ? 1e-3 : 1e-5)
            << cpu::isa_name(isa) << " H=" << H << " affine=" << affine;
      }
    }
  }
}

TEST(RowwiseKernels, ActivationsAndGatedActivations) {
  for (Activation act : kActs) {
    for (int64_t I : kWidths) {
      // Values spanning the regions where exp under- and overflows.
      auto gu = random_floats((size_t)(kRows * 2 * I), (uint64_t)I + 5, 4.f);
      if (I >= 4) {
        gu[0] = -100.f;
        gu[1] = 100.f;
        gu[2] = -9.5f;
        gu[3] = 0.f;
      }
      std::vector<double> want_act(gu.size()), want_gated((size_t)(kRows * I));
      for (size_t i = 0; i < gu.size(); ++i) want_act[i] = act_ref(act, gu[i]);
      for (int64_t r = 0; r < kRows; ++r)
        for (int64_t i = 0; i < I; ++i)
          want_gated[(size_t)(r * I + i)] = act_ref(act, gu[(size_t)(r * 2 * I + i)]) * gu[(size_t)(r * 2 * I + I + i)];
      for (Isa isa : runnable_isas()) {
        SCOPED_TRACE(std::string(cpu::isa_name(isa)) + " " + act_name(act) + " I=" + std::to_string(I));
        std::vector<float> x = gu, out((size_t)(kRows * I));
        if (isa == Isa::Avx2) {
          cpu::activation_avx2(x.data(), (int64_t)x.size(), act);
          cpu::act_and_mul_rows_avx2(gu.data(), I, act, out.data(), kRows);
        } else {
          cpu::activation_portable(x.data(), (int64_t)x.size(), act);
          cpu::act_and_mul_rows_portable(gu.data(), I, act, out.data(), kRows);
        }
        EXPECT_LT(normalised_error(x.data(), want_act), 1e-6);
        EXPECT_LT(normalised_error(out.data(), want_gated), 1e-6);
        for (size_t i = 0; i < x.size(); ++i) ASSERT_TRUE(std::isfinite(x[i])) << i;
      }
    }
  }
}

}  // namespace
