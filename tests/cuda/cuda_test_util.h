// Helpers for the CUDA-vs-CPU op tests: GPU presence (tests skip without one), random inputs rounded to the
// tested dtype (so both backends see identical values), transfers, and the normalised error ||a-b||/||b||.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace shardlm::testing {

inline bool cuda_available() {
  try {
    allocator_for(Device::CUDA);
    return true;
  } catch (const Error&) {
    return false;
  }
}

#define SHARDLM_REQUIRE_GPU()                                                                         \
  do {                                                                                                \
    if (!::shardlm::testing::cuda_available()) {                                                      \
      std::cerr << "\n*** SKIPPING: no CUDA device (or no CUDA backend in this build) ***\n";          \
      GTEST_SKIP() << "no CUDA device";                                                               \
    }                                                                                                 \
  } while (0)

// Normalised-error bars against the f32 CPU reference. Inputs are identical (pre-rounded); what remains
// is the GPU's rounding of intermediates and outputs to the dtype, and f32 summation order.
inline double error_bar(DType dt) { return dt == DType::F32 ? 1e-5 : 1e-2; }
inline double error_bar_accumulating(DType dt) { return dt == DType::F32 ? 1e-4 : 1e-2; }  // GEMM, attention

inline std::vector<float> random_values(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// f32 values that are exactly representable in dt.
inline Tensor random_f32(std::vector<int64_t> shape, DType dt, uint32_t seed, float scale = 1.f) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  Tensor t = Tensor::from_f32(random_values((size_t)n, seed, scale), shape);
  return dt == DType::F32 ? t : t.to_dtype(dt).to_dtype(DType::F32);
}

// The CPU f32 tensor converted to dt and copied to the GPU.
inline Tensor to_gpu(const Tensor& cpu_f32, DType dt) { return cpu_f32.to_dtype(dt).to(Device::CUDA); }
// Any GPU tensor back on the CPU as f32.
inline Tensor to_cpu_f32(const Tensor& gpu) {
  Tensor h = gpu.to(Device::CPU);
  return h.dtype() == DType::F32 ? h : h.to_dtype(DType::F32);
}

inline Tensor int_tensor(const std::vector<int32_t>& v, Device dev) {
  Tensor t = Tensor::empty({(int64_t)v.size()}, DType::I32);
  for (size_t i = 0; i < v.size(); ++i) t.data<int32_t>()[i] = v[i];
  return dev == Device::CPU ? t : t.to(dev);
}

inline double rel_error(const Tensor& got_f32, const Tensor& want_f32) {
  EXPECT_EQ(got_f32.numel(), want_f32.numel());
  double num = 0, den = 0;
  const float* a = got_f32.data<float>();
  const float* b = want_f32.data<float>();
  for (int64_t i = 0; i < want_f32.numel(); ++i) {
    double d = (double)a[i] - b[i];
    num += d * d;
    den += (double)b[i] * b[i];
  }
  if (den == 0) return std::sqrt(num);
  return std::sqrt(num / den);
}

inline const char* dtype_label(DType dt) {
  switch (dt) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::I32: return "i32";
    case DType::I64: return "i64";
    case DType::U8: return "u8";
  }
  return "?";
}

inline const std::vector<DType>& float_dtypes() {
  static const std::vector<DType> v = {DType::F32, DType::F16, DType::BF16};
  return v;
}

}  // namespace shardlm::testing
