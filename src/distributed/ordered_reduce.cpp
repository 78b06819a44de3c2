// ordered_reduce: see ordered_reduce.h.
#include "distributed/ordered_reduce.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/error.h"

namespace shardlm {
namespace {

// Integer sums wrap (added as the unsigned type of the same width: no undefined behaviour); floats add.
template <typename T>
T add(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return (T)(U)((U)a + (U)b);
  } else {
    return a + b;
  }
}

template <typename T>
void accumulate(T* acc, const T* x, size_t n, ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      for (size_t i = 0; i < n; i++) acc[i] = add(acc[i], x[i]);
      return;
    case ReduceOp::Max:
      for (size_t i = 0; i < n; i++) acc[i] = acc[i] < x[i] ? x[i] : acc[i];
      return;
    case ReduceOp::Min:
      for (size_t i = 0; i < n; i++) acc[i] = x[i] < acc[i] ? x[i] : acc[i];
      return;
  }
}

template <typename T>
void reduce_plain(const void* const* inputs, int num_inputs, void* out, size_t count, ReduceOp op) {
  T* acc = static_cast<T*>(out);
  std::memcpy(acc, inputs[0], count * sizeof(T));
  for (int r = 1; r < num_inputs; r++) accumulate<T>(acc, static_cast<const T*>(inputs[r]), count, op);
}

// F16 / BF16: in f32, rounded once. Works through `scratch` in pieces of at most kPiece elements (two
// f32 rows of that size stay in L2).
void reduce_half(const void* const* inputs, int num_inputs, void* out, size_t count, DType dtype, ReduceOp op,
                 std::vector<float>& scratch) {
  constexpr size_t kPiece = 16384;
  if (scratch.size() < 2 * kPiece) scratch.resize(2 * kPiece);
  float* acc = scratch.data();
  float* x = acc + kPiece;
  for (size_t start = 0; start < count; start += kPiece) {
    const size_t n = std::min(kPiece, count - start);
    convert_to_f32(static_cast<const uint16_t*>(inputs[0]) + start, dtype, acc, n);
    for (int r = 1; r < num_inputs; r++) {
      convert_to_f32(static_cast<const uint16_t*>(inputs[r]) + start, dtype, x, n);
      accumulate<float>(acc, x, n, op);
    }
    convert_from_f32(acc, static_cast<uint16_t*>(out) + start, dtype, n);
  }
}

}  // namespace

void ordered_reduce(const void* const* inputs, int num_inputs, void* out, size_t count, DType dtype, ReduceOp op,
                    std::vector<float>& scratch) {
  SHARDLM_CHECK(num_inputs >= 1);
  if (count == 0) return;
  switch (dtype) {
    case DType::F32:
      return reduce_plain<float>(inputs, num_inputs, out, count, op);
    case DType::I32:
      return reduce_plain<int32_t>(inputs, num_inputs, out, count, op);
    case DType::I64:
      return reduce_plain<int64_t>(inputs, num_inputs, out, count, op);
    case DType::U8:
      return reduce_plain<uint8_t>(inputs, num_inputs, out, count, op);
    case DType::F16:
    case DType::BF16:
      return reduce_half(inputs, num_inputs, out, count, dtype, op, scratch);
  }
  fail("all_reduce: unsupported dtype");
}

}  // namespace shardlm
