// One step's model inputs as one int32 buffer: token ids, positions, slot mapping, query_start_loc, seq_lens,
// block tables and logits indices are packed on the host into a reusable staging area (page-locked on
// CUDA), uploaded with one asynchronous copy, and ForwardInputs are views of the device buffer.
//
//   [ ids T | positions T | slots T | query_start_loc S+1 | seq_lens S | block_tables S*W | logits_idx L ]
//
// Slot mapping: token i of a sequence lives in slot block_ids[i / block_size] * block_size + i % block_size.
//
//   block_ids = [7, 2]      block_size = 4
//   token:  0  1  2  3 | 4  5  6
//   slot:  28 29 30 31 | 8  9 10
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "layers/attention.h"

namespace shardlm {

// One sequence's share of a step: it computes tokens [start, start + token_ids.size()).
struct SequenceStep {
  std::span<const int32_t> token_ids;      // the new tokens
  int32_t start = 0;                       // position of the first new token (= num_computed_tokens)
  const std::vector<int32_t>* block_ids;  // the sequence's block table, covering start + new tokens
  bool wants_logits = false;               // sample after this step (the last new token is the sequence's last)
  // Logits of every new token's row (prompt logprobs), in order; the last is the sampling row when
  // wants_logits. Without it only the sampling row's (if any).
  bool all_logits = false;
  int64_t num_logits_rows() const { return all_logits ? (int64_t)token_ids.size() : wants_logits ? 1 : 0; }
};

// Where each input sits in the packed buffer, in int32 elements.
struct StepLayout {
  int64_t num_tokens = 0, num_seqs = 0, table_width = 0, num_logits = 0;
  int64_t ids = 0, positions = 0, slots = 0, query_start_loc = 0, seq_lens = 0, block_tables = 0,
          logits_indices = 0, total = 0;
  StepLayout(int64_t num_tokens, int64_t num_seqs, int64_t table_width, int64_t num_logits);
};

// Writes `steps` into host[0, layout.total). Each step's first table_width block ids are copied (the caller
// makes sure that covers its context). Sequences past steps.size(), up to layout.num_seqs, are padding
// rows of one token each: token 0 at position 0, slot -1 (cache_write skips it), a context of 1 token in
// block 0, and a logits row the caller ignores.
void pack_step_inputs(const std::vector<SequenceStep>& steps, int64_t block_size, const StepLayout& layout,
                      int32_t* host);

// ForwardInputs viewing `buffer` (1-d I32 of at least layout.total elements) in that layout.
ForwardInputs step_input_views(const Tensor& buffer, const StepLayout& layout, int32_t max_query_len,
                               int32_t max_seq_len);

// The host side of the upload: one area reused every step, grown when a step needs more.
//
// Overwrite safety: host() waits for the previous upload out of the area to complete before handing it out
// again. That wait is almost always free: every engine step ends with a synchronising device-to-host copy
// (the logits, or later the sampled tokens), queued after that step's upload on the same stream, so the
// upload finished before the host even starts packing the next step. The wait keeps it correct for any
// caller that does not synchronise between steps.
class StepInputStaging {
 public:
  explicit StepInputStaging(Device device);
  ~StepInputStaging();
  StepInputStaging(const StepInputStaging&) = delete;
  StepInputStaging& operator=(const StepInputStaging&) = delete;

  int32_t* host(int64_t n);                  // room for n int32s, free of pending uploads
  void upload(const Tensor& dst, int64_t n);  // queues host[0, n) -> dst (device I32); does not wait

 private:
  DeviceAllocator* alloc_;
  Device device_;
  int32_t* host_ = nullptr;
  int64_t capacity_ = 0;
};

}  // namespace shardlm
