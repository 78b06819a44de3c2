// The reduction of the shared-memory all-reduce: `num_inputs` equally long buffers combined element by
// element in a fixed order, input 0 first, so every rank computing it from the same inputs gets the same
// bits:  out = op(...op(op(in[0], in[1]), in[2])..., in[n-1]).
//   F32:       accumulated in f32 in that order.
//   F16, BF16: widened to f32, accumulated in f32 in that order, rounded once at the end (Gloo here rounds
//              after every pairwise step: the same result for two inputs, within an ulp per step for more).
//   I32, I64:  two's-complement wrap-around on overflow (no undefined behaviour); U8 wraps too.
//   Max / Min: `a < b ? b : a` / `b < a ? b : a` with a the running result, as Gloo's.
#pragma once
#include <cstddef>
#include <vector>

#include "core/dtype.h"
#include "distributed/process_group.h"

namespace shardlm {

// out may alias none of the inputs. `scratch` (f32, grown on demand) is used for F16/BF16.
void ordered_reduce(const void* const* inputs, int num_inputs, void* out, size_t count, DType dtype, ReduceOp op,
                    std::vector<float>& scratch);

}  // namespace shardlm
