// Every non-attention CUDA op against the CPU op on identical random inputs (odd sizes, both vector and
// scalar kernel paths), for f32, f16 and bf16.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cuda/cuda_test_util.h"
#include "ops/ops.h"

using namespace shardlm;
using namespace shardlm::testing;

namespace {

class CudaOps : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override { SHARDLM_REQUIRE_GPU(); }
  DType dt() const { return GetParam(); }
};

std::string param_name(const ::testing::TestParamInfo<DType>& info) { return dtype_label(info.param); }

TEST_P(CudaOps, LinearMatchesCpu) {
  struct Case { int64_t M, K, N; bool bias; };
  uint32_t seed = 1;
  for (Case c : {Case{7, 33, 19, true}, Case{1, 64, 50, false}, Case{64, 256, 384, true}, Case{3, 5, 1, true},
                 Case{130, 72, 65, false}}) {
    SCOPED_TRACE(::testing::Message() << "M=" << c.M << " K=" << c.K << " N=" << c.N << " bias=" << c.bias);
    Tensor x = random_f32({c.M, c.K}, dt(), seed++);
    Tensor w = random_f32({c.N, c.K}, dt(), seed++, 0.2f);
    Tensor b = random_f32({c.N}, dt(), seed++);
    Tensor want = Tensor::empty({c.M, c.N}, DType::F32);
    ops::linear(x, w, c.bias ? &b : nullptr, want);
    Tensor xg = to_gpu(x, dt()), wg = to_gpu(w, dt()), bg = to_gpu(b, dt());
    Tensor got = Tensor::empty({c.M, c.N}, dt(), Device::CUDA);
    ops::linear(xg, wg, c.bias ? &bg : nullptr, got);
    EXPECT_LT(rel_error(to_cpu_f32(got), want), error_bar_accumulating(dt()));
  }
}

TEST_P(CudaOps, LayerNormMatchesCpu) {
  uint32_t seed = 10;
  for (int64_t H : {37, 256, 4096, 1}) {
    for (int affine = 0; affine < 3; ++affine) {  // none, weight only, weight + bias
      SCOPED_TRACE(::testing::Message() << "H=" << H << " affine=" << affine);
      Tensor x = random_f32({5, H}, dt(), seed++, 3.f);
      Tensor w = random_f32({H}, dt(), seed++), b = random_f32({H}, dt(), seed++);
      Tensor want = Tensor::empty({5, H}, DType::F32);
      ops::layer_norm(x, affine ? &w : nullptr, affine == 2 ? &b : nullptr, 1e-5f, want);
      Tensor wg = to_gpu(w, dt()), bg = to_gpu(b, dt());
      Tensor got = Tensor::empty({5, H}, dt(), Device::CUDA);
      ops::layer_norm(to_gpu(x, dt()), affine ? &wg : nullptr, affine == 2 ? &bg : nullptr, 1e-5f, got);
      EXPECT_LT(rel_error(to_cpu_f32(got), want), error_bar(dt()));
    }
  }
}

TEST_P(CudaOps, RmsNormMatchesCpu) {
  uint32_t seed = 30;
  for (int64_t H : {37, 256, 4096, 8}) {
    SCOPED_TRACE(::testing::Message() << "H=" << H);
    Tensor x = random_f32({3, 2, H}, dt(), seed++, 2.f);  // 3-d: normalises over the last dim
    Tensor w = random_f32({H}, dt(), seed++);
    Tensor want = Tensor::empty({3, 2, H}, DType::F32);
    ops::rms_norm(x, w, 1e-6f, want);
    Tensor got = Tensor::empty({3, 2, H}, dt(), Device::CUDA);
    ops::rms_norm(to_gpu(x, dt()), to_gpu(w, dt()), 1e-6f, got);
    EXPECT_LT(rel_error(to_cpu_f32(got), want), error_bar(dt()));
  }
}

// The fused residual add + norm: the residual must hold the sum rounded to the dtype (exactly what the CPU's
// f32 sum rounds to), x the norm of it; and the result must be that of the unfused GPU sequence (add_inplace,
// then the norm), bit for bit, as both reduce the same stored values in the same order. Widths cover the
// 16-byte path (multiples of 8 elements) and the scalar one (odd, and 2050: even but not a multiple of 8).
struct AddNormCase {
  Tensor x, residual;    // CPU f32, values exact in dt
  Tensor want_residual;  // their sum, rounded to dt
  AddNormCase(DType dt, int64_t rows, int64_t H, uint32_t seed) {
    x = random_f32({rows, H}, dt, seed, 2.f);
    residual = random_f32({rows, H}, dt, seed + 1, 3.f);
    want_residual = residual.clone();
    ops::add_inplace(want_residual, x);
    if (dt != DType::F32) want_residual = want_residual.to_dtype(dt).to_dtype(DType::F32);
  }
};

const int64_t kAddNormWidths[] = {1, 8, 37, 256, 2050, 4096};

TEST_P(CudaOps, AddRmsNormMatchesCpuAndTheUnfusedSequence) {
  uint32_t seed = 210;
  for (int64_t H : kAddNormWidths) {
    for (int64_t rows : {1, 7}) {
      SCOPED_TRACE(::testing::Message() << "rows=" << rows << " H=" << H);
      AddNormCase c(dt(), rows, H, seed);
      seed += 3;
      Tensor w = random_f32({H}, dt(), seed++);
      Tensor want = Tensor::empty({rows, H}, DType::F32);
      ops::rms_norm(c.want_residual, w, 1e-6f, want);

      Tensor wg = to_gpu(w, dt());
      Tensor xg = to_gpu(c.x, dt()), rg = to_gpu(c.residual, dt());
      ops::add_rms_norm(xg, rg, wg, 1e-6f);
      EXPECT_EQ(rel_error(to_cpu_f32(rg), c.want_residual), 0.0);
      EXPECT_LT(rel_error(to_cpu_f32(xg), want), error_bar(dt()));

      Tensor ur = to_gpu(c.residual, dt()), ux = Tensor::empty({rows, H}, dt(), Device::CUDA);
      ops::add_inplace(ur, to_gpu(c.x, dt()));
      ops::rms_norm(ur, wg, 1e-6f, ux);
      EXPECT_EQ(rel_error(to_cpu_f32(xg), to_cpu_f32(ux)), 0.0);
    }
  }
}

TEST_P(CudaOps, AddLayerNormMatchesCpuAndTheUnfusedSequence) {
  uint32_t seed = 260;
  for (int64_t H : kAddNormWidths) {
    for (int affine = 0; affine < 3; ++affine) {  // none, weight only, weight + bias
      SCOPED_TRACE(::testing::Message() << "H=" << H << " affine=" << affine);
      const int64_t rows = 5;
      AddNormCase c(dt(), rows, H, seed);
      seed += 3;
      Tensor w = random_f32({H}, dt(), seed++), b = random_f32({H}, dt(), seed++);
      Tensor want = Tensor::empty({rows, H}, DType::F32);
      ops::layer_norm(c.want_residual, affine ? &w : nullptr, affine == 2 ? &b : nullptr, 1e-5f, want);

      Tensor wg = to_gpu(w, dt()), bg = to_gpu(b, dt());
      const Tensor* wp = affine ? &wg : nullptr;
      const Tensor* bp = affine == 2 ? &bg : nullptr;
      Tensor xg = to_gpu(c.x, dt()), rg = to_gpu(c.residual, dt());
      ops::add_layer_norm(xg, rg, wp, bp, 1e-5f);
      EXPECT_EQ(rel_error(to_cpu_f32(rg), c.want_residual), 0.0);
      // H = 1 normalises to zero (plus the bias): rel_error is then absolute, and zero.
      EXPECT_LT(rel_error(to_cpu_f32(xg), want), error_bar(dt()));

      Tensor ur = to_gpu(c.residual, dt()), ux = Tensor::empty({rows, H}, dt(), Device::CUDA);
      ops::add_inplace(ur, to_gpu(c.x, dt()));
      ops::layer_norm(ur, wp, bp, 1e-5f, ux);
      EXPECT_EQ(rel_error(to_cpu_f32(xg), to_cpu_f32(ux)), 0.0);
    }
  }
}

TEST_P(CudaOps, AddNormOfNoRowsIsANoOp) {
  Tensor x = Tensor::empty({0, 64}, dt(), Device::CUDA), r = Tensor::empty({0, 64}, dt(), Device::CUDA);
  Tensor w = to_gpu(random_f32({64}, dt(), 300), dt());
  EXPECT_NO_THROW(ops::add_rms_norm(x, r, w, 1e-6f));
  EXPECT_NO_THROW(ops::add_layer_norm(x, r, &w, &w, 1e-5f));
}

TEST_P(CudaOps, AddInplaceSameShapeAndBroadcastRow) {
  uint32_t seed = 50;
  for (int64_t H : {37, 64}) {
    for (bool broadcast : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "H=" << H << " broadcast=" << broadcast);
      Tensor x = random_f32({5, H}, dt(), seed++);
      Tensor y = broadcast ? random_f32({H}, dt(), seed++) : random_f32({5, H}, dt(), seed++);
      Tensor xg = to_gpu(x, dt());
      ops::add_inplace(x, y);
      ops::add_inplace(xg, to_gpu(y, dt()));
      EXPECT_LT(rel_error(to_cpu_f32(xg), x), error_bar(dt()));
    }
  }
}

TEST_P(CudaOps, ActivationsMatchCpu) {
  uint32_t seed = 70;
  for (Activation act : {Activation::Relu, Activation::Gelu, Activation::GeluTanh, Activation::Silu}) {
    for (int64_t n : {111, 256}) {
      SCOPED_TRACE(::testing::Message() << "act=" << (int)act << " n=" << n);
      Tensor x = random_f32({n}, dt(), seed++, 2.f);
      Tensor xg = to_gpu(x, dt());
      ops::activation_inplace(x, act);
      ops::activation_inplace(xg, act);
      EXPECT_LT(rel_error(to_cpu_f32(xg), x), error_bar(dt()));
    }
  }
}

TEST_P(CudaOps, ActAndMulMatchesCpu) {
  uint32_t seed = 90;
  for (Activation act : {Activation::Relu, Activation::Gelu, Activation::GeluTanh, Activation::Silu}) {
    for (int64_t I : {37, 64}) {
      SCOPED_TRACE(::testing::Message() << "act=" << (int)act << " I=" << I);
      Tensor gu = random_f32({3, 2 * I}, dt(), seed++, 2.f);
      Tensor want = Tensor::empty({3, I}, DType::F32);
      ops::act_and_mul(gu, act, want);
      Tensor got = Tensor::empty({3, I}, dt(), Device::CUDA);
      ops::act_and_mul(to_gpu(gu, dt()), act, got);
      EXPECT_LT(rel_error(to_cpu_f32(got), want), error_bar(dt()));
    }
  }
}

TEST_P(CudaOps, EmbeddingZeroesIdsOutsideThisShard) {
  uint32_t seed = 110;
  for (int64_t H : {37, 64}) {
    for (int64_t vocab_start : {int64_t{10}, int64_t{-2}}) {  // -2: OPT's learned positions are offset by 2
      SCOPED_TRACE(::testing::Message() << "H=" << H << " vocab_start=" << vocab_start);
      Tensor table = random_f32({50, H}, dt(), seed++);
      std::vector<int32_t> ids = {0, 10, 11, 59, 60, 25, -2, 47};
      Tensor want = Tensor::empty({(int64_t)ids.size(), H}, DType::F32);
      ops::embedding(int_tensor(ids, Device::CPU), table, vocab_start, want);
      Tensor got = Tensor::empty({(int64_t)ids.size(), H}, dt(), Device::CUDA);
      ops::embedding(int_tensor(ids, Device::CUDA), to_gpu(table, dt()), vocab_start, got);
      EXPECT_EQ(rel_error(to_cpu_f32(got), want), 0.0);  // a copy: exact
    }
  }
}

// [max_pos, rot] cos/sin table (cos in the first half), as RotaryEmbedding builds it.
Tensor rope_table(int64_t max_pos, int64_t rot) {
  Tensor cs = Tensor::empty({max_pos, rot}, DType::F32);
  for (int64_t p = 0; p < max_pos; ++p)
    for (int64_t i = 0; i < rot / 2; ++i) {
      double angle = p * std::pow(10000.0, -2.0 * i / rot);
      cs.data<float>()[p * rot + i] = (float)std::cos(angle);
      cs.data<float>()[p * rot + rot / 2 + i] = (float)std::sin(angle);
    }
  return cs;
}

TEST_P(CudaOps, RotaryNeoxAndInterleavedMatchCpu) {
  uint32_t seed = 130;
  const int64_t T = 5, Hq = 4, Hk = 2, max_pos = 32;
  for (int64_t D : {16, 64, 80}) {
    for (int64_t rot : {D, D / 2}) {
      for (bool neox : {true, false}) {
        SCOPED_TRACE(::testing::Message() << "D=" << D << " rot=" << rot << " neox=" << neox);
        Tensor cs = rope_table(max_pos, rot);
        std::vector<int32_t> pos = {0, 31, 7, 7, 19};
        Tensor q = random_f32({T, Hq, D}, dt(), seed++), k = random_f32({T, Hk, D}, dt(), seed++);
        Tensor qg = to_gpu(q, dt()), kg = to_gpu(k, dt());
        ops::rotary(q, k, int_tensor(pos, Device::CPU), cs, neox);
        ops::rotary(qg, kg, int_tensor(pos, Device::CUDA), cs.to(Device::CUDA), neox);
        EXPECT_LT(rel_error(to_cpu_f32(qg), q), error_bar(dt()));
        EXPECT_LT(rel_error(to_cpu_f32(kg), k), error_bar(dt()));
      }
    }
  }
}

TEST_P(CudaOps, CacheWriteScattersRowsAndSkipsPadding) {
  uint32_t seed = 150;
  for (int64_t D : {20, 64}) {
    SCOPED_TRACE(::testing::Message() << "D=" << D);
    const int64_t T = 6, Hk = 2, blocks = 4, bs = 4;
    Tensor k = random_f32({T, Hk, D}, dt(), seed++), v = random_f32({T, Hk, D}, dt(), seed++);
    Tensor kc = random_f32({blocks, bs, Hk, D}, dt(), seed++), vc = random_f32({blocks, bs, Hk, D}, dt(), seed++);
    std::vector<int32_t> slots = {3, -1, 7, 0, 15, 9};
    Tensor kcg = to_gpu(kc, dt()), vcg = to_gpu(vc, dt());
    ops::cache_write(k, v, int_tensor(slots, Device::CPU), kc, vc);
    ops::cache_write(to_gpu(k, dt()), to_gpu(v, dt()), int_tensor(slots, Device::CUDA), kcg, vcg);
    EXPECT_EQ(rel_error(to_cpu_f32(kcg), kc), 0.0);
    EXPECT_EQ(rel_error(to_cpu_f32(vcg), vc), 0.0);
  }
}

// The fused split + rotary + cache write against the CPU backend, which runs the unfused sequence
// (three column copies, rotary, cache_write); with and without rotary, partial rotary, a padding row.
TEST_P(CudaOps, QkvToCacheMatchesTheUnfusedSequence) {
  uint32_t seed = 160;
  const int64_t T = 6, Hq = 4, Hk = 2, blocks = 4, bs = 4, max_pos = 32;
  const std::vector<int32_t> pos = {0, 31, 7, 7, 19, 2}, slots = {3, -1, 7, 0, 15, 9};
  for (int64_t D : {16, 64, 80}) {
    for (int64_t rot : {D, D / 2, int64_t{0}}) {
      for (bool neox : {true, false}) {
        SCOPED_TRACE(::testing::Message() << "D=" << D << " rot=" << rot << " neox=" << neox);
        Tensor qkv = random_f32({T, (Hq + 2 * Hk) * D}, dt(), seed++);
        Tensor kc = random_f32({blocks, bs, Hk, D}, dt(), seed++), vc = random_f32({blocks, bs, Hk, D}, dt(), seed++);
        Tensor kcg = to_gpu(kc, dt()), vcg = to_gpu(vc, dt());
        Tensor q = Tensor::empty({T, Hq, D}, DType::F32), qg = Tensor::empty({T, Hq, D}, dt(), Device::CUDA);
        Tensor cs = rot ? rope_table(max_pos, rot) : Tensor(), csg = rot ? cs.to(Device::CUDA) : Tensor();
        ops::qkv_to_cache(qkv, int_tensor(pos, Device::CPU), rot ? &cs : nullptr, neox, int_tensor(slots, Device::CPU),
                          q, kc, vc);
        ops::qkv_to_cache(to_gpu(qkv, dt()), int_tensor(pos, Device::CUDA), rot ? &csg : nullptr, neox,
                          int_tensor(slots, Device::CUDA), qg, kcg, vcg);
        EXPECT_LT(rel_error(to_cpu_f32(qg), q), error_bar(dt()));
        EXPECT_LT(rel_error(to_cpu_f32(kcg), kc), error_bar(dt()));
        EXPECT_EQ(rel_error(to_cpu_f32(vcg), vc), 0.0);  // v is only moved
      }
    }
  }
}

TEST_P(CudaOps, GatherRowsAndSliceColsAreExactCopies) {
  uint32_t seed = 170;
  for (int64_t H : {37, 64}) {
    SCOPED_TRACE(::testing::Message() << "H=" << H);
    Tensor x = random_f32({9, H}, dt(), seed++);
    Tensor xg = to_gpu(x, dt());
    std::vector<int32_t> rows = {8, 0, 3, 3};
    Tensor want = Tensor::empty({4, H}, DType::F32);
    ops::gather_rows(x, int_tensor(rows, Device::CPU), want);
    Tensor got = Tensor::empty({4, H}, dt(), Device::CUDA);
    ops::gather_rows(xg, int_tensor(rows, Device::CUDA), got);
    EXPECT_EQ(rel_error(to_cpu_f32(got), want), 0.0);

    for (int64_t start : {int64_t{0}, int64_t{5}, H - 3}) {
      Tensor s_want = ops::slice_cols(x, start, 3);
      Tensor s_got = ops::slice_cols(xg, start, 3);
      EXPECT_EQ(rel_error(to_cpu_f32(s_got), s_want), 0.0) << "start=" << start;
    }
  }
}

TEST_P(CudaOps, CopyColsIntoWiderRowsIsExact) {
  // The LM head's assembly of gathered vocab shards: blocks of columns into place, the last one short.
  uint32_t seed = 180;
  const int64_t M = 5, local = 37, tp = 3, vocab = 100;
  Tensor gathered = random_f32({tp * M, local}, dt(), seed++);
  Tensor want = Tensor::zeros({M, vocab}, DType::F32);
  Tensor got = Tensor::zeros({M, vocab}, dt(), Device::CUDA);
  Tensor gathered_g = to_gpu(gathered, dt());
  for (int64_t r = 0; r < tp; ++r) {
    const int64_t n = std::min(local, vocab - r * local);
    ops::copy_cols(gathered.slice_rows(r * M, M), 0, want, r * local, n);
    ops::copy_cols(gathered_g.slice_rows(r * M, M), 0, got, r * local, n);
  }
  EXPECT_EQ(rel_error(to_cpu_f32(got), want), 0.0);
  for (int64_t m = 0; m < M; ++m)  // spot check against the source
    EXPECT_EQ(want.data<float>()[m * vocab + local + 2], gathered.data<float>()[(M + m) * local + 2]);
}

TEST_P(CudaOps, CastRoundsLikeTheCpuConversions) {
  // x is not pre-rounded: the GPU's f32 -> dtype rounding must match core/dtype.h's bit for bit.
  Tensor x = Tensor::from_f32(random_values(1001, 190, 50.f), {1001});
  x.data<float>()[0] = 1e-8f;  // subnormal in f16
  x.data<float>()[1] = 70000.f;  // overflows f16 to inf
  Tensor xg = x.to(Device::CUDA);
  Tensor down = Tensor::empty({1001}, dt(), Device::CUDA);
  ops::cast(xg, down);
  Tensor up = Tensor::empty({1001}, DType::F32, Device::CUDA);
  ops::cast(down, up);
  Tensor want = x.to_dtype(dt()).to_dtype(DType::F32);
  Tensor got = up.to(Device::CPU);
  EXPECT_EQ(std::memcmp(got.raw(), want.raw(), got.nbytes()), 0);
}

INSTANTIATE_TEST_SUITE_P(AllFloatTypes, CudaOps, ::testing::Values(DType::F32, DType::F16, DType::BF16), param_name);

TEST(CudaOpsErrors, HostTensorInAGpuOpIsAnErrorNotACrash) {
  SHARDLM_REQUIRE_GPU();
  Tensor table = Tensor::zeros({4, 8}, DType::F16, Device::CUDA);
  Tensor out = Tensor::empty({2, 8}, DType::F16, Device::CUDA);
  EXPECT_THROW(ops::embedding(int_tensor({0, 1}, Device::CPU), table, 0, out), Error);
}

TEST(CudaOpsErrors, MixedDtypesAreRejected) {
  SHARDLM_REQUIRE_GPU();
  Tensor x = Tensor::zeros({2, 8}, DType::F16, Device::CUDA);
  Tensor w = Tensor::zeros({3, 8}, DType::BF16, Device::CUDA);
  Tensor y = Tensor::empty({2, 3}, DType::F16, Device::CUDA);
  EXPECT_THROW(ops::linear(x, w, nullptr, y), Error);
}

TEST(CudaOpsErrors, AddNormRefusesMixedDtypesAndHostTensors) {
  SHARDLM_REQUIRE_GPU();
  Tensor x = Tensor::zeros({2, 8}, DType::F16, Device::CUDA), r = Tensor::zeros({2, 8}, DType::F16, Device::CUDA);
  Tensor w_bf16 = Tensor::zeros({8}, DType::BF16, Device::CUDA), w_host = Tensor::zeros({8}, DType::F16);
  EXPECT_THROW(ops::add_rms_norm(x, r, w_bf16, 1e-6f), Error);
  EXPECT_THROW(ops::add_layer_norm(x, r, &w_bf16, nullptr, 1e-5f), Error);
  EXPECT_THROW(ops::add_rms_norm(x, r, w_host, 1e-6f), Error);
  Tensor r_host = Tensor::zeros({2, 8}, DType::F16);
  EXPECT_THROW(ops::add_rms_norm(x, r_host, w_host, 1e-6f), Error);
}

}  // namespace
