// The small-batch GEMV kernels behind CUDA linear (src/ops/cuda/gemv.cu) against the CPU linear op: M = 1..9
// and 16; odd K and N (the scalar path) and 16-byte-friendly K (the vector path); the CUDA-core and the
// tensor-core kernel; auto and forced K splits (the split-K pass); with and without bias; views at odd
// element offsets; bit-identical repeats; and linear()'s choice between GEMV and cuBLAS (SHARDLM_CUDA_GEMV).
#include <gtest/gtest.h>

#ifdef SHARDLM_HAVE_CUDA
#include <cstdlib>
#include <cstring>
#include <string>

#include "cuda/cuda_test_util.h"
#include "ops/cuda/cuda_kernels.h"
#include "ops/ops.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

class CudaGemv : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override { SHARDLM_REQUIRE_GPU(); }
  DType dt() const { return GetParam(); }
};

std::string param_name(const ::testing::TestParamInfo<DType>& info) { return dtype_label(info.param); }

// A GPU tensor in dtype dt holding cpu_f32's values, starting `offset` elements into a fresh buffer (an odd
// offset makes it misaligned for 16-byte loads). The buffer's other elements are zero.
Tensor to_gpu_at(const Tensor& cpu_f32, DType dt, int64_t offset) {
  Tensor flat = Tensor::zeros({cpu_f32.numel() + offset + 1}, dt, Device::CUDA);
  Tensor view = flat.slice_rows(offset, cpu_f32.numel()).reshape(cpu_f32.shape());
  view.copy_from(cpu_f32.to_dtype(dt));
  return view;
}

struct Problem {
  Tensor x, w, b;  // f32 on the CPU, exact in the tested dtype: [M, K], [N, K], [N]
  Tensor want;     // CPU linear, [M, N]
};

Problem make_problem(int64_t M, int64_t K, int64_t N, bool bias, DType dt, uint32_t seed) {
  Problem p;
  p.x = random_f32({M, K}, dt, seed);
  p.w = random_f32({N, K}, dt, seed + 1, 0.2f);
  p.b = random_f32({N}, dt, seed + 2);
  p.want = Tensor::empty({M, N}, DType::F32);
  ops::linear(p.x, p.w, bias ? &p.b : nullptr, p.want);
  return p;
}

const cuda::GemvKernel kKernels[] = {cuda::GemvKernel::CudaCores, cuda::GemvKernel::TensorCores};
const char* kernel_name(cuda::GemvKernel k) {
  return k == cuda::GemvKernel::TensorCores ? "tensor cores" : "CUDA cores";
}

// Runs cuda::gemv on GPU copies; returns the result as f32.
Tensor run_gemv(const Problem& p, bool bias, DType dt, int splits, cuda::GemvKernel kernel, int* used = nullptr) {
  Tensor xg = to_gpu(p.x, dt), wg = to_gpu(p.w, dt), bg = to_gpu(p.b, dt);
  Tensor y = Tensor::empty(p.want.shape(), dt, Device::CUDA);
  const int u = cuda::gemv(xg, wg, bias ? &bg : nullptr, y, splits, kernel);
  if (used) *used = u;
  return to_cpu_f32(y);
}

TEST_P(CudaGemv, MatchesCpuForSmallBatchesOddShapesAndSplits) {
  struct Shape { int64_t K, N; };
  uint32_t seed = 1000;
  // K % 8 == 0 takes the 16-byte path (all dtypes); 33 and 777 the scalar one. K >= 1000 can be split.
  for (Shape s : {Shape{64, 7}, Shape{33, 1}, Shape{200, 19}, Shape{777, 50}, Shape{1000, 129}, Shape{2056, 33}}) {
    for (int64_t M : {1, 2, 3, 4, 5, 6, 7, 8, 9, 16}) {
      for (bool bias : {false, true}) {
        Problem p = make_problem(M, s.K, s.N, bias, dt(), seed++);
        for (cuda::GemvKernel kernel : kKernels) {
          for (int splits : {0, 1, 3}) {
            SCOPED_TRACE(::testing::Message() << "M=" << M << " K=" << s.K << " N=" << s.N << " bias=" << bias
                                              << " splits=" << splits << " " << kernel_name(kernel));
            int used = 0;
            Tensor got = run_gemv(p, bias, dt(), splits, kernel, &used);
            EXPECT_LT(rel_error(got, p.want), error_bar_accumulating(dt()));
            if (splits == 3 && s.K >= 1000) {
              EXPECT_GT(used, 1);  // the split-K pass ran
            }
          }
        }
      }
    }
  }
}

TEST_P(CudaGemv, LongRowsAreSplitToFitSharedMemory) {
  // x[16, 8192] is 128 KB (f32) to 512 KB: more than one block's x chunk, so K is split however few rows.
  for (int64_t M : {1, 9, 16}) {
    Problem p = make_problem(M, 8192, 37, true, dt(), 2000 + (uint32_t)M);
    for (cuda::GemvKernel kernel : kKernels) {
      SCOPED_TRACE(::testing::Message() << "M=" << M << " " << kernel_name(kernel));
      int used = 0;
      Tensor got = run_gemv(p, true, dt(), 0, kernel, &used);
      EXPECT_LT(rel_error(got, p.want), error_bar_accumulating(dt()));
      if (M > 1) {
        EXPECT_GT(used, 1);
      }
    }
  }
}

TEST_P(CudaGemv, UnalignedViewsTakeTheScalarPath) {
  // K = 64 suits 16-byte loads; the odd offsets do not (a tensor-core request falls back to CUDA cores).
  // The output view must not spill onto its neighbours.
  uint32_t seed = 3000;
  for (int64_t M : {1, 5, 9}) {
    Problem p = make_problem(M, 64, 23, true, dt(), seed++);
    Tensor xg = to_gpu_at(p.x, dt(), 1), wg = to_gpu_at(p.w, dt(), 3), bg = to_gpu_at(p.b, dt(), 1);
    for (cuda::GemvKernel kernel : kKernels) {
      for (int splits : {1, 2}) {
        SCOPED_TRACE(::testing::Message() << "M=" << M << " splits=" << splits << " " << kernel_name(kernel));
        Tensor flat = Tensor::zeros({M * 23 + 2}, dt(), Device::CUDA);
        Tensor y = flat.slice_rows(1, M * 23).reshape({M, 23});
        cuda::gemv(xg, wg, &bg, y, splits, kernel);
        EXPECT_LT(rel_error(to_cpu_f32(y), p.want), error_bar_accumulating(dt()));
        Tensor all = to_cpu_f32(flat);
        EXPECT_EQ(all.data<float>()[0], 0.f);
        EXPECT_EQ(all.data<float>()[M * 23 + 1], 0.f);
      }
    }
  }
}

TEST_P(CudaGemv, RepeatedCallsAreBitIdentical) {
  Problem p = make_problem(8, 4096, 300, true, dt(), 4000);
  Tensor xg = to_gpu(p.x, dt()), wg = to_gpu(p.w, dt()), bg = to_gpu(p.b, dt());
  for (cuda::GemvKernel kernel : kKernels) {
    for (int splits : {1, 0, 4}) {
      SCOPED_TRACE(::testing::Message() << "splits=" << splits << " " << kernel_name(kernel));
      Tensor y1 = Tensor::empty({8, 300}, dt(), Device::CUDA), y2 = Tensor::empty({8, 300}, dt(), Device::CUDA);
      cuda::gemv(xg, wg, &bg, y1, splits, kernel);
      cuda::gemv(xg, wg, &bg, y2, splits, kernel);
      Tensor h1 = y1.to(Device::CPU), h2 = y2.to(Device::CPU);
      EXPECT_EQ(std::memcmp(h1.raw(), h2.raw(), h1.nbytes()), 0);
      EXPECT_LT(rel_error(to_cpu_f32(y1), p.want), error_bar_accumulating(dt()));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllFloatTypes, CudaGemv, ::testing::Values(DType::F32, DType::F16, DType::BF16), param_name);

// Sets SHARDLM_CUDA_GEMV for one scope.
class GemvSetting {
 public:
  explicit GemvSetting(const char* value) { setenv("SHARDLM_CUDA_GEMV", value, 1); }
  ~GemvSetting() { unsetenv("SHARDLM_CUDA_GEMV"); }
};

TEST(CudaGemvDispatch, LinearUsesGemvOrCublasAsConfigured) {
  SHARDLM_REQUIRE_GPU();
  const DType dt = DType::BF16;
  for (const char* setting : {"", "0", "16"}) {
    for (int64_t M : {1, 8, 9, 16}) {
      SCOPED_TRACE(::testing::Message() << "SHARDLM_CUDA_GEMV='" << setting << "' M=" << M);
      GemvSetting env(setting);
      Problem p = make_problem(M, 520, 70, true, dt, 5000 + (uint32_t)M);
      Tensor xg = to_gpu(p.x, dt), wg = to_gpu(p.w, dt), bg = to_gpu(p.b, dt);
      Tensor y = Tensor::empty({M, 70}, dt, Device::CUDA);
      ops::linear(xg, wg, &bg, y);
      EXPECT_LT(rel_error(to_cpu_f32(y), p.want), error_bar_accumulating(dt));
    }
  }
}

TEST(CudaGemvDispatch, EmptyReductionStillAddsTheBias) {
  SHARDLM_REQUIRE_GPU();
  Tensor b = random_f32({5}, DType::F16, 6000);
  Tensor x = Tensor::empty({1, 0}, DType::F16, Device::CUDA), w = Tensor::empty({5, 0}, DType::F16, Device::CUDA);
  Tensor y = Tensor::empty({1, 5}, DType::F16, Device::CUDA);
  Tensor bg = to_gpu(b, DType::F16);
  ops::linear(x, w, &bg, y);
  EXPECT_EQ(rel_error(to_cpu_f32(y), b.reshape({1, 5})), 0.0);
}

TEST(CudaGemvDispatch, BadSettingIsAnError) {
  SHARDLM_REQUIRE_GPU();
  GemvSetting env("lots");
  Tensor x = Tensor::zeros({1, 8}, DType::F16, Device::CUDA), w = Tensor::zeros({3, 8}, DType::F16, Device::CUDA);
  Tensor y = Tensor::empty({1, 3}, DType::F16, Device::CUDA);
  EXPECT_THROW(ops::linear(x, w, nullptr, y), Error);
}

}  // namespace
#endif  // SHARDLM_HAVE_CUDA
