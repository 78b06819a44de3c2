// Packing, viewing and uploading one step's int32 inputs.
#include "engine/step_inputs.h"

#include <algorithm>

#include "core/error.h"

namespace shardlm {

StepLayout::StepLayout(int64_t T, int64_t S, int64_t W, int64_t L)
    : num_tokens(T), num_seqs(S), table_width(W), num_logits(L) {
  ids = 0;
  positions = ids + T;
  slots = positions + T;
  query_start_loc = slots + T;
  seq_lens = query_start_loc + S + 1;
  block_tables = seq_lens + S;
  logits_indices = block_tables + S * W;
  total = logits_indices + L;
}

void pack_step_inputs(const std::vector<SequenceStep>& steps, int64_t block_size, const StepLayout& l,
                      int32_t* host) {
  SHARDLM_CHECK((int64_t)steps.size() <= l.num_seqs, "more sequences than the layout holds");
  int32_t* ids = host + l.ids;
  int32_t* pos = host + l.positions;
  int32_t* slots = host + l.slots;
  int32_t* qsl = host + l.query_start_loc;
  int32_t* lens = host + l.seq_lens;
  int32_t* tables = host + l.block_tables;
  int32_t* logits_idx = host + l.logits_indices;
  std::fill(tables, tables + l.num_seqs * l.table_width, 0);
  const int32_t bs = (int32_t)block_size;
  int64_t row = 0, nl = 0;
  for (int64_t s = 0; s < l.num_seqs; ++s) {
    qsl[s] = (int32_t)row;
    if (s >= (int64_t)steps.size()) {  // padding
      SHARDLM_CHECK(row < l.num_tokens && nl < l.num_logits, "padding rows exceed the layout");
      ids[row] = 0;
      pos[row] = 0;
      slots[row] = -1;
      lens[s] = 1;
      logits_idx[nl++] = (int32_t)row++;
      continue;
    }
    const SequenceStep& st = steps[(size_t)s];
    const std::vector<int32_t>& blocks = *st.block_ids;
    const int64_t n_tokens = (int64_t)st.token_ids.size();
    SHARDLM_CHECK(row + n_tokens <= l.num_tokens, "step tokens exceed the layout");
    std::copy_n(blocks.begin(), std::min<int64_t>((int64_t)blocks.size(), l.table_width), tables + s * l.table_width);
    for (int64_t j = 0; j < n_tokens; ++j) {
      const int32_t p = st.start + (int32_t)j;
      ids[row] = st.token_ids[(size_t)j];
      pos[row] = p;
      slots[row] = blocks[(size_t)(p / bs)] * bs + p % bs;
      ++row;
    }
    lens[s] = st.start + (int32_t)n_tokens;
    for (int64_t r = row - st.num_logits_rows(); r < row; ++r) {
      SHARDLM_CHECK(nl < l.num_logits, "logits rows exceed the layout");
      logits_idx[nl++] = (int32_t)r;
    }
  }
  qsl[l.num_seqs] = (int32_t)row;
  SHARDLM_CHECK(row == l.num_tokens && nl == l.num_logits, "step inputs do not fill the layout");
}

ForwardInputs step_input_views(const Tensor& buffer, const StepLayout& l, int32_t max_query_len,
                               int32_t max_seq_len) {
  SHARDLM_CHECK(buffer.ndim() == 1 && buffer.dtype() == DType::I32 && buffer.numel() >= l.total,
                "step input buffer ", buffer.shape_str(), " too small for ", l.total, " int32s");
  ForwardInputs in;
  in.token_ids = buffer.slice_rows(l.ids, l.num_tokens);
  in.positions = buffer.slice_rows(l.positions, l.num_tokens);
  in.attn.slot_mapping = buffer.slice_rows(l.slots, l.num_tokens);
  in.attn.query_start_loc = buffer.slice_rows(l.query_start_loc, l.num_seqs + 1);
  in.attn.seq_lens = buffer.slice_rows(l.seq_lens, l.num_seqs);
  in.attn.block_tables =
      buffer.slice_rows(l.block_tables, l.num_seqs * l.table_width).reshape({l.num_seqs, l.table_width});
  in.logits_indices = buffer.slice_rows(l.logits_indices, l.num_logits);
  in.attn.num_seqs = (int32_t)l.num_seqs;
  in.attn.max_query_len = max_query_len;
  in.attn.max_seq_len = max_seq_len;
  return in;
}

StepInputStaging::StepInputStaging(Device device) : alloc_(allocator_for(device)), device_(device) {}

StepInputStaging::~StepInputStaging() {
  if (!host_) return;
  try {
    alloc_->wait_async_copies();  // a copy may still read the area
  } catch (const std::exception&) {
    // The device is gone (process teardown): nothing is copying any more.
  }
  alloc_->deallocate_host(host_);
}

int32_t* StepInputStaging::host(int64_t n) {
  alloc_->wait_async_copies();  // the previous upload must have read the area (see the header)
  if (n > capacity_) {
    const int64_t cap = std::max<int64_t>({n, 2 * capacity_, 4096});
    if (host_) alloc_->deallocate_host(host_);
    host_ = nullptr;
    capacity_ = 0;
    host_ = static_cast<int32_t*>(alloc_->allocate_host((size_t)cap * sizeof(int32_t)));
    capacity_ = cap;
  }
  return host_;
}

void StepInputStaging::upload(const Tensor& dst, int64_t n) {
  SHARDLM_CHECK(host_ && n <= capacity_ && dst.device() == device_ && dst.dtype() == DType::I32 && dst.numel() >= n,
                "step input upload out of range");
  alloc_->copy_async(dst.raw(), device_, host_, Device::CPU, (size_t)n * sizeof(int32_t));
}

}  // namespace shardlm
