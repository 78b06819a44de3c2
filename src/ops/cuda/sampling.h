// The GPU sampler's kernel interface: per-row parameters and token entries packed by the host into one
// buffer, and the per-row result. Plain C++ (no CUDA types), so host code of every build can pack and unpack
// these records; sample_rows itself exists only in CUDA builds (SHARDLM_HAVE_CUDA).
//
// Packed buffer (bytes, on the GPU):  [SampleRowParams x num_rows][SampleEntry x num_entries]
// Row r's entries are entries[entries_begin, entries_end), sorted by token id, one per id.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace shardlm::cuda {

// SampleRowParams::flags
constexpr uint32_t kSampleGreedy = 1;        // argmax; the filters and `uniform` are unused
constexpr uint32_t kSampleRepetition = 2;    // apply repetition_penalty to entries seen in prompt or output
constexpr uint32_t kSampleFreqPresence = 4;  // apply frequency/presence penalties to entries with output_count > 0

struct SampleRowParams {
  double uniform;            // the row's rng.uniform() draw in [0, 1) (non-greedy rows)
  int32_t logits_row;        // row of the logits tensor
  int32_t entries_begin;     // this row's entries: [entries_begin, entries_end)
  int32_t entries_end;
  uint32_t flags;            // kSample*
  float temperature;         // already raised to the sampler's minimum
  int32_t top_k;             // 0: off (the host maps <= 0 and >= vocab_size to 0)
  float top_p;               // >= 1: off
  float min_p;
  float repetition_penalty;
  float frequency_penalty;
  float presence_penalty;
  int32_t reserved;          // 0; keeps the size a multiple of 8
};
static_assert(sizeof(SampleRowParams) == 56, "SampleRowParams layout is shared with the kernel");

// SampleEntry::flags
constexpr uint32_t kEntryInPrompt = 1;    // the token occurs in the prompt
constexpr uint32_t kEntrySuppressed = 2;  // set to -inf after the penalties

// A token whose logit the penalties or the suppression change.
struct SampleEntry {
  int32_t token;         // in [0, vocab_size)
  int32_t output_count;  // occurrences in the output so far
  uint32_t flags;        // kEntry*
};
static_assert(sizeof(SampleEntry) == 12, "SampleEntry layout is shared with the kernel");

// SampleRowResult::status
// NaN and +inf: detail_token is the lowest id whose raw logit is NaN or +inf, the status says which it is.
constexpr int32_t kSampleOk = 0;
constexpr int32_t kSampleNanLogit = 1;
constexpr int32_t kSampleInfiniteLogit = 2;
constexpr int32_t kSampleAllLogitsNegInf = 3;     // every raw logit is -inf
constexpr int32_t kSampleAllSuppressed = 4;       // every processed logit is -inf
constexpr int32_t kSamplePenalisedNotFinite = 5;  // the processed maximum (detail_token, detail_value) is +inf
constexpr int32_t kSampleInternal = 6;            // the draw found no token (a bug)

struct SampleRowResult {
  int32_t token;
  float logprob;  // raw logits[token] - log(sum(exp(raw logits)))
  int32_t status;
  int32_t detail_token;
  float detail_value;
};
static_assert(sizeof(SampleRowResult) == 20, "SampleRowResult layout is shared with the kernel");

// Samples `num_rows` rows of `logits` ([rows, vocab_size] f32 on the GPU) as described by `packed` (U8 on
// the GPU, the layout above) into `results` (U8 on the GPU, num_rows * sizeof(SampleRowResult) bytes).
// One thread block per row; deterministic: the same inputs give bit-identical results on every run and
// every GPU of the same architecture. Launches on cuda::stream() and returns without synchronising.
void sample_rows(const Tensor& logits, const Tensor& packed, int32_t num_rows, int32_t num_entries,
                 Tensor& results);

}  // namespace shardlm::cuda
