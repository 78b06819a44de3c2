// LLMEngine: one complete engine per process. Request intake, tokenization, and the step loop:
// schedule -> run the model -> sample -> detokenize -> outputs. Every decision is a pure function of the
// shared inputs, so tensor-parallel ranks running the same requests stay in lock-step without exchanging
// schedules.
#pragma once
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "distributed/launch_env.h"
#include "distributed/process_group.h"
#include "engine/engine_metrics.h"
#include "engine/model_runner.h"
#include "engine/output_processor.h"
#include "engine/scheduler.h"
#include "io/weight_store.h"
#include "layers/load_context.h"
#include "models/model.h"
#include "shardlm/llm.h"
#include "tokenizer/tokenizer.h"

namespace shardlm {

struct DistributedState;

// What add_request did: the request's id, and the finished output of a request that can never run.
struct AddedRequest {
  int64_t request_id = -1;
  std::optional<RequestOutput> rejected;
};

class LLMEngine {
 public:
  // `launch`: the ranks' layout when this process's environment does not hold it (self-launched ranks,
  // api/self_launch.h); null: read it from the launcher's environment.
  explicit LLMEngine(const EngineArgs& args, const LaunchEnv* launch = nullptr);
  ~LLMEngine();

  // Adds a request under the next integer id (0, 1, 2, ... over the engine's life: every call takes one, also
  // one that throws, so ranks making the same calls number requests alike). Invalid parameters throw
  // std::invalid_argument (before anything is queued). A request that can never run (too long for
  // max_model_len or the KV cache) comes back in `rejected`, finished with `error` set. n > 1 becomes n
  // sequences sharing the prompt.
  // `priority` orders it under the "priority" scheduling policy (lower first; any other value than 0 under "fcfs"
  // is std::invalid_argument, as vLLM). `arrival_time` (seconds since the epoch on metrics_clock_now()'s clock;
  // default now) is where its latency metrics start, as vLLM's add_request.
  AddedRequest add_request(const Prompt& prompt, const SamplingParams& params, int priority = 0,
                           std::optional<double> arrival_time = std::nullopt);
  // The id the next add_request will assign.
  int64_t next_request_id() const { return next_request_id_; }
  // Runs one engine step; returns the requests that finished in it. With `deltas`, also fills it with what
  // every request that produced tokens gained in this step (streaming; see RequestDelta), in sampling order.
  std::vector<RequestOutput> step(std::vector<RequestDelta>* deltas = nullptr);
  bool has_unfinished_requests() const { return !requests_.empty(); }
  void abort_request(int64_t request_id);  // a finished or unknown id: nothing happens

  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const Model& model() const { return *model_; }
  const EngineArgs& args() const { return args_; }
  const std::string& tokenizer_dir() const { return tokenizer_dir_; }  // the folder the tokenizer came from
  const SamplingParams& default_sampling_params() const { return default_params_; }  // generation_config's
  int max_model_len() const { return max_model_len_; }
  EngineStats stats() const;
  // vLLM's get_metrics(): queue gauges, token counters and the latency histograms (shardlm/metrics.h).
  std::vector<Metric> get_metrics() const;
  // The latency histograms and finish counters alone; thread-safe (the server reads them while the engine steps).
  const EngineMetrics& metrics() const { return metrics_; }
  DistributedState& distributed() const { return *dist_; }
  const ModelRunner& runner() const { return *runner_; }
  Device device() const { return device_; }
  // How checkpoint tensors map onto this rank's parameters (routes, prefix aliases).
  const LoadContext& load_context() const { return *load_ctx_; }
  // Rewrites every parameter from the checkpoint on disk, in place (same storage). Requires no unfinished
  // requests (the KV cache computed with the old weights is stale).
  void reload_weights();

  // Sleep mode (see LLM::sleep). The arenas exist only with enable_sleep_mode.
  void sleep(int level);
  void wake_up(const std::vector<std::string>& tags);
  bool is_sleeping() const;
  // Error "the engine is sleeping: call wake_up() first" while any tag is asleep (step() checks it too).
  void check_awake() const;
  bool reset_prefix_cache();
  // The arena of a sleep-mode tag ("weights", "kv_cache"); null without sleep mode (tests, diagnostics).
  const MemoryArena* arena(const std::string& tag) const;

 private:
  void finish_sequence(SequenceState& seq, const std::string& reason);
  // Stamps a request's metrics when it produced tokens in a step, and when it finished (reason of output 0).
  void record_tokens(RequestState& r, int num_tokens, double now);
  void record_finished(RequestState& r, const std::string& reason, double now);
  RequestOutput make_output(const RequestState& r) const;
  // Fills r's prompt logprobs from `num_rows` rows of host logits starting at `first_row`, which belong to the
  // chunk starting at prompt position `start` (row j predicts the token at start + j + 1).
  void record_prompt_logprobs(RequestState& r, const Tensor& host_logits, int64_t first_row, int start,
                              int64_t num_rows);
  // GPU: KV-cache bytes left of this engine's share (gpu_memory_utilization of the card) after what the
  // engine itself took since it started (weights, communicators) and a profiled peak step.
  int64_t profile_kv_budget(int64_t block_bytes, DType kv_dtype);
  void require_sleep_mode(const char* what) const;

  EngineArgs args_;
  std::shared_ptr<DistributedState> dist_;
  std::unique_ptr<WeightStore> weights_;
  std::unique_ptr<LoadContext> load_ctx_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ModelRunner> runner_;
  std::unique_ptr<Scheduler> scheduler_;
  std::shared_ptr<MemoryArena> weights_arena_, kv_arena_;  // sleep mode only
  Device device_ = Device::CPU;
  int max_model_len_ = 0;
  int64_t num_kv_blocks_ = 0;
  std::string tokenizer_dir_;
  SamplingParams default_params_;
  size_t device_free_at_start_ = 0;  // GPU: free device memory when this engine began (0: unknown)
  std::vector<int32_t> eos_token_ids_;

  std::map<int64_t, std::unique_ptr<RequestState>> requests_;  // the unfinished ones, by request id
  int64_t next_request_id_ = 0;
  int64_t next_sequence_id_ = 0;  // the scheduler's Request ids (one per sequence)
  int64_t prompt_tokens_ = 0, generated_tokens_ = 0, num_steps_ = 0, sequences_counter_ = 0;
  std::vector<float> sampler_scratch_;
  EngineMetrics metrics_;
};

}  // namespace shardlm
