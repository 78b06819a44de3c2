// FP8 weights of the parallel linear layers (layers/linear.h): a checkpoint's FP8 weights and scales, or
// floating weights quantised at load, sliced for this rank exactly as the dense weights are.
//
//   column-parallel (and fused QKV / gate-up): rows of each source, concatenated; per-row scales follow their
//     rows; block scales follow their block rows, so every slice must start on a block boundary and all but
//     the last of a fused group must be whole blocks (else an Error naming tensor, rows and block size).
//   row-parallel: columns [start, start+len) of the weight; per-row scales whole; block scales take their
//     block columns, so the slice must start on a block boundary and be whole blocks or reach the end.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "layers/load_context.h"
#include "layers/quantization.h"

namespace shardlm {

// Several modules' row ranges ({module name, first row, rows}) fused into one FP8 weight of `in_features`
// columns, registered as `<registered_name>.weight` / `.weight_scale`.
Fp8Weight load_fp8_rows(LoadContext& ctx, const std::vector<LoadContext::RowSlice>& modules, int64_t in_features,
                        const std::string& registered_name);
// Columns [start, start + len) of one module's weight (row-parallel).
Fp8Weight load_fp8_cols(LoadContext& ctx, const std::string& module, int64_t start, int64_t len);

// Quantises w [N, K] (f32) to FP8 with `scales` granularity: per-tensor and per-channel give N per-row scales
// (per-tensor: all equal), block gives [ceil(N/bn), ceil(K/bk)]. Each scale is fp8_dynamic_scale(absmax of
// what it covers) and q = e4m3(w / scale): the one rule behind quantize-at-load and `make-model --quantization`.
void quantize_fp8_weight(const float* w, int64_t N, int64_t K, Fp8WeightScales scales, int64_t block_n,
                         int64_t block_k, uint8_t* q, std::vector<float>& scale_out);

}  // namespace shardlm
