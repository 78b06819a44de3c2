// AVX2/FMA/F16C linear kernels over weights kept in their stored dtype (f32, f16, bf16), widened to f32 in
// registers. Every function here is compiled for AVX2 and runs only after detected_isa() said so.
//
// Gemv (decode, M <= 8): each weight row is read once from memory per call and multiplied against up to
// 4 activation rows held in L1; bytes moved ~ N*K*sizeof(weight), 2*M*N*K flops, so it runs at memory
// bandwidth. Gemm (prefill): per K block of 256, a panel of up to 256 weight rows is widened and transposed
// once into a packed f32 buffer [16 columns][k] (L2-resident), then a 6x16 register-blocked FMA kernel
// (12 accumulators, 2 loads + 6 broadcasts per 12 FMAs) sweeps all activation rows over it.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "ops/cpu/linear_kernels.h"
#include "ops/cpu/simd_avx2.h"

namespace shardlm::cpu {

namespace {

using avx2::BF16W;
using avx2::F16W;
using avx2::F32W;
using avx2::hsum;
using avx2::load1;
using avx2::load8;

// ---- Gemv -------------------------------------------------------------------------------------------

// y[i, j] = x[i, :] . w[j, :] (+ bias[j]) for MR activation rows and NR consecutive weight rows.
// The NR rows are one contiguous stretch of memory and the following tiles' rows follow it; each step
// prefetches, into L2, the bytes two tiles ahead in step with this tile's, so they are on their way well
// before use. The hardware prefetcher alone ramps up too slowly on these short, interleaved streams, and
// prefetching into L1 is capped by its few miss buffers (one core, f16: 31 ms per llama-125m weight sweep
// without prefetch, 18 ms into L1 one tile ahead, 13 ms into L2 two tiles ahead).
template <class W, int MR, int NR>
SHARDLM_TARGET_AVX2 void gemv_tile(const float* x, int64_t K, const typename W::Elem* w, const float* bias, float* y,
                                   int64_t ldy, const char* prefetch_end) {
  const char* prefetch = reinterpret_cast<const char*>(w + 2 * NR * K);
  // Bytes of the next tile to cover per 8-wide step: NR rows of 8 elements.
  constexpr int64_t kPrefetchStep = NR * 8 * (int64_t)sizeof(typename W::Elem);
  __m256 acc[MR][NR];
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    if (prefetch < prefetch_end) {
#pragma GCC unroll 4
      for (int64_t line = 0; line < kPrefetchStep; line += 64) _mm_prefetch(prefetch + line, _MM_HINT_T1);
    }
    prefetch += kPrefetchStep;
    __m256 wv[NR];
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) wv[j] = load8(W{}, w + j * K + k);
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) {
      __m256 xv = _mm256_loadu_ps(x + i * K + k);
#pragma GCC unroll 4
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int j = 0; j < NR; ++j) {
      float s = hsum(acc[i][j]);
      for (int64_t kk = k; kk < K; ++kk) s += x[i * K + kk] * load1(W{}, w + j * K + kk);
      if (bias) s += bias[j];
      y[i * ldy + j] = s;
    }
  }
}

// Registers: MR*NR accumulators + NR weight vectors + 1 activation vector must fit in 16.
template <int MR>
constexpr int gemv_nr() {
  return MR <= 2 ? 4 : 3;
}

template <class W, int MR>
SHARDLM_TARGET_AVX2 void gemv_rows(const LinearArgs& a, int64_t m0, int64_t n_begin, int64_t n_end) {
  constexpr int NR = gemv_nr<MR>();
  const auto* w = static_cast<const typename W::Elem*>(a.w);
  const float* x = a.x + m0 * a.K;
  float* y = a.y + m0 * a.N;
  // Prefetches run on past this chunk into the next one (whichever thread takes it) but not past the matrix.
  const char* end = reinterpret_cast<const char*>(w + a.N * a.K);
  int64_t n = n_begin;
  for (; n + NR <= n_end; n += NR)
    gemv_tile<W, MR, NR>(x, a.K, w + n * a.K, a.bias ? a.bias + n : nullptr, y + n, a.N, end);
  for (; n < n_end; ++n) gemv_tile<W, MR, 1>(x, a.K, w + n * a.K, a.bias ? a.bias + n : nullptr, y + n, a.N, end);
}

template <class W>
SHARDLM_TARGET_AVX2 void gemv_typed(const LinearArgs& a, int64_t m_begin, int64_t m_end, int64_t n_begin,
                                    int64_t n_end) {
  for (int64_t m0 = m_begin; m0 < m_end; m0 += 4) {
    switch (std::min<int64_t>(4, m_end - m0)) {
      case 1: gemv_rows<W, 1>(a, m0, n_begin, n_end); break;
      case 2: gemv_rows<W, 2>(a, m0, n_begin, n_end); break;
      case 3: gemv_rows<W, 3>(a, m0, n_begin, n_end); break;
      default: gemv_rows<W, 4>(a, m0, n_begin, n_end); break;
    }
  }
}

// ---- Gemm -------------------------------------------------------------------------------------------

constexpr int64_t kKc = 256;  // K block: a 6-row activation block (6 KiB) stays in L1
constexpr int64_t kNr = 16;   // packed panel width: two 8-float vectors
constexpr int kMr = 6;        // activation rows per micro-kernel: 12 accumulators

SHARDLM_TARGET_AVX2 inline void transpose8(__m256 r[8]) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// out[k][j] = w[j][k0 + k] widened, for k < kc and j < 16; rows j >= rows_valid are zero.
template <class W>
SHARDLM_TARGET_AVX2 void pack_panel(const typename W::Elem* w, int64_t K, int64_t rows_valid, int64_t k0, int64_t kc,
                                    float* out) {
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    for (int g = 0; g < 2; ++g) {
      __m256 r[8];
#pragma GCC unroll 8
      for (int t = 0; t < 8; ++t) {
        const int64_t row = g * 8 + t;
        r[t] = row < rows_valid ? load8(W{}, w + row * K + k0 + k) : _mm256_setzero_ps();
      }
      transpose8(r);
#pragma GCC unroll 8
      for (int t = 0; t < 8; ++t) _mm256_storeu_ps(out + (k + t) * kNr + g * 8, r[t]);
    }
  }
  for (; k < kc; ++k)
    for (int64_t j = 0; j < kNr; ++j) out[k * kNr + j] = j < rows_valid ? load1(W{}, w + j * K + k0 + k) : 0.f;
}

// c[i, 0:cols] (+)= a[i, 0:kc] . b[0:kc, 0:cols] for MR rows. With accumulate, adds to c; otherwise stores,
// adding bias[0:cols] when given.
template <int MR>
SHARDLM_TARGET_AVX2 void micro_kernel(int64_t kc, const float* a, int64_t lda, const float* b, float* c, int64_t ldc,
                                      int64_t cols, bool accumulate, const float* bias) {
  __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(b + k * kNr), b1 = _mm256_loadu_ps(b + k * kNr + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 av = _mm256_broadcast_ss(a + i * lda + k);
      c0[i] = _mm256_fmadd_ps(av, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(av, b1, c1[i]);
    }
  }
  if (cols == kNr) {
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      float* ci = c + i * ldc;
      __m256 lo = c0[i], hi = c1[i];
      if (accumulate) {
        lo = _mm256_add_ps(lo, _mm256_loadu_ps(ci));
        hi = _mm256_add_ps(hi, _mm256_loadu_ps(ci + 8));
      } else if (bias) {
        lo = _mm256_add_ps(lo, _mm256_loadu_ps(bias));
        hi = _mm256_add_ps(hi, _mm256_loadu_ps(bias + 8));
      }
      _mm256_storeu_ps(ci, lo);
      _mm256_storeu_ps(ci + 8, hi);
    }
    return;
  }
  alignas(32) float tmp[kNr];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    _mm256_store_ps(tmp, c0[i]);
    _mm256_store_ps(tmp + 8, c1[i]);
    for (int64_t j = 0; j < cols; ++j) ci[j] = tmp[j] + (accumulate ? ci[j] : bias ? bias[j] : 0.f);
  }
}

SHARDLM_TARGET_AVX2 void micro_kernel_rows(int mr, int64_t kc, const float* a, int64_t lda, const float* b, float* c,
                                           int64_t ldc, int64_t cols, bool accumulate, const float* bias) {
  switch (mr) {
    case 1: micro_kernel<1>(kc, a, lda, b, c, ldc, cols, accumulate, bias); break;
    case 2: micro_kernel<2>(kc, a, lda, b, c, ldc, cols, accumulate, bias); break;
    case 3: micro_kernel<3>(kc, a, lda, b, c, ldc, cols, accumulate, bias); break;
    case 4: micro_kernel<4>(kc, a, lda, b, c, ldc, cols, accumulate, bias); break;
    case 5: micro_kernel<5>(kc, a, lda, b, c, ldc, cols, accumulate, bias); break;
    default: micro_kernel<6>(kc, a, lda, b, c, ldc, cols, accumulate, bias); break;
  }
}

// The packed panels of one call live here, per thread, grown once and reused (no allocation per call).
std::vector<float>& packed_panels(size_t floats) {
  thread_local std::vector<float> buf;
  if (buf.size() < floats) buf.resize(floats);
  return buf;
}

template <class W>
SHARDLM_TARGET_AVX2 void gemm_typed(const LinearArgs& a, int64_t m_begin, int64_t m_end, int64_t n_begin,
                                    int64_t n_end) {
  const auto* w = static_cast<const typename W::Elem*>(a.w);
  const int64_t K = a.K, N = a.N, cols = n_end - n_begin;
  const int64_t panels = (cols + kNr - 1) / kNr;
  float* packed = packed_panels((size_t)(panels * kKc * kNr)).data();
  for (int64_t k0 = 0; k0 < K; k0 += kKc) {
    const int64_t kc = std::min(kKc, K - k0);
    for (int64_t p = 0; p < panels; ++p)
      pack_panel<W>(w + (n_begin + p * kNr) * K, K, std::min(kNr, cols - p * kNr), k0, kc, packed + p * kc * kNr);
    const bool accumulate = k0 > 0;
    for (int64_t m0 = m_begin; m0 < m_end; m0 += kMr) {
      const int mr = (int)std::min<int64_t>(kMr, m_end - m0);
      for (int64_t p = 0; p < panels; ++p) {
        const int64_t n = n_begin + p * kNr;
        micro_kernel_rows(mr, kc, a.x + m0 * K + k0, K, packed + p * kc * kNr, a.y + m0 * N + n, N,
                          std::min(kNr, n_end - n), accumulate, a.bias && !accumulate ? a.bias + n : nullptr);
      }
    }
  }
}

}  // namespace

void gemv_avx2(const LinearArgs& a, int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end) {
  switch (a.w_dtype) {
    case DType::F32: return gemv_typed<F32W>(a, m_begin, m_end, n_begin, n_end);
    case DType::F16: return gemv_typed<F16W>(a, m_begin, m_end, n_begin, n_end);
    case DType::BF16: return gemv_typed<BF16W>(a, m_begin, m_end, n_begin, n_end);
    case DType::I32:
    case DType::I64:
    case DType::U8:
    case DType::F8E4M3: break;
  }
  SHARDLM_CHECK(false, "gemv_avx2: weights must be f32, f16 or bf16");
}

void gemm_avx2(const LinearArgs& a, int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end) {
  switch (a.w_dtype) {
    case DType::F32: return gemm_typed<F32W>(a, m_begin, m_end, n_begin, n_end);
    case DType::F16: return gemm_typed<F16W>(a, m_begin, m_end, n_begin, n_end);
    case DType::BF16: return gemm_typed<BF16W>(a, m_begin, m_end, n_begin, n_end);
    case DType::I32:
    case DType::I64:
    case DType::U8:
    case DType::F8E4M3: break;
  }
  SHARDLM_CHECK(false, "gemm_avx2: weights must be f32, f16 or bf16");
}

}  // namespace shardlm::cpu
