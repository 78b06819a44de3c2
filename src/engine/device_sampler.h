// Sampling one step's rows where their logits live: logits on the host go through sample_token row by row;
// logits on the GPU are sampled there by ops/cuda/sampling.cu (one H2D copy of the packed parameters, one
// launch, one D2H copy of the results), except rows that want logprobs, a logit_bias or allowed_token_ids, which are copied to the host.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "engine/rng.h"
#include "engine/sampler.h"
#include "ops/cuda/sampling.h"
#include "shardlm/sampling_params.h"

namespace shardlm {

// One sequence to sample: sample_token's arguments. The pointers must outlive the call.
struct SampleRow {
  const SamplingParams* params;
  const std::vector<int32_t>* prompt_ids;
  const std::vector<int32_t>* output_ids;
  std::vector<int32_t> suppressed_ids;
  Rng* rng;
};

// Samples rows[k] from row k of `logits` ([rows.size(), vocab_size] f32, on the host or the GPU) as calling
// sample_token on the rows in order would: the same tokens and logprobs (on the GPU up to float rounding),
// the error of the first row that fails, and the same Rng advances (one uniform() per non-greedy row that
// was sampled before that error). `scratch` is sample_token's work buffer.
std::vector<SampleResult> sample_batch(const Tensor& logits, const std::vector<SampleRow>& rows,
                                       std::vector<float>& scratch);

// ---- The GPU path's host half, exposed for tests.

// The rows for the GPU, packed as the kernel reads them (ops/cuda/sampling.h).
struct PackedSampleBatch {
  std::vector<uint8_t> bytes;  // [cuda::SampleRowParams x num_rows][cuda::SampleEntry x num_entries]
  int32_t num_rows = 0;
  int32_t num_entries = 0;
  std::vector<int32_t> packed_row;  // per input row: its packed row, or -1 when the host samples it
  std::vector<Rng> rng_after;       // per input row: its Rng after the GPU path's draw (unchanged if none)

  const cuda::SampleRowParams& params(int32_t packed) const;
  const cuda::SampleEntry* entries() const;  // [num_entries]
};

// Rows go to the host when they want logprobs (the top ones or the sampled token's rank), have a logit_bias or
// allowed_token_ids, or hold a prompt/output id outside [0, vocab_size) (sample_token then reports it). Each packed row gets the entries of the tokens
// its penalties or suppression touch (prompt ids only with a repetition penalty, output ids only with any
// penalty, suppressed ids inside the vocabulary), and non-greedy rows one uniform() from a copy of their Rng.
PackedSampleBatch pack_sample_batch(const std::vector<SampleRow>& rows, int32_t vocab_size);

// The kernel's result for one row as sample_token returns it, or its error thrown as sample_token throws it.
SampleResult unpack_sample_result(const cuda::SampleRowResult& result, int32_t vocab_size,
                                  const SamplingParams& params);

}  // namespace shardlm
