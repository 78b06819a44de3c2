// Tensor views and dtype conversions.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/tensor.h"

using namespace shardlm;

TEST(DType, HalfRoundTripIsExactForAllFiniteHalves) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    uint16_t bits = (uint16_t)h;
    if (((bits >> 10) & 0x1f) == 0x1f) continue;  // inf / nan
    EXPECT_EQ(f32_to_f16(f16_to_f32(bits)), bits) << std::hex << h;
  }
}

TEST(DType, HalfRoundsToNearestEven) {
  EXPECT_EQ(f16_to_f32(f32_to_f16(1.0f + 1.0f / 2048)), 1.0f);  // halfway -> even (1.0)
  EXPECT_EQ(f16_to_f32(f32_to_f16(1.0f + 3.0f / 2048)), 1.0f + 2.0f / 1024);
  EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(70000.f))));
  EXPECT_EQ(f16_to_f32(f32_to_f16(5.9604645e-8f)), 5.9604645e-8f);  // smallest subnormal
}

TEST(DType, BFloat16RoundTrip) {
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.5f)), 1.5f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(-3.140625f)), -3.140625f);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST(DType, ParseNamesAndRejectUnknown) {
  EXPECT_EQ(parse_dtype("float16", "x"), DType::F16);
  EXPECT_EQ(parse_dtype("bfloat16", "x"), DType::BF16);
  EXPECT_EQ(parse_dtype("float32", "x"), DType::F32);
  EXPECT_THROW(parse_dtype("int4", "config.json field 'dtype'"), Error);
}

TEST(Tensor, ReshapeAndSliceShareStorage) {
  Tensor t = Tensor::from_f32({0, 1, 2, 3, 4, 5}, {3, 2});
  Tensor rows = t.slice_rows(1, 2);
  EXPECT_EQ(rows.shape(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(rows.data<float>()[0], 2.f);
  rows.data<float>()[0] = 42.f;
  EXPECT_EQ(t.data<float>()[2], 42.f);
  Tensor flat = t.reshape({-1});
  EXPECT_EQ(flat.dim(0), 6);
  EXPECT_THROW(t.reshape({4, 2}), Error);
}

TEST(Tensor, ToDtypeConverts) {
  Tensor t = Tensor::from_f32({0.5f, -2.f}, {2});
  Tensor h = t.to_dtype(DType::F16);
  EXPECT_EQ(h.nbytes(), 4u);
  Tensor back = h.to_dtype(DType::F32);
  EXPECT_EQ(back.data<float>()[1], -2.f);
}
