// ordered_reduce, the shared-memory all-reduce's arithmetic: rank order, one rounding for half types,
// wrap-around for integers, against values worked out by hand.
#include "distributed/ordered_reduce.h"

#include <gtest/gtest.h>

#include <climits>
#include <cmath>

using namespace shardlm;

namespace {

template <typename T>
std::vector<T> reduce(const std::vector<std::vector<T>>& in, DType dt, ReduceOp op) {
  std::vector<const void*> ptrs;
  for (const auto& v : in) ptrs.push_back(v.data());
  std::vector<T> out(in[0].size());
  std::vector<float> scratch;
  ordered_reduce(ptrs.data(), (int)in.size(), out.data(), out.size(), dt, op, scratch);
  return out;
}

}  // namespace

TEST(OrderedReduce, F32SumsInRankOrder) {
  // (1e8 + 1) rounds to 1e8 in f32, so rank order gives 0 where another order would give 1.
  EXPECT_EQ(reduce<float>({{1e8f}, {1.0f}, {-1e8f}}, DType::F32, ReduceOp::Sum)[0], 0.0f);
  EXPECT_EQ(reduce<float>({{1e8f}, {-1e8f}, {1.0f}}, DType::F32, ReduceOp::Sum)[0], 1.0f);
}

TEST(OrderedReduce, HalfTypesRoundOnce) {
  // 1 + 2^-11 + 2^-11 = 1 + 2^-10 exactly in f16; rounding after each step would give 1 (ties to even).
  const uint16_t one = f32_to_f16(1.0f), tiny = f32_to_f16(std::ldexp(1.0f, -11));
  EXPECT_EQ(f16_to_f32(reduce<uint16_t>({{one}, {tiny}, {tiny}}, DType::F16, ReduceOp::Sum)[0]),
            1.0f + std::ldexp(1.0f, -10));
  // Two inputs: exactly one rounding either way (what Gloo computes too).
  const uint16_t a = f32_to_bf16(1.0f), b = f32_to_bf16(std::ldexp(1.0f, -8));
  EXPECT_EQ(reduce<uint16_t>({{a}, {b}}, DType::BF16, ReduceOp::Sum)[0], f32_to_bf16(1.0f + std::ldexp(1.0f, -8)));
  // More elements than one internal piece (16384), with max.
  std::vector<uint16_t> x(40000), y(40000);
  for (size_t i = 0; i < x.size(); i++) {
    x[i] = f32_to_f16((float)(i % 100));
    y[i] = f32_to_f16((float)(i % 77));
  }
  auto m = reduce<uint16_t>({x, y}, DType::F16, ReduceOp::Max);
  for (size_t i = 0; i < x.size(); i++) ASSERT_EQ(f16_to_f32(m[i]), (float)std::max(i % 100, i % 77)) << i;
}

TEST(OrderedReduce, IntegersWrapAround) {
  EXPECT_EQ(reduce<int32_t>({{INT32_MAX}, {1}}, DType::I32, ReduceOp::Sum)[0], INT32_MIN);
  EXPECT_EQ(reduce<int64_t>({{INT64_MIN}, {-1}}, DType::I64, ReduceOp::Sum)[0], INT64_MAX);
  EXPECT_EQ(reduce<uint8_t>({{200}, {100}}, DType::U8, ReduceOp::Sum)[0], 44);
  EXPECT_EQ(reduce<int32_t>({{3, -7}, {-2, 9}, {5, 0}}, DType::I32, ReduceOp::Min), (std::vector<int32_t>{-2, -7}));
  EXPECT_EQ(reduce<int64_t>({{3, -7}, {-2, 9}, {5, 0}}, DType::I64, ReduceOp::Max), (std::vector<int64_t>{5, 9}));
}
