// CUDA graphs for pure-decode steps: buckets, lazy capture, replay.
#include "engine/decode_graphs.h"

#include <algorithm>

#include "core/error.h"

namespace shardlm {

namespace {
constexpr int32_t kMaxGraphBatch = 512;
}

std::vector<int32_t> DecodeGraphs::batch_sizes(int max_num_seqs) {
  std::vector<int32_t> grid = {1, 2, 4};
  for (int32_t b = 8; b <= 256; b += 8) grid.push_back(b);
  for (int32_t b = 272; b <= kMaxGraphBatch; b += 16) grid.push_back(b);
  std::vector<int32_t> sizes;
  for (int32_t b : grid) {
    sizes.push_back(b);
    if (b >= max_num_seqs) break;
  }
  return sizes;
}

DecodeGraphs::DecodeGraphs(Model& model, KVCache& cache, Device device, int max_num_seqs, int64_t block_size,
                           int64_t table_width)
    : model_(model),
      cache_(cache),
      device_(device),
      backend_(graph_backend_for(device)),
      block_size_(block_size),
      table_width_(table_width),
      sizes_(batch_sizes(max_num_seqs)) {
  if (!backend_) fail("device '", device_name(device), "' has no graph support");
  SHARDLM_CHECK(block_size > 0 && table_width > 0, "decode graphs: empty block tables");
}

DecodeGraphs::~DecodeGraphs() = default;

bool DecodeGraphs::accepts(const std::vector<SequenceStep>& steps) const {
  if (steps.empty() || (int64_t)steps.size() > (int64_t)sizes_.back()) return false;
  for (const SequenceStep& s : steps) {
    if (s.token_ids.size() != 1 || !s.wants_logits) return false;
    if ((s.start + block_size_) / block_size_ > table_width_) return false;  // blocks holding start + 1 tokens
  }
  return true;
}

std::vector<int32_t> DecodeGraphs::captured_sizes() const {
  std::vector<int32_t> out;
  for (const auto& [size, graph] : graphs_) out.push_back(size);
  return out;
}

std::unique_ptr<DeviceGraph> DecodeGraphs::capture(int32_t batch, StepInputStaging& staging) {
  if (!pool_) {
    const int32_t largest = sizes_.back();
    pool_ = backend_->create_pool();
    inputs_ = Tensor::empty({StepLayout(largest, largest, table_width_, largest).total}, DType::I32, device_);
    logits_ = Tensor::empty({largest, model_.config().vocab_size}, DType::F32, device_);
  }
  // Capture on a batch of padding rows only: the graph does not depend on any step's values.
  const StepLayout layout(batch, batch, table_width_, batch);
  pack_step_inputs({}, block_size_, layout, staging.host(layout.total));
  staging.upload(inputs_, layout.total);
  const ForwardInputs in = step_input_views(inputs_, layout, 1, (int32_t)(table_width_ * block_size_));
  model_.forward(in, cache_);  // warm-up, eager (see the header)
  Tensor out = logits_.slice_rows(0, batch);
  return backend_->capture(pool_, [&] { out.copy_from(model_.forward(in, cache_)); });
}

Tensor DecodeGraphs::run(const std::vector<SequenceStep>& steps, StepInputStaging& staging) {
  SHARDLM_CHECK(accepts(steps), "decode graphs given a step they do not accept");
  const int32_t n = (int32_t)steps.size();
  const int32_t batch = *std::lower_bound(sizes_.begin(), sizes_.end(), n);
  auto it = graphs_.find(batch);
  if (it == graphs_.end()) {
    std::unique_ptr<DeviceGraph> graph;
    try {
      graph = capture(batch, staging);
    } catch (const Error& e) {
      fail("could not capture the CUDA graph of decode batch size ", batch, ": ", e.what(),
           " (--enforce-eager / enforce_eager=True runs without CUDA graphs)");
    }
    it = graphs_.emplace(batch, std::move(graph)).first;
  }
  const StepLayout layout(batch, batch, table_width_, batch);
  pack_step_inputs(steps, block_size_, layout, staging.host(layout.total));
  staging.upload(inputs_, layout.total);
  it->second->replay();
  ++replays_;
  return logits_.slice_rows(0, n);
}

}  // namespace shardlm
