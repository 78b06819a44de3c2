// GPU sampling: the CPU sampler's pipeline (engine/sampler.cpp, sample_token) for a batch of logits rows
// already on the GPU, one 1024-thread block per row:
//
//   pass 1   raw max, lowest NaN/+inf id, argmax (lowest id on ties) and finite count of processed logits
//   pass 2   raw log-sum-exp (f64 per-thread sums, fixed-order tree)            -> greedy rows stop here
//   top_k    radix select (4 x 8-bit digits, integer counts) of the k-th largest finite processed logit
//   total    sum of fixed-point weights  W = floor(w * 2^40),  w = exp((l - l_max) / T), 0 when dropped
//   top_p    radix select on the weights' bits with integer mass histograms: the cut weight, then (ties) the
//            j-th tied token in id order
//   draw     target = floor(u * kept_total); the first id whose running kept weight exceeds target: each
//            warp sums its contiguous range of ids, a scan of the 32 sums picks the range, one warp walks it
//
// Histogram updates are aggregated per warp (__match_any_sync): one shared atomic per distinct digit, as
// logits crowd into a few exponent bins.
//
// Processed logits are never stored: each pass recomputes them from the raw row. Tokens with penalties or
// suppression have a bit in a shared-memory bitmap and their SampleEntry is found by binary search.
//
// Determinism: every reduction is exact (max, min, integer sums, argmax under a strict total order) or runs
// in a fixed order (the f64 log-sum-exp: a fixed per-thread stride, then a fixed shuffle tree). Shared-memory
// atomics only add integers or OR bits. So each row's result depends only on its inputs, bit for bit.
#include <climits>
#include <cmath>
#include <mutex>

#include "ops/cuda/cuda_context.h"
#include "ops/cuda/sampling.h"

namespace shardlm::cuda {

namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;
constexpr int kBins = 256;  // radix digit: 8 bits
constexpr unsigned kFullMask = 0xffffffffu;
constexpr float kFixedPointScale = 1099511627776.0f;  // 2^40: weights in [0, 1] -> [0, 2^40]

using u64 = unsigned long long;

// Shared memory of one block besides the dynamic token bitmap.
struct Shared {
  u64 hist_mass[kBins];
  unsigned hist_count[kBins];
  double red_f64[kWarps];
  u64 red_u64[kWarps];
  float red_f32[kWarps];
  int red_i32[kWarps];
  u64 staging[kThreads];  // warp_add_mass: one slot per thread
  int sel_digit;          // select_bin_desc's answer
  u64 sel_above;
  int sel_warp;           // first_exceeding's answers
  u64 sel_carry;
  int found;
};

// ---- Block-wide primitives (blockDim.x == kThreads). Each starts with __syncthreads() so its scratch may
// be reused right after the previous call; every thread gets the result. Then the warp-wide ones.

template <typename T, typename Op>
__device__ T block_reduce(T v, Op op, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(kFullMask, v, o));
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = scratch[lane];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_down_sync(kFullMask, v, o));
    if (lane == 0) scratch[0] = v;
  }
  __syncthreads();
  return scratch[0];
}

// a ranks above b: larger value, or the same value and a lower id.
__device__ __forceinline__ bool ranks_higher(float va, int ia, float vb, int ib) {
  return va > vb || (va == vb && ia < ib);
}

// Block argmax under ranks_higher; (value, index) of the winner in every thread.
__device__ void block_argmax(float& value, int& index, Shared& sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float v = __shfl_down_sync(kFullMask, value, o);
    const int i = __shfl_down_sync(kFullMask, index, o);
    if (ranks_higher(v, i, value, index)) value = v, index = i;
  }
  __syncthreads();
  if (lane == 0) sh.red_f32[warp] = value, sh.red_i32[warp] = index;
  __syncthreads();
  if (warp == 0) {
    value = sh.red_f32[lane];
    index = sh.red_i32[lane];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float v = __shfl_down_sync(kFullMask, value, o);
      const int i = __shfl_down_sync(kFullMask, index, o);
      if (ranks_higher(v, i, value, index)) value = v, index = i;
    }
    if (lane == 0) sh.red_f32[0] = value, sh.red_i32[0] = index;
  }
  __syncthreads();
  value = sh.red_f32[0];
  index = sh.red_i32[0];
}

// Inclusive prefix sum over the warp's lanes.
__device__ __forceinline__ u64 warp_inclusive_scan(u64 v) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const u64 t = __shfl_up_sync(kFullMask, v, o);
    if (lane >= o) v += t;
  }
  return v;
}

// hist[digit] += 1 for every lane of the warp, one atomic per distinct digit; digit >= kBins adds nothing.
// Every lane of the warp calls it.
__device__ __forceinline__ void warp_add_count(unsigned* hist, unsigned digit) {
  const unsigned peers = __match_any_sync(kFullMask, digit);
  if (digit < kBins && (int)(threadIdx.x & 31) == __ffs(peers) - 1) atomicAdd(&hist[digit], (unsigned)__popc(peers));
}

// mass_hist[digit] += mass (and count_hist[digit] += 1 when count_hist is set) for every lane of the warp,
// one atomic per distinct digit; digit >= kBins adds nothing. Every lane of the warp calls it.
__device__ __forceinline__ void warp_add_mass(u64* mass_hist, unsigned* count_hist, unsigned digit, u64 mass,
                                              Shared& sh) {
  const int lane = threadIdx.x & 31;
  u64* staging = sh.staging + (threadIdx.x & ~31u);
  const unsigned peers = __match_any_sync(kFullMask, digit);
  staging[lane] = mass;
  __syncwarp();
  if (digit < kBins && lane == __ffs(peers) - 1) {
    u64 sum = 0;
    for (unsigned m = peers; m != 0; m &= m - 1) sum += staging[__ffs(m) - 1];
    atomicAdd(&mass_hist[digit], sum);
    if (count_hist) atomicAdd(&count_hist[digit], (unsigned)__popc(peers));
  }
  __syncwarp();  // the staging slots are rewritten by the next call
}

// Walking the bins from the highest digit down, finds the first where the running sum reaches `need`
// (>= 1): sh.sel_digit = that digit and sh.sel_above = the sum of the bins above it, or sel_digit = -1 when
// all bins hold less than `need`. Warp 0 works; the caller synchronises before reading.
template <typename H>
__device__ void select_bin_desc(const H* hist, u64 need, Shared& sh) {
  if (threadIdx.x >= 32) return;
  const int lane = threadIdx.x;
  const int top = kBins - 1 - 8 * lane;  // this lane's bins: top, top-1, ..., top-7
  u64 sum = 0;
#pragma unroll
  for (int b = 0; b < 8; ++b) sum += hist[top - b];
  u64 incl = sum;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const u64 t = __shfl_up_sync(kFullMask, incl, o);
    if (lane >= o) incl += t;
  }
  const u64 total = __shfl_sync(kFullMask, incl, 31);
  if (total < need) {
    if (lane == 0) sh.sel_digit = -1, sh.sel_above = total;
    return;
  }
  const u64 excl = incl - sum;
  if (excl < need && need <= incl) {  // exactly one lane
    u64 acc = excl;
    for (int b = 0; b < 8; ++b) {
      const u64 h = hist[top - b];
      if (acc + h >= need) {
        sh.sel_digit = top - b;
        sh.sel_above = acc;
        break;
      }
      acc += h;
    }
  }
}

// ---- Per-element arithmetic, written as the CPU sampler writes it (explicitly rounded so that no
// multiply-add is contracted into an FMA).

// Unsigned key ordered as the float (-0 as +0): larger float, larger key.
__device__ __forceinline__ uint32_t order_key(float l) {
  const uint32_t b = __float_as_uint(l == 0.f ? 0.f : l);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
__device__ __forceinline__ float key_value(uint32_t k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// The sampler's weight of a processed logit: exp((l - l_max) / T), 0 below the top-k logit, for -inf, and
// below min_p. Not inlined: every pass must compute bit-identical weights.
__device__ __noinline__ float token_weight(float l, float max_logit, float temperature, float min_p,
                                           float top_k_logit) {
  if (l == -INFINITY || !(l >= top_k_logit)) return 0.f;
  const float w = expf(__fdiv_rn(__fsub_rn(l, max_logit), temperature));
  return w < min_p ? 0.f : w;
}

__device__ __forceinline__ u64 fixed_weight(float w) { return __float2ull_rz(__fmul_rn(w, kFixedPointScale)); }

// One row: its raw logits, its parameters, and the tokens with entries.
struct RowView {
  const float* raw;             // [vocab]
  const uint32_t* bitmap;       // shared: bit t set when token t has an entry
  const SampleEntry* entries;   // sorted by token
  int num_entries;
  uint32_t flags;               // kSample*
  float repetition_penalty, frequency_penalty, presence_penalty;

  // The logit after penalties and suppression (sample_token's `scratch` before temperature).
  __device__ float processed(int i, float l) const {
    if (num_entries == 0 || !((bitmap[i >> 5] >> (i & 31)) & 1u)) return l;
    int lo = 0, hi = num_entries - 1;
    while (lo < hi) {
      const int mid = (lo + hi) >> 1;
      if (entries[mid].token < i) lo = mid + 1;
      else hi = mid;
    }
    const SampleEntry e = entries[lo];
    if (e.token != i) return l;  // unreachable: the bitmap holds only entry tokens
    if ((flags & kSampleRepetition) && ((e.flags & kEntryInPrompt) || e.output_count > 0))
      l = l > 0.f ? __fdiv_rn(l, repetition_penalty) : __fmul_rn(l, repetition_penalty);
    if ((flags & kSampleFreqPresence) && e.output_count > 0) {
      l = __fsub_rn(l, __fmul_rn(frequency_penalty, (float)e.output_count));
      l = __fsub_rn(l, presence_penalty);
    }
    if (e.flags & kEntrySuppressed) l = -INFINITY;
    return l;
  }
};

__device__ void write_result(SampleRowResult* out, int32_t token, float logprob, int32_t status,
                             int32_t detail_token, float detail_value) {
  if (threadIdx.x != 0) return;
  out->token = token;
  out->logprob = logprob;
  out->status = status;
  out->detail_token = detail_token;
  out->detail_value = detail_value;
}

// The k-th largest finite processed logit (1 <= k < number of finite ones), by radix select.
__device__ float top_k_logit(const RowView& row, int vocab, int k, Shared& sh) {
  uint32_t prefix = 0, mask = 0;
  u64 need = (u64)k;
  for (int shift = 24; shift >= 0; shift -= 8) {
    if (threadIdx.x < kBins) sh.hist_count[threadIdx.x] = 0;
    __syncthreads();
    for (int base = 0; base < vocab; base += kThreads) {  // whole warps: warp_add_count
      const int i = base + (int)threadIdx.x;
      unsigned digit = kBins;
      if (i < vocab) {
        const float l = row.processed(i, row.raw[i]);
        const uint32_t key = order_key(l);
        if (l != -INFINITY && (key & mask) == prefix) digit = (key >> shift) & 0xffu;
      }
      warp_add_count(sh.hist_count, digit);
    }
    __syncthreads();
    select_bin_desc(sh.hist_count, need, sh);
    __syncthreads();
    const int digit = sh.sel_digit;
    if (digit < 0) return -INFINITY;  // unreachable (k < finite count); keeps everything
    need -= sh.sel_above;
    prefix |= (uint32_t)digit << shift;
    mask |= 0xffu << shift;
  }
  return key_value(prefix);
}

// Weights of one row as the sampler computes them.
struct Weights {
  float max_logit, temperature, min_p, top_k_logit;
  __device__ float operator()(const RowView& row, int i) const {
    return token_weight(row.processed(i, row.raw[i]), max_logit, temperature, min_p, top_k_logit);
  }
};

// The top-p cut: tokens are kept when their weight's bits exceed cut_key, or equal it with id <= cut_id.
struct TopPCut {
  uint32_t cut_key = 0;  // 0 and cut_id -1: every positive weight stays
  int cut_id = -1;
  u64 kept_total = 0;
  __device__ bool keeps(float w, int i) const {
    const uint32_t key = __float_as_uint(w);
    return w > 0.f && (key > cut_key || (key == cut_key && i <= cut_id));
  }
};

// The lowest id whose running sum of value(i) (ids ascending) exceeds `target`, or -1 when the whole sum
// does not. Warp w sums its contiguous range of ids; warp 0 scans the 32 sums and picks the range that
// crosses `target`; that warp walks its range 32 ids at a time. `value` must give the same answer each time.
template <typename Value>
__device__ int first_exceeding(int vocab, const Value& value, u64 target, Shared& sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int span = (vocab + kThreads - 1) / kThreads * 32;  // ids per warp, a multiple of 32
  const int begin = warp * span;
  const int end = min(begin + span, vocab);
  u64 sum = 0;
  for (int i = begin + lane; i < end; i += 32) sum += value(i);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_down_sync(kFullMask, sum, o);
  __syncthreads();  // red_u64 and the answers may still be read from a previous call
  if (lane == 0) sh.red_u64[warp] = sum;
  if (threadIdx.x == 0) sh.found = -1;
  __syncthreads();
  if (warp == 0) {
    const u64 own = sh.red_u64[lane];
    const u64 incl = warp_inclusive_scan(own);
    const u64 excl = incl - own;
    if (lane == 0) sh.sel_warp = -1;
    __syncwarp();
    if (excl <= target && target < incl) sh.sel_warp = lane, sh.sel_carry = excl;  // at most one lane
  }
  __syncthreads();
  if (warp == sh.sel_warp) {
    u64 carry = sh.sel_carry;
    for (int base = begin; base < end; base += 32) {  // warp-uniform bounds and exit
      const int i = base + lane;
      const u64 v = i < end ? value(i) : 0;
      const u64 incl = warp_inclusive_scan(v);
      if (v > 0 && carry + (incl - v) <= target && target < carry + incl) sh.found = i;  // exactly one lane
      carry += __shfl_sync(kFullMask, incl, 31);
      if (carry > target) break;
    }
  }
  __syncthreads();
  return sh.found;
}

// Smallest most-probable set whose mass reaches top_p * total (ties by lower id), in fixed point.
__device__ TopPCut top_p_cut(const RowView& row, int vocab, const Weights& weights, float top_p, u64 total,
                             Shared& sh) {
  TopPCut cut;
  cut.kept_total = total;
  if (!(top_p < 1.f)) return cut;
  const u64 needed = (u64)ceil((double)top_p * (double)total);
  if (needed < 1 || needed > total) return cut;  // rounding: keep everything, as the CPU does
  uint32_t prefix = 0, mask = 0;
  u64 need = needed, above = 0;
  int digit = -1;
  for (int shift = 24; shift >= 0; shift -= 8) {
    if (threadIdx.x < kBins) sh.hist_mass[threadIdx.x] = 0, sh.hist_count[threadIdx.x] = 0;
    __syncthreads();
    for (int base = 0; base < vocab; base += kThreads) {  // whole warps: warp_add_mass
      const int i = base + (int)threadIdx.x;
      unsigned d = kBins;
      u64 mass = 0;
      if (i < vocab) {
        const float w = weights(row, i);
        const uint32_t key = __float_as_uint(w);
        if (w > 0.f && (key & mask) == prefix) d = (key >> shift) & 0xffu, mass = fixed_weight(w);
      }
      warp_add_mass(sh.hist_mass, shift == 0 ? sh.hist_count : nullptr, d, mass, sh);
    }
    __syncthreads();
    select_bin_desc(sh.hist_mass, need, sh);
    __syncthreads();
    digit = sh.sel_digit;
    if (digit < 0) return cut;  // unreachable (need <= the bucket's mass); keeps everything
    need -= sh.sel_above;
    above += sh.sel_above;
    prefix |= (uint32_t)digit << shift;
    mask |= 0xffu << shift;
  }
  // `prefix` is the cut weight's bits; `above` the mass of larger weights; `need` (>= 1) is still missing.
  const u64 w_cut = fixed_weight(__uint_as_float(prefix));
  const u64 ties = sh.hist_count[digit];
  if (w_cut == 0) return cut;  // unreachable: the chosen bin holds at least `need` >= 1
  const u64 j = (need + w_cut - 1) / w_cut;  // ties needed, 1 <= j <= ties
  cut.cut_key = prefix;
  cut.kept_total = above + j * w_cut;
  if (j >= ties) {
    cut.cut_id = INT_MAX;
  } else {  // the j-th tie in id order: the first id where the running tie count exceeds j - 1
    const auto tie = [&](int i) -> u64 {
      const float w = weights(row, i);
      return w > 0.f && __float_as_uint(w) == prefix ? 1 : 0;
    };
    cut.cut_id = first_exceeding(vocab, tie, j - 1, sh);
  }
  return cut;
}

__global__ void __launch_bounds__(kThreads)
    sample_rows_kernel(const float* __restrict__ logits, int vocab, const SampleRowParams* __restrict__ params,
                       const SampleEntry* __restrict__ entries, SampleRowResult* __restrict__ results) {
  extern __shared__ uint32_t bitmap[];  // [ceil(vocab / 32)]
  __shared__ Shared sh;
  const SampleRowParams p = params[blockIdx.x];
  SampleRowResult* out = results + blockIdx.x;
  const RowView row{logits + (int64_t)p.logits_row * vocab, bitmap, entries + p.entries_begin,
                    p.entries_end - p.entries_begin, p.flags, p.repetition_penalty, p.frequency_penalty,
                    p.presence_penalty};

  const int words = (vocab + 31) / 32;
  for (int w = threadIdx.x; w < words; w += kThreads) bitmap[w] = 0;
  __syncthreads();
  for (int e = threadIdx.x; e < row.num_entries; e += kThreads) {
    const int t = row.entries[e].token;
    if (t >= 0 && t < vocab) atomicOr(&bitmap[t >> 5], 1u << (t & 31));  // the host checked; never trust
  }
  __syncthreads();

  // Pass 1.
  float raw_max = -INFINITY, best = -INFINITY;
  int bad = INT_MAX, best_id = INT_MAX, finite = 0;
  for (int i = threadIdx.x; i < vocab; i += kThreads) {
    const float r = row.raw[i];
    if (bad == INT_MAX && (isnan(r) || r == INFINITY)) bad = i;
    raw_max = fmaxf(raw_max, r);
    const float l = row.processed(i, r);
    if (ranks_higher(l, i, best, best_id)) best = l, best_id = i;
    finite += l != -INFINITY;
  }
  bad = block_reduce(bad, [](int a, int b) { return min(a, b); }, sh.red_i32);
  raw_max = block_reduce(raw_max, [](float a, float b) { return fmaxf(a, b); }, sh.red_f32);
  finite = block_reduce(finite, [](int a, int b) { return a + b; }, sh.red_i32);
  block_argmax(best, best_id, sh);
  if (bad != INT_MAX) {
    const float v = row.raw[bad];
    return write_result(out, -1, 0.f, isnan(v) ? kSampleNanLogit : kSampleInfiniteLogit, bad, v);
  }
  if (raw_max == -INFINITY) return write_result(out, -1, 0.f, kSampleAllLogitsNegInf, -1, raw_max);
  if (best == -INFINITY) return write_result(out, -1, 0.f, kSampleAllSuppressed, -1, best);
  if (!isfinite(best)) return write_result(out, -1, 0.f, kSamplePenalisedNotFinite, best_id, best);

  // Pass 2: log(sum(exp(raw - raw_max))) + raw_max.
  double sum = 0.0;
  for (int i = threadIdx.x; i < vocab; i += kThreads) sum += (double)expf(__fsub_rn(row.raw[i], raw_max));
  sum = block_reduce(sum, [](double a, double b) { return a + b; }, sh.red_f64);
  const double log_sum_exp = (double)raw_max + log(sum);

  int token = best_id;
  if (!(p.flags & kSampleGreedy)) {
    const bool top_k_on = p.top_k > 0 && p.top_k < finite;
    const Weights weights{best, p.temperature, p.min_p, top_k_on ? top_k_logit(row, vocab, p.top_k, sh) : -INFINITY};
    u64 total = 0;
    for (int i = threadIdx.x; i < vocab; i += kThreads) total += fixed_weight(weights(row, i));
    total = block_reduce(total, [](u64 a, u64 b) { return a + b; }, sh.red_u64);
    const TopPCut cut = top_p_cut(row, vocab, weights, p.top_p, total, sh);
    // kept_total >= 2^40: the maximum's weight is 1 and no filter drops it.
    u64 target = (u64)(p.uniform * (double)cut.kept_total);
    if (target >= cut.kept_total) target = cut.kept_total - 1;
    const auto kept = [&](int i) -> u64 {
      const float w = weights(row, i);
      return cut.keeps(w, i) ? fixed_weight(w) : 0;
    };
    token = first_exceeding(vocab, kept, target, sh);
    if (token < 0) return write_result(out, -1, 0.f, kSampleInternal, -1, 0.f);
  }
  write_result(out, token, (float)((double)row.raw[token] - log_sum_exp), kSampleOk, -1, 0.f);
}

// Largest dynamic shared memory the kernel may use (the bitmap), raised to the device's opt-in limit once.
size_t max_bitmap_bytes() {
  static std::once_flag once;
  static size_t limit = 0;
  std::call_once(once, [] {
    cudaFuncAttributes attr{};
    SHARDLM_CUDA_CHECK(cudaFuncGetAttributes(&attr, sample_rows_kernel));
    const size_t optin = max_shared_memory_per_block_optin();
    limit = optin > attr.sharedSizeBytes ? optin - attr.sharedSizeBytes : 0;
    SHARDLM_CUDA_CHECK(
        cudaFuncSetAttribute(sample_rows_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)limit));
  });
  return limit;
}

}  // namespace

void sample_rows(const Tensor& logits, const Tensor& packed, int32_t num_rows, int32_t num_entries,
                 Tensor& results) {
  if (num_rows == 0) return;
  SHARDLM_CHECK(logits.device() == Device::CUDA && logits.dtype() == DType::F32 && logits.ndim() == 2,
                "sample_rows: logits must be [rows, vocab] f32 on the GPU, got ", logits.shape_str());
  SHARDLM_CHECK(packed.device() == Device::CUDA &&
                    packed.nbytes() == (size_t)num_rows * sizeof(SampleRowParams) +
                                           (size_t)num_entries * sizeof(SampleEntry),
                "sample_rows: packed buffer of ", packed.nbytes(), " bytes");
  SHARDLM_CHECK(results.device() == Device::CUDA && results.nbytes() == (size_t)num_rows * sizeof(SampleRowResult),
                "sample_rows: results buffer of ", results.nbytes(), " bytes");
  const int64_t vocab = logits.dim(1);
  if (vocab < 1 || vocab > INT_MAX - kThreads) fail("sample_rows: vocab_size ", vocab, " is out of range");
  const size_t bitmap_bytes = (size_t)(vocab + 31) / 32 * sizeof(uint32_t);
  if (bitmap_bytes > max_bitmap_bytes())
    fail("the GPU sampler supports vocabularies of up to ", max_bitmap_bytes() * 8, " tokens, got ", vocab);
  ensure_device();
  const auto* base = static_cast<const uint8_t*>(packed.raw());
  sample_rows_kernel<<<(unsigned)num_rows, kThreads, bitmap_bytes, stream()>>>(
      logits.data<float>(), (int)vocab, reinterpret_cast<const SampleRowParams*>(base),
      reinterpret_cast<const SampleEntry*>(base + (size_t)num_rows * sizeof(SampleRowParams)),
      results.data<SampleRowResult>());
  SHARDLM_CUDA_CHECK_LAUNCH();
}

}  // namespace shardlm::cuda
