// The residual add fused with RMSNorm / LayerNorm against the unfused sequence (add, then norm): bit for bit,
// for each kernel variant on odd row widths, and through ops:: with f32, f16 and bf16 parameters, on shapes
// large enough to split over the thread pool. Also the argument checks.
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "kernel_test_util.h"
#include "ops/cpu/rowwise_kernels.h"
#include "ops/ops.h"

using namespace shardlm;
using namespace shardlm::testing;
using cpu::Isa;

namespace {

const int64_t kWidths[] = {1, 7, 8, 9, 15, 16, 17, 24, 33, 100, 771, 4096};
constexpr int64_t kRows = 3;

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_label(const std::vector<int64_t>& shape) {
  std::string s;
  for (int64_t d : shape) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

// A sublayer output x and a residual stream for rows of width H; the residual's offset mean makes
// LayerNorm's two-pass variance matter.
struct AddNormInputs {
  std::vector<float> x, residual;
  AddNormInputs(int64_t rows, int64_t H, uint64_t seed)
      : x(random_floats((size_t)(rows * H), seed, 2.f)), residual(random_floats((size_t)(rows * H), seed + 1, 3.f)) {
    for (auto& v : residual) v += 4.f;
  }
  std::vector<float> sum() const {
    std::vector<float> s = residual;
    for (size_t i = 0; i < s.size(); ++i) s[i] += x[i];
    return s;
  }
};

TEST(AddNormKernels, AddRmsNormEqualsAddThenRmsNorm) {
  for (int64_t H : kWidths) {
    const AddNormInputs in(kRows, H, (uint64_t)H);
    const auto w = random_floats((size_t)H, (uint64_t)H + 7);
    const std::vector<float> want_residual = in.sum();
    for (Isa isa : runnable_isas()) {
      SCOPED_TRACE(std::string(cpu::isa_name(isa)) + " H=" + std::to_string(H));
      std::vector<float> want((size_t)(kRows * H)), x = in.x, residual = in.residual;
      if (isa == Isa::Avx2) {
        cpu::rms_norm_rows_avx2(want_residual.data(), w.data(), H, 1e-6f, want.data(), kRows);
        cpu::add_rms_norm_rows_avx2(x.data(), residual.data(), w.data(), H, 1e-6f, kRows);
      } else {
        cpu::rms_norm_rows_portable(want_residual.data(), w.data(), H, 1e-6f, want.data(), kRows);
        cpu::add_rms_norm_rows_portable(x.data(), residual.data(), w.data(), H, 1e-6f, kRows);
      }
      EXPECT_TRUE(same_bits(residual, want_residual));
      EXPECT_TRUE(same_bits(x, want));
    }
  }
}

TEST(AddNormKernels, AddLayerNormEqualsAddThenLayerNorm) {
  for (int64_t H : kWidths) {
    const AddNormInputs in(kRows, H, (uint64_t)H + 100);
    const auto w = random_floats((size_t)H, (uint64_t)H + 101);
    const auto b = random_floats((size_t)H, (uint64_t)H + 102);
    const std::vector<float> want_residual = in.sum();
    for (int affine = 0; affine < 3; ++affine) {  // none, weight only, weight + bias
      const float* wp = affine ? w.data() : nullptr;
      const float* bp = affine == 2 ? b.data() : nullptr;
      for (Isa isa : runnable_isas()) {
        SCOPED_TRACE(std::string(cpu::isa_name(isa)) + " H=" + std::to_string(H) + " affine=" + std::to_string(affine));
        std::vector<float> want((size_t)(kRows * H)), x = in.x, residual = in.residual;
        if (isa == Isa::Avx2) {
          cpu::layer_norm_rows_avx2(want_residual.data(), wp, bp, H, 1e-5f, want.data(), kRows);
          cpu::add_layer_norm_rows_avx2(x.data(), residual.data(), wp, bp, H, 1e-5f, kRows);
        } else {
          cpu::layer_norm_rows_portable(want_residual.data(), wp, bp, H, 1e-5f, want.data(), kRows);
          cpu::add_layer_norm_rows_portable(x.data(), residual.data(), wp, bp, H, 1e-5f, kRows);
        }
        EXPECT_TRUE(same_bits(residual, want_residual));
        EXPECT_TRUE(same_bits(x, want));
      }
    }
  }
}

// The variants agree with each other to rounding (the fused AVX2 kernels sum in f32, the portable ones in double).
TEST(AddNormKernels, VariantsAgree) {
  if (cpu::detected_isa() != Isa::Avx2) GTEST_SKIP() << "no AVX2 on this processor";
  for (int64_t H : kWidths) {
    SCOPED_TRACE("H=" + std::to_string(H));
    const AddNormInputs in(kRows, H, (uint64_t)H + 200);
    const auto w = random_floats((size_t)H, (uint64_t)H + 201);
    std::vector<float> xp = in.x, rp = in.residual, xa = in.x, ra = in.residual;
    cpu::add_rms_norm_rows_portable(xp.data(), rp.data(), w.data(), H, 1e-6f, kRows);
    cpu::add_rms_norm_rows_avx2(xa.data(), ra.data(), w.data(), H, 1e-6f, kRows);
    EXPECT_TRUE(same_bits(ra, rp));
    EXPECT_LT(normalised_error(xa.data(), std::vector<double>(xp.begin(), xp.end())), 1e-6);
    xp = in.x, rp = in.residual, xa = in.x, ra = in.residual;
    cpu::add_layer_norm_rows_portable(xp.data(), rp.data(), w.data(), w.data(), H, 1e-5f, kRows);
    cpu::add_layer_norm_rows_avx2(xa.data(), ra.data(), w.data(), w.data(), H, 1e-5f, kRows);
    EXPECT_TRUE(same_bits(ra, rp));
    // H = 1 normalises to zero plus the bias: compare absolutely there.
    EXPECT_LT(normalised_error(xa.data(), std::vector<double>(xp.begin(), xp.end())), H == 1 ? 1e-3 : 1e-5);
  }
}

class AddNormOps : public ::testing::TestWithParam<DType> {};

std::string param_name(const ::testing::TestParamInfo<DType>& info) { return dtype_name(info.param); }

// Shapes: one row, odd rows and width, and [T, H] big enough for the thread pool (rows * H > 65536).
const std::vector<std::vector<int64_t>> kOpShapes = {{1, 64}, {5, 37}, {2, 3, 100}, {37, 2049}, {64, 4096}};

TEST_P(AddNormOps, AddRmsNormEqualsAddInplaceThenRmsNorm) {
  uint64_t seed = 300;
  for (const auto& shape : kOpShapes) {
    SCOPED_TRACE(shape_label(shape));
    const int64_t n = numel_of(shape), H = shape.back();
    const Tensor x = Tensor::from_f32(random_floats((size_t)n, seed++, 2.f), shape);
    const Tensor residual = Tensor::from_f32(random_floats((size_t)n, seed++, 3.f), shape);
    const Tensor w = Tensor::from_f32(random_floats((size_t)H, seed++), {H}).to_dtype(GetParam());

    Tensor want_residual = residual.clone(), want = Tensor::empty(shape, DType::F32);
    ops::add_inplace(want_residual, x);
    ops::rms_norm(want_residual, w, 1e-6f, want);

    Tensor got = x.clone(), got_residual = residual.clone();
    ops::add_rms_norm(got, got_residual, w, 1e-6f);
    EXPECT_TRUE(same_bits(got_residual, want_residual));
    EXPECT_TRUE(same_bits(got, want));
  }
}

TEST_P(AddNormOps, AddLayerNormEqualsAddInplaceThenLayerNorm) {
  uint64_t seed = 400;
  for (const auto& shape : kOpShapes) {
    const int64_t n = numel_of(shape), H = shape.back();
    const Tensor x = Tensor::from_f32(random_floats((size_t)n, seed++, 2.f), shape);
    Tensor residual = Tensor::from_f32(random_floats((size_t)n, seed++, 3.f), shape);
    for (int64_t i = 0; i < n; ++i) residual.data<float>()[i] += 4.f;
    const Tensor w = Tensor::from_f32(random_floats((size_t)H, seed++), {H}).to_dtype(GetParam());
    const Tensor b = Tensor::from_f32(random_floats((size_t)H, seed++), {H}).to_dtype(GetParam());
    for (int affine = 0; affine < 3; ++affine) {
      SCOPED_TRACE(shape_label(shape) + " affine=" + std::to_string(affine));
      const Tensor* wp = affine ? &w : nullptr;
      const Tensor* bp = affine == 2 ? &b : nullptr;
      Tensor want_residual = residual.clone(), want = Tensor::empty(shape, DType::F32);
      ops::add_inplace(want_residual, x);
      ops::layer_norm(want_residual, wp, bp, 1e-5f, want);

      Tensor got = x.clone(), got_residual = residual.clone();
      ops::add_layer_norm(got, got_residual, wp, bp, 1e-5f);
      EXPECT_TRUE(same_bits(got_residual, want_residual));
      EXPECT_TRUE(same_bits(got, want));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(ParamDtypes, AddNormOps, ::testing::Values(DType::F32, DType::F16, DType::BF16), param_name);

TEST(AddNormOpsErrors, MismatchedShapesDtypesAndOverlapAreErrors) {
  Tensor x = Tensor::zeros({4, 8}, DType::F32), residual = Tensor::zeros({4, 8}, DType::F32);
  Tensor w = Tensor::zeros({8}, DType::F32);
  Tensor other_shape = Tensor::zeros({8, 4}, DType::F32), wrong_w = Tensor::zeros({4}, DType::F32);
  Tensor half = Tensor::zeros({4, 8}, DType::F16);
  EXPECT_THROW(ops::add_rms_norm(x, other_shape, w, 1e-6f), Error);
  EXPECT_THROW(ops::add_rms_norm(x, residual, wrong_w, 1e-6f), Error);
  EXPECT_THROW(ops::add_rms_norm(x, half, w, 1e-6f), Error);
  EXPECT_THROW(ops::add_rms_norm(x, x, w, 1e-6f), Error);
  Tensor rows_1_to_3 = x.slice_rows(1, 3), rows_0_to_2 = x.slice_rows(0, 3);
  EXPECT_THROW(ops::add_rms_norm(rows_1_to_3, rows_0_to_2, w, 1e-6f), Error);
  EXPECT_THROW(ops::add_layer_norm(x, residual, nullptr, &wrong_w, 1e-5f), Error);
  EXPECT_THROW(ops::add_layer_norm(x, other_shape, nullptr, nullptr, 1e-5f), Error);
  // The CPU backend computes in f32 activations only: an f16 stream is refused, not misread.
  Tensor half_residual = Tensor::zeros({4, 8}, DType::F16);
  EXPECT_THROW(ops::add_rms_norm(half, half_residual, w, 1e-6f), Error);
  EXPECT_THROW(ops::add_layer_norm(half, half_residual, nullptr, nullptr, 1e-5f), Error);
}

TEST(AddNormOpsErrors, EmptyRowsAreANoOp) {
  Tensor x = Tensor::zeros({0, 8}, DType::F32), residual = Tensor::zeros({0, 8}, DType::F32);
  Tensor w = Tensor::zeros({8}, DType::F32);
  EXPECT_NO_THROW(ops::add_rms_norm(x, residual, w, 1e-6f));
  EXPECT_NO_THROW(ops::add_layer_norm(x, residual, &w, &w, 1e-5f));
}

}  // namespace
