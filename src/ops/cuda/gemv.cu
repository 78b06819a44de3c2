// Skinny GEMM for decode: y[M,N] = x[M,K] @ w[N,K]^T (+ bias[N]) for M <= kGemvMaxRows, f32 accumulation,
// output in the activations' dtype. At small M the work is reading w (N*K elements) once, so both kernels
// are built for memory bandwidth: grid (row_blocks, splits), 4 warps a block, a block owns consecutive rows
// of w and one K chunk [split * k_chunk, +k_chunk); w is streamed with 16-byte loads
// (ld.global.nc.L1::no_allocate: read once, so kept out of L1), 16 independent loads a lane issued before
// the first is used.
//
//   gemv_fma_kernel (CUDA cores; every dtype, and the scalar fallback when K or a pointer is not 16-byte
//   aligned): x[:, chunk] is staged in shared memory once per block. A warp owns R rows (4, or 2 when
//   M > 8); lane l reads units l, l+32, ... of each row (a warp instruction reads 512 contiguous bytes),
//   keeps acc[R][M] in f32, and an xor-shuffle tree sums the lanes. ~M FMAs plus conversions per weight
//   element: at the copy bandwidth for M = 1, FMA-bound from M = 4 (H200: 1.3-1.5 TB/s at M = 8).
//   gemv_mma_kernel (tensor cores; f16/bf16, aligned, sm_80+): a block owns 16 rows; each warp computes
//   y^T[16 rows, 8 x rows] tiles with mma.sync m16n8k16 (f32 accumulators) over its share of the chunk's
//   32-element K steps, feeding the fragments straight from its 16-byte loads (x from global memory, where
//   L1/L2 hold it); the 4 warps' tiles are summed in shared memory in warp order. Its cost hardly grows
//   with M (H200: 1.7-3.2 TB/s for M = 8..16), but a load instruction spans 8 rows of 64 bytes, and it
//   streams less well than the CUDA-core kernel at M = 1 (2.4-3.8 vs 2.7-4.4 TB/s).
//
// Split K: when x's chunk would not fit the CUDA-core kernel's 32 KB of shared memory, and when N gives
// fewer row blocks than SMs (then up to kTargetBlocksPerSm blocks per SM, chunks of at least kMinChunk).
// Each split writes f32 partials; the row block's last block to finish (an integer counter, reset by that
// block) sums them in split order 0..S-1, adds the bias and writes y. No float atomics: results are
// bit-identical run to run, so tensor-parallel ranks compute identical values.
#include <algorithm>
#include <cstdint>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <vector>

#include "ops/cuda/cuda_context.h"
#include "ops/cuda/cuda_kernels.h"
#include "ops/cuda/device_math.cuh"

namespace shardlm::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kLoadsInFlight = 16;          // weight loads per lane per iteration (32 measured no faster)
constexpr size_t kXSharedBytes = 32 * 1024;  // x chunk per block (CUDA-core kernel)
constexpr int64_t kMinChunk = 1024;          // elements of K: smaller chunks are not worth a split
constexpr int64_t kTargetBlocksPerSm = 2;    // when N alone gives fewer row blocks than SMs
// Auto picks tensor cores from this M up (f16/bf16, aligned): on H200 the CUDA-core kernel was faster at
// M = 2, even at M = 4, and 2-6x slower at M = 8 and 16.
constexpr int64_t kMmaMinRows = 5;

// Rows of w per warp for MT rows of x: R * MT f32 accumulators per lane (<= 32, one per lane after the
// reduction).
template <int MT>
constexpr int kRowsPerWarp = MT > 8 ? 2 : 4;

// 16 bytes of the weight stream, kept out of L1.
__device__ __forceinline__ uint4 load_stream16(const void* p) {
  uint4 v;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 700
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
#else
  v = __ldg(static_cast<const uint4*>(p));
#endif
  return v;
}

// One load unit of w or x: 16 bytes (VEC) or one element, unpacked to floats.
template <typename T, bool VEC>
struct Unit;
template <typename T>
struct Unit<T, true> {
  static constexpr int kElems = kVec<T>;
  uint4 raw;
  __device__ __forceinline__ void load_stream(const T* p) { raw = load_stream16(p); }
  __device__ __forceinline__ void load_shared(const T* p) { raw = *reinterpret_cast<const uint4*>(p); }
  __device__ __forceinline__ void clear() { raw = make_uint4(0u, 0u, 0u, 0u); }
  __device__ __forceinline__ void unpack(float* out) const {
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int i = 0; i < kElems; ++i) out[i] = to_f32<T>(e[i]);
  }
};
template <typename T>
struct Unit<T, false> {
  static constexpr int kElems = 1;
  float v;
  __device__ __forceinline__ void load_stream(const T* p) { v = to_f32<T>(__ldg(p)); }
  __device__ __forceinline__ void load_shared(const T* p) { v = to_f32<T>(*p); }
  __device__ __forceinline__ void clear() { v = 0.f; }
  __device__ __forceinline__ void unpack(float* out) const { out[0] = v; }
};

struct GemvArgs {
  const void* x;        // [M, K]
  const void* w;        // [N, K]
  const void* bias;     // [N] or null
  void* y;              // [M, N]
  float* partials;      // [splits, M, N] when splits > 1
  unsigned* counters;   // [row_blocks], zero before and after each launch, when splits > 1
  int M, N, K;
  int k_chunk;          // elements of K per split; a multiple of 32 load units
  int x_stride;         // elements between rows of x in shared memory (CUDA-core kernel)
  int splits;
};

// x[:, k0 : k0 + len] -> xs[M, x_stride], 16-byte copies when VEC (len a multiple of kVec<T>).
template <typename T, bool VEC>
__device__ __forceinline__ void stage_x(const GemvArgs& a, T* xs, int k0, int len) {
  const T* x = static_cast<const T*>(a.x);
  constexpr int E = Unit<T, VEC>::kElems;
  for (int m = 0; m < a.M; ++m) {
    const T* src = x + (int64_t)m * a.K + k0;
    T* dst = xs + (int64_t)m * a.x_stride;
    for (int u = threadIdx.x; u < len / E; u += blockDim.x) {
      if constexpr (VEC) {
        reinterpret_cast<uint4*>(dst)[u] = __ldg(reinterpret_cast<const uint4*>(src) + u);
      } else {
        dst[u] = src[u];
      }
    }
  }
}

// One finished dot product (x row m, w row n) of K split `split`: y (+ bias) when K is not split, else the
// split's f32 partial.
template <typename T>
__device__ __forceinline__ void store_result(const GemvArgs& a, int split, int m, int n, float v) {
  if (a.splits == 1) {
    const T* bias = static_cast<const T*>(a.bias);
    static_cast<T*>(a.y)[(int64_t)m * a.N + n] = from_f32<T>(v + (bias ? to_f32<T>(bias[n]) : 0.f));
  } else {
    a.partials[((int64_t)split * a.M + m) * a.N + n] = v;
  }
}

// Split K only, called by every thread after its store_result()s: the row block's last block to arrive
// sums the partials of rows [first_row, first_row + rows) in split order, adds the bias and writes y.
template <typename T>
__device__ void finish_splits(const GemvArgs& a, int row_block, int rows) {
  if (a.splits == 1) return;
  __shared__ unsigned s_is_last;
  __threadfence();  // each writer's partials are visible device-wide before the counter moves
  __syncthreads();
  if (threadIdx.x == 0) s_is_last = atomicAdd(&a.counters[row_block], 1u) == (unsigned)a.splits - 1;
  __syncthreads();
  if (!s_is_last) return;
  __threadfence();
  const T* bias = static_cast<const T*>(a.bias);
  const int first_row = row_block * rows;
  for (int i = threadIdx.x; i < a.M * rows; i += blockDim.x) {
    const int m = i / rows, n = first_row + i % rows;
    if (n >= a.N) continue;
    float s = 0.f;
    for (int sp = 0; sp < a.splits; ++sp) s += __ldcg(a.partials + ((int64_t)sp * a.M + m) * a.N + n);
    static_cast<T*>(a.y)[(int64_t)m * a.N + n] = from_f32<T>(s + (bias ? to_f32<T>(bias[n]) : 0.f));
  }
  if (threadIdx.x == 0) a.counters[row_block] = 0u;  // ready for the next launch (stream order)
}

// CUDA-core kernel, any dtype. MT: a bound on M (1, 2, 4, 8, 16); rows m >= M are skipped. VEC: 16-byte
// units (K a multiple of kVec<T>, x and w 16-byte aligned).
template <typename T, int MT, bool VEC>
__global__ void __launch_bounds__(kThreads) gemv_fma_kernel(GemvArgs a) {
  using U1 = Unit<T, VEC>;
  constexpr int R = kRowsPerWarp<MT>;
  constexpr int U = kLoadsInFlight / R;  // units per row per lane per iteration
  constexpr int E = U1::kElems;
  static_assert(R * MT <= 32, "one reduced value per lane");
  extern __shared__ uint4 gemv_smem[];
  T* xs = reinterpret_cast<T*>(gemv_smem);  // [M, x_stride]

  const int M = a.M, N = a.N, K = a.K, ldx = a.x_stride;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int row_block = blockIdx.x, split = blockIdx.y;
  const int k0 = split * a.k_chunk;
  const int len = min(a.k_chunk, K - k0);
  const int units = len / E;  // exact: K % E == 0
  stage_x<T, VEC>(a, xs, k0, len);
  __syncthreads();

  // This warp's R rows against all M rows of x.
  const int n0 = row_block * kWarps * R + warp * R;
  float acc[R][MT];
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int m = 0; m < MT; ++m) acc[r][m] = 0.f;

  if (n0 < N) {  // warp-uniform
    const T* wrow[R];
    bool row_ok[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      row_ok[r] = n0 + r < N;
      wrow[r] = static_cast<const T*>(a.w) + (int64_t)(row_ok[r] ? n0 + r : n0) * K + k0;
    }
    for (int base = 0; base < units; base += 32 * U) {
      U1 wv[R][U];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int unit = base + u * 32 + lane;
#pragma unroll
        for (int r = 0; r < R; ++r) {
          if (unit < units && row_ok[r]) wv[r][u].load_stream(wrow[r] + unit * E);
          else wv[r][u].clear();
        }
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int unit = base + u * 32 + lane;
        if (unit < units) {
          float wf[R][E];
#pragma unroll
          for (int r = 0; r < R; ++r) wv[r][u].unpack(wf[r]);
#pragma unroll
          for (int m = 0; m < MT; ++m) {
            if (m < M) {
              U1 xv;
              xv.load_shared(xs + (int64_t)m * ldx + unit * E);
              float xf[E];
              xv.unpack(xf);
#pragma unroll
              for (int r = 0; r < R; ++r)
#pragma unroll
                for (int e = 0; e < E; ++e) acc[r][m] = fmaf(wf[r][e], xf[e], acc[r][m]);
            }
          }
        }
      }
    }
  }

  // Sum over the warp's lanes; lane r*MT + m keeps (row n0 + r, x row m).
  float mine = 0.f;
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int m = 0; m < MT; ++m) {
      if (m < M) {
        const float s = warp_sum(acc[r][m]);
        if (lane == r * MT + m) mine = s;
      }
    }
  const int my_m = lane % MT, my_n = n0 + lane / MT;
  if (lane < R * MT && my_m < M && my_n < N) store_result<T>(a, split, my_m, my_n, mine);
  finish_splits<T>(a, row_block, kWarps * R);
}

// d[16x8] += a[16x16] b[16x8] on tensor cores, f32 accumulators (mma.sync m16n8k16, fragments as in the
// PTX ISA: a0..a3 and b0..b1 hold two 16-bit values each).
template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
#else
  __trap();  // gemv() launches this kernel only on compute capability >= 8.0
#endif
}

// Tensor-core kernel for f16/bf16 with 16-byte units (compute capability >= 8.0): y^T[16 rows of w, 8 rows
// of x] tiles, so the M multiply-adds per weight element cost no CUDA-core instructions. NT: tiles of 8 x
// rows (M <= 8 * NT). A block owns 16 rows of w; its 4 warps take turns over the chunk's 32-element K steps
// (U consecutive steps each) and add their accumulators in shared memory at the end, in warp order.
//
// A dot product's terms may be summed in any order, so each lane's 16-byte loads feed the fragments
// directly: lane (g = lane/4, t = lane%4) loads k in [32s + 8t, +8) of w rows g and g+8 and of x row g;
// words 0-1 of those loads are fragment k-slots {2t, 2t+1, 2t+8, 2t+9} of one m16n8k16, words 2-3 of a
// second. A and B use the same k mapping, so the products pair up correctly.
template <typename T, int NT>
__global__ void __launch_bounds__(kThreads) gemv_mma_kernel(GemvArgs a) {
  constexpr int U = kLoadsInFlight / 2;  // K steps per lane per iteration (2 rows of w each)
  __shared__ float red[kWarps][NT * 4][32];

  const int M = a.M, N = a.N, K = a.K;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4;
  const int row_block = blockIdx.x, split = blockIdx.y;
  const int k0 = split * a.k_chunk;
  const int len = min(a.k_chunk, K - k0);  // a multiple of 8: K % 8 == 0

  const int n0 = row_block * 16;  // < N
  const bool lo_ok = n0 + g < N, hi_ok = n0 + g + 8 < N;
  const T* w = static_cast<const T*>(a.w);
  const T* w_lo = w + (int64_t)(lo_ok ? n0 + g : n0) * K + k0 + 8 * t;
  const T* w_hi = w + (int64_t)(hi_ok ? n0 + g + 8 : n0) * K + k0 + 8 * t;
  // x is read straight from global memory: every block reads the same few KB, which stay in L1/L2 (the
  // weight stream bypasses L1). Rows past M read row M-1: their columns of the tile are never stored.
  const T* x_row[NT];
#pragma unroll
  for (int j = 0; j < NT; ++j)
    x_row[j] = static_cast<const T*>(a.x) + (int64_t)min(8 * j + g, M - 1) * K + k0 + 8 * t;
  float acc[NT][4];
#pragma unroll
  for (int j = 0; j < NT; ++j)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[j][i] = 0.f;

  const int steps = (len + 31) / 32;
  for (int base = warp * U; base < steps; base += kWarps * U) {
    uint4 lo[U], hi[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int k = (base + u) * 32;
      const bool in = k + 8 * t < len;
      lo[u] = in && lo_ok ? load_stream16(w_lo + k) : make_uint4(0u, 0u, 0u, 0u);
      hi[u] = in && hi_ok ? load_stream16(w_hi + k) : make_uint4(0u, 0u, 0u, 0u);
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      if (base + u < steps) {  // warp-uniform: mma.sync needs the whole warp
        const int k = (base + u) * 32;
        const bool in = k + 8 * t < len;
        const uint32_t a0[4] = {lo[u].x, hi[u].x, lo[u].y, hi[u].y};
        const uint32_t a1[4] = {lo[u].z, hi[u].z, lo[u].w, hi[u].w};
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          const uint4 xv = in ? __ldg(reinterpret_cast<const uint4*>(x_row[j] + k)) : make_uint4(0u, 0u, 0u, 0u);
          mma_16816<T>(acc[j], a0, xv.x, xv.y);
          mma_16816<T>(acc[j], a1, xv.z, xv.w);
        }
      }
    }
  }

  // acc[j][i]: w row n0 + g + 8*(i/2), x row 8j + 2t + i%2. Warps' sums in warp order.
#pragma unroll
  for (int j = 0; j < NT; ++j)
#pragma unroll
    for (int i = 0; i < 4; ++i) red[warp][j * 4 + i][lane] = acc[j][i];
  __syncthreads();
  if (warp == 0) {
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        float s = red[0][j * 4 + i][lane];
#pragma unroll
        for (int v = 1; v < kWarps; ++v) s += red[v][j * 4 + i][lane];
        const int n = n0 + g + 8 * (i / 2), m = 8 * j + 2 * t + i % 2;
        if (n < N && m < M) store_result<T>(a, split, m, n, s);
      }
  }
  finish_splits<T>(a, row_block, 16);
}

// Split-K scratch: counters (kept zero between launches) then f32 partials. Grows, never shrinks; one
// per process (one device, one stream), so launches that use it are ordered. Never freed (leaked at
// exit on purpose: the CUDA context may be gone by then). A buffer outgrown is kept, not freed: CUDA graphs
// captured earlier (another engine's in the same process, say) still point at it.
struct Workspace {
  std::mutex mu;
  Tensor buf;
  std::vector<Tensor> outgrown;
  int64_t counter_slots = 0, partial_floats = 0;

  // Returns {counters, partials} with at least the given sizes; the caller holds mu through the launch.
  std::pair<unsigned*, float*> get(int64_t counters_needed, int64_t partials_needed) {
    if (counters_needed > counter_slots || partials_needed > partial_floats) {
      counter_slots = std::max(counters_needed, 2 * counter_slots);
      partial_floats = std::max(partials_needed, 2 * partial_floats);
      counter_slots = (counter_slots + 3) / 4 * 4;  // partials stay 16-byte aligned
      if (buf.defined()) outgrown.push_back(std::move(buf));
      buf = Tensor::zeros({(counter_slots + partial_floats) * 4}, DType::U8, Device::CUDA);
    }
    unsigned* counters = static_cast<unsigned*>(buf.raw());
    return {counters, reinterpret_cast<float*>(counters + counter_slots)};
  }
};
Workspace& workspace() {
  static Workspace* ws = new Workspace;
  return *ws;
}

struct Plan {
  int row_blocks, splits, k_chunk, x_stride;
  size_t smem_bytes;
};

// Rows of w per block `rows_per_block`; K in granules of `gran` elements; x chunks staged in shared memory
// (the CUDA-core kernel) or not (the tensor-core kernel).
Plan make_plan(int64_t M, int64_t N, int64_t K, int elem_bytes, int64_t gran, int rows_per_block,
               int requested_splits, bool x_in_shared) {
  Plan p{};
  p.row_blocks = (int)((N + rows_per_block - 1) / rows_per_block);
  const int64_t granules = (K + gran - 1) / gran;
  // The largest chunk whose x rows fit the shared-memory budget (at least one granule: M*gran*elem <= 8 KB).
  const int64_t max_chunk =
      x_in_shared ? std::max<int64_t>(1, (int64_t)kXSharedBytes / (M * elem_bytes) / gran) : granules;
  const int64_t fewest = (granules + max_chunk - 1) / max_chunk;
  int64_t splits = requested_splits;
  if (splits <= 0) {
    // More blocks only when there are fewer row blocks than SMs (small N): splitting otherwise measured
    // slower (the partials' round trip and the last block's reduction add a tail).
    splits = 1;
    if (p.row_blocks < num_sms()) {
      splits = (kTargetBlocksPerSm * num_sms() + p.row_blocks - 1) / p.row_blocks;
      splits = std::min(splits, std::max<int64_t>(1, K / kMinChunk));
    }
  }
  splits = std::clamp<int64_t>(splits, fewest, std::min<int64_t>(granules, 65535));
  const int64_t chunk = (granules + splits - 1) / splits;  // granules
  p.splits = (int)((granules + chunk - 1) / chunk);       // no empty split
  p.k_chunk = (int)(chunk * gran);
  p.x_stride = p.k_chunk;
  p.smem_bytes = x_in_shared ? (size_t)(M * p.x_stride * elem_bytes) : 0;
  return p;
}

// Launches kernel<<<(row_blocks, splits), kThreads>>> with the split-K scratch when K is split.
template <typename Kernel>
int launch(Kernel kernel, const Plan& p, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  GemvArgs a{};
  a.x = x.raw();
  a.w = w.raw();
  a.bias = bias ? bias->raw() : nullptr;
  a.y = y.raw();
  a.M = (int)x.dim(0);
  a.N = (int)w.dim(0);
  a.K = (int)x.dim(1);
  a.k_chunk = p.k_chunk;
  a.x_stride = p.x_stride;
  a.splits = p.splits;
  const dim3 grid((unsigned)p.row_blocks, (unsigned)p.splits);
  if (p.splits == 1) {
    kernel<<<grid, kThreads, p.smem_bytes, stream()>>>(a);
    SHARDLM_CUDA_CHECK_LAUNCH();
    return 1;
  }
  Workspace& ws = workspace();
  std::lock_guard<std::mutex> lock(ws.mu);
  std::tie(a.counters, a.partials) = ws.get(p.row_blocks, (int64_t)p.splits * a.M * a.N);
  kernel<<<grid, kThreads, p.smem_bytes, stream()>>>(a);
  SHARDLM_CUDA_CHECK_LAUNCH();
  return p.splits;
}

template <typename T, int MT, bool VEC>
int launch_fma(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, int splits) {
  const int64_t E = VEC ? kVec<T> : 1;
  const Plan p = make_plan(x.dim(0), w.dim(0), x.dim(1), (int)sizeof(T), 32 * E, kWarps * kRowsPerWarp<MT>, splits,
                           true);
  return launch(gemv_fma_kernel<T, MT, VEC>, p, x, w, bias, y);
}

template <typename T, bool VEC>
int launch_fma_for_rows(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, int splits) {
  const int64_t M = x.dim(0);
  if (M <= 1) return launch_fma<T, 1, VEC>(x, w, bias, y, splits);
  if (M <= 2) return launch_fma<T, 2, VEC>(x, w, bias, y, splits);
  if (M <= 4) return launch_fma<T, 4, VEC>(x, w, bias, y, splits);
  if (M <= 8) return launch_fma<T, 8, VEC>(x, w, bias, y, splits);
  return launch_fma<T, 16, VEC>(x, w, bias, y, splits);
}

template <typename T>
int launch_mma(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, int splits) {
  const Plan p = make_plan(x.dim(0), w.dim(0), x.dim(1), (int)sizeof(T), 32 * kVec<T>, 16, splits, false);
  if (x.dim(0) <= 8) return launch(gemv_mma_kernel<T, 1>, p, x, w, bias, y);
  return launch(gemv_mma_kernel<T, 2>, p, x, w, bias, y);
}

bool tensor_cores_available() {
  static const bool ok = [] {
    int major = 0;
    SHARDLM_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device_index()));
    return major >= 8;
  }();
  return ok;
}

}  // namespace

int gemv(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, int splits, GemvKernel kernel) {
  const int64_t M = x.dim(0), K = x.dim(1), N = w.dim(0);
  if (M < 1 || M > kGemvMaxRows || K < 1 || N < 1 || K > INT32_MAX || N > INT32_MAX)
    fail("cuda gemv: M=", M, " K=", K, " N=", N, " outside 1 <= M <= ", kGemvMaxRows, ", 1 <= K, N < 2^31");
  int used = 0;
  dispatch_float(x.dtype(), "gemv", [&](auto tag) {
    using T = decltype(tag);
    const bool vec = K % kVec<T> == 0 && aligned16(x.raw()) && aligned16(w.raw());
    if constexpr (!std::is_same_v<T, float>) {
      const bool mma_ok = vec && tensor_cores_available();
      if (mma_ok && (kernel == GemvKernel::TensorCores || (kernel == GemvKernel::Auto && M >= kMmaMinRows))) {
        used = launch_mma<T>(x, w, bias, y, splits);
        return;
      }
    }
    used = vec ? launch_fma_for_rows<T, true>(x, w, bias, y, splits)
               : launch_fma_for_rows<T, false>(x, w, bias, y, splits);
  });
  return used;
}

}  // namespace shardlm::cuda
