// CPU row and column movement through the op interface: cache_write skips negative (padding) slots and
// leaves those cache rows untouched; copy_cols moves a block of columns into place in wider rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "kernel_test_util.h"
#include "ops/ops.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

Tensor f32(const std::vector<float>& v, std::vector<int64_t> shape) { return Tensor::from_f32(v, std::move(shape)); }

TEST(CpuRows, CacheWriteSkipsNegativeSlots) {
  const int64_t T = 5, Hk = 2, D = 3, blocks = 3, bs = 2, row = Hk * D;
  Tensor k = f32(random_floats((size_t)(T * row), 1), {T, Hk, D}), v = f32(random_floats((size_t)(T * row), 2), {T, Hk, D});
  Tensor kc = f32(random_floats((size_t)(blocks * bs * row), 3), {blocks, bs, Hk, D});
  Tensor vc = f32(random_floats((size_t)(blocks * bs * row), 4), {blocks, bs, Hk, D});
  const Tensor kc0 = kc.clone(), vc0 = vc.clone();
  Tensor slots = Tensor::empty({T}, DType::I32);
  const std::vector<int32_t> s = {4, -1, 0, -7, 5};  // -1 and -7: padding rows
  std::memcpy(slots.raw(), s.data(), s.size() * sizeof(int32_t));
  ops::cache_write(k, v, slots, kc, vc);
  std::vector<bool> written((size_t)(blocks * bs), false);
  for (int64_t t = 0; t < T; ++t) {
    if (s[(size_t)t] < 0) continue;
    written[(size_t)s[(size_t)t]] = true;
    EXPECT_EQ(std::memcmp(kc.data<float>() + s[(size_t)t] * row, k.data<float>() + t * row, row * 4), 0) << t;
    EXPECT_EQ(std::memcmp(vc.data<float>() + s[(size_t)t] * row, v.data<float>() + t * row, row * 4), 0) << t;
  }
  for (int64_t slot = 0; slot < blocks * bs; ++slot) {
    if (written[(size_t)slot]) continue;
    EXPECT_EQ(std::memcmp(kc.data<float>() + slot * row, kc0.data<float>() + slot * row, row * 4), 0) << slot;
    EXPECT_EQ(std::memcmp(vc.data<float>() + slot * row, vc0.data<float>() + slot * row, row * 4), 0) << slot;
  }
}

TEST(CpuRows, CopyColsPlacesBlocksOfColumns) {
  const int64_t M = 3, local = 4, tp = 3, vocab = 10;  // the last block holds 2 real columns
  Tensor gathered = f32(random_floats((size_t)(tp * M * local), 5), {tp * M, local});
  Tensor out = Tensor::zeros({M, vocab}, DType::F32);
  for (int64_t r = 0; r < tp; ++r)
    ops::copy_cols(gathered.slice_rows(r * M, M), 0, out, r * local, std::min(local, vocab - r * local));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t c = 0; c < vocab; ++c)
      EXPECT_EQ(out.data<float>()[m * vocab + c], gathered.data<float>()[((c / local) * M + m) * local + c % local])
          << m << "," << c;
  // slice_cols is copy_cols into a narrower output.
  Tensor s = ops::slice_cols(out, 3, 5);
  for (int64_t m = 0; m < M; ++m)
    EXPECT_EQ(std::memcmp(s.data<float>() + m * 5, out.data<float>() + m * vocab + 3, 5 * 4), 0);
  EXPECT_THROW(ops::copy_cols(gathered.slice_rows(0, M), 0, out, 7, 4), Error);  // past the output's columns
}

}  // namespace
