// shardlm's offline API, shaped like vLLM's: LLM(EngineArgs).generate(prompts, SamplingParams).
//
// Under an external launcher (torchrun, mpirun, srun, shardlm-run) every process constructs an LLM with the
// same tensor_parallel_size (and data_parallel_size); world size = data_parallel_size * tensor_parallel_size.
// Ranks r and r' with r / tp == r' / tp form one replica: each loads only its shard, and the replica's ranks,
// given the same prompts, return identical outputs. Replicas are independent engines (own KV cache, own
// prompts, own seed).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "shardlm/chat.h"
#include "shardlm/distributed.h"
#include "shardlm/metrics.h"
#include "shardlm/outputs.h"
#include "shardlm/sampling_params.h"

namespace shardlm {

// What the engine serves, as vLLM's UsageContext: offline generation (the LLM class, the CLI) or the OpenAI
// server; it picks the scheduler defaults (EngineArgs::max_num_batched_tokens, max_num_seqs).
enum class UsageContext { LLMClass, OpenAIServer };

struct EngineArgs {
  std::string model;                 // Hugging Face folder, or a hub id found in the local HF cache
  std::string tokenizer;             // defaults to `model`
  // Default sampling parameters: "auto" (the model's generation_config.json), "vllm" (vLLM's neutral ones) or
  // a folder holding a generation_config.json; see LLM::default_sampling_params().
  std::string generation_config = "auto";
  std::string dtype = "auto";        // auto | float32 | float16 | bfloat16 (CPU computes in float32)
  std::string device = "auto";       // auto | cpu | cuda
  // vLLM's `quantization`: "" (None: as the checkpoint says; FP8 checkpoints with a quantization_config of
  // quant_method fp8 or compressed-tensors load as FP8) or "fp8" (quantise a float checkpoint's linear layers
  // at load: per-tensor weight scales, dynamic per-token activation scales). Anything else is an error.
  std::string quantization;
  int max_model_len = 0;             // 0: the model's max_position_embeddings
  int64_t seed = 0;                  // seeds requests that have no SamplingParams::seed
  int tensor_parallel_size = 1;
  // Engine replicas under the launcher (vLLM's data parallelism, TP innermost: replica = rank / tp). 1 (the
  // default) with a launcher world size that is a multiple of tensor_parallel_size means world / tp replicas.
  int data_parallel_size = 1;
  // vLLM's names. "" (unset): the launcher's ranks when a launcher started this process, else with
  // tensor_parallel_size > 1 this process starts the other ranks itself (as "mp"). "external_launcher": the
  // launcher's ranks only. "mp": this process starts the other tensor_parallel_size - 1 ranks as child processes
  // (`shardlm _worker`) and drives them; no launcher. "uni": one process.
  std::string distributed_executor_backend;
  int block_size = 16;               // KV-cache block size in tokens
  // Token budget of one engine step and requests running at once; 0: vLLM's defaults for the device and use
  // (GPUs of 70 GiB or more other than A100: 16384 tokens for the LLM class and CLI, 8192 for the server, 1024
  // sequences; other GPUs: 8192 / 2048 tokens and 256 sequences; CPUs: 8192 tokens, 256 sequences).
  int max_num_batched_tokens = 0;
  int max_num_seqs = 0;
  UsageContext usage_context = UsageContext::LLMClass;  // which of vLLM's defaults apply
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  int64_t kv_cache_memory_bytes = 0; // CPU KV-cache budget; 0: automatic (1 GiB, less when it is not needed)
  double gpu_memory_utilization = 0.9;
  int num_threads = 0;               // CPU threads per rank; 0: cores / ranks on this host
  double distributed_timeout_s = 60; // rendezvous and collective timeout
  bool enforce_eager = false;        // no CUDA graphs (vLLM's flag); otherwise CUDA replays decode steps from graphs
  // Weights and KV cache live in sleepable memory arenas, so sleep()/wake_up() can hand their memory back
  // (vLLM's flag). Off: the ordinary allocators, and sleep() is an error.
  bool enable_sleep_mode = false;
  // The most top log-probabilities a request may ask for (vLLM's max_logprobs); -1: no limit, and then
  // SamplingParams::logprobs = -1 returns the whole vocabulary.
  int max_logprobs = 20;
  // Order of the waiting queue (vLLM's scheduling_policy): "fcfs" (arrival order) or "priority" (by each
  // request's priority, lower first, then arrival; when KV blocks run out the running request with the highest
  // priority value, latest arrival on ties, is preempted first). Under "fcfs" a request's priority is accepted and
  // ignored, as vLLM 0.26 does.
  std::string scheduling_policy = "fcfs";

  // Every field: visit(name, &EngineArgs::field). The one list of fields (self-launched ranks receive their
  // arguments through it).
  template <class Visitor>
  static void for_each_field(Visitor&& visit) {
    visit("model", &EngineArgs::model);
    visit("tokenizer", &EngineArgs::tokenizer);
    visit("generation_config", &EngineArgs::generation_config);
    visit("dtype", &EngineArgs::dtype);
    visit("device", &EngineArgs::device);
    visit("quantization", &EngineArgs::quantization);
    visit("max_model_len", &EngineArgs::max_model_len);
    visit("seed", &EngineArgs::seed);
    visit("tensor_parallel_size", &EngineArgs::tensor_parallel_size);
    visit("data_parallel_size", &EngineArgs::data_parallel_size);
    visit("distributed_executor_backend", &EngineArgs::distributed_executor_backend);
    visit("block_size", &EngineArgs::block_size);
    visit("max_num_batched_tokens", &EngineArgs::max_num_batched_tokens);
    visit("max_num_seqs", &EngineArgs::max_num_seqs);
    visit("usage_context", &EngineArgs::usage_context);
    visit("enable_prefix_caching", &EngineArgs::enable_prefix_caching);
    visit("enable_chunked_prefill", &EngineArgs::enable_chunked_prefill);
    visit("kv_cache_memory_bytes", &EngineArgs::kv_cache_memory_bytes);
    visit("gpu_memory_utilization", &EngineArgs::gpu_memory_utilization);
    visit("num_threads", &EngineArgs::num_threads);
    visit("distributed_timeout_s", &EngineArgs::distributed_timeout_s);
    visit("enforce_eager", &EngineArgs::enforce_eager);
    visit("enable_sleep_mode", &EngineArgs::enable_sleep_mode);
    visit("max_logprobs", &EngineArgs::max_logprobs);
    visit("scheduling_policy", &EngineArgs::scheduling_policy);
  }
};

// A prompt: text, or token ids (vLLM's {"prompt_token_ids": [...]}).
struct Prompt {
  std::string text;
  std::optional<std::vector<int32_t>> token_ids;
  Prompt() = default;
  Prompt(const char* t) : text(t) {}
  Prompt(std::string t) : text(std::move(t)) {}
  static Prompt from_token_ids(std::vector<int32_t> ids) {
    Prompt p;
    p.token_ids = std::move(ids);
    return p;
  }
};

struct EngineStats {
  int64_t num_preemptions = 0;
  int64_t prefix_cache_queries_tokens = 0, prefix_cache_hits_tokens = 0;
  int64_t num_kv_blocks = 0, block_size = 0;
  double kv_cache_usage = 0.0;  // fraction of KV blocks held by requests (cached but unreferenced blocks are free)
  int64_t num_steps = 0;
  int64_t prompt_tokens = 0, generated_tokens = 0;
  int64_t num_running = 0, num_waiting = 0;  // scheduler queues (sequences)
  double prefix_cache_hit_rate() const {
    return prefix_cache_queries_tokens ? (double)prefix_cache_hits_tokens / prefix_cache_queries_tokens : 0.0;
  }
};

// One parameter of this rank's model shard.
struct ParameterInfo {
  std::string name;                   // checkpoint name of the full tensor (fused layers use their fused name)
  std::vector<int64_t> local_shape;   // this rank's shard
  std::string dtype;
  int64_t local_numel = 0;
};

class LLMEngine;

// Optional hooks of LLM::generate, the one generate loop (the Python module's generate uses it too).
struct GenerateHooks {
  // After every engine step, once per request that produced tokens: what it gained (streaming). Request ids
  // are those of the returned outputs.
  std::function<void(const RequestDelta&)> on_delta;
  // After every engine step: requests finished so far, prompt and generated tokens of this call.
  std::function<void(int64_t finished, int64_t prompt_tokens, int64_t generated_tokens)> on_progress;
  // Runs one engine step (calls `step`): lets a host release a lock around it (Python's GIL).
  std::function<void(const std::function<void()>& step)> run_step;
  // Before every step; throwing stops generation (Python's KeyboardInterrupt), unfinished requests aborted.
  std::function<void()> check_interrupt;
  // A prompt that can never run (longer than max_model_len, larger than the KV cache) fails the whole call
  // before anything is generated (vLLM's Python LLM), instead of coming back with RequestOutput::error set.
  bool reject_whole_call = false;
  bool progress_bar = true;  // the terminal progress bar on stderr (use_tqdm)
};

class ChatPrompter;
class SelfLaunch;
struct LaunchEnv;
int run_self_launched_worker();

class LLM {
 public:
  explicit LLM(const EngineArgs& args);
  explicit LLM(const std::string& model);
  ~LLM();
  LLM(const LLM&) = delete;
  LLM& operator=(const LLM&) = delete;

  // Runs every prompt to completion through continuous batching; outputs in prompt order.
  std::vector<RequestOutput> generate(const std::vector<Prompt>& prompts, const SamplingParams& params = {},
                                      bool use_tqdm = true);
  std::vector<RequestOutput> generate(const std::vector<Prompt>& prompts, const std::vector<SamplingParams>& params,
                                      bool use_tqdm = true);
  // The same with hooks: streaming deltas, progress, a lock released around each step, interruption.
  // Request ids count up across calls, as vLLM's do. `priority`: empty, or one per prompt (lower runs earlier;
  // orders requests under EngineArgs::scheduling_policy "priority" and is ignored under "fcfs", as vLLM's).
  std::vector<RequestOutput> generate(const std::vector<Prompt>& prompts, const std::vector<SamplingParams>& params,
                                      const GenerateHooks& hooks, const std::vector<int>& priority = {});

  std::vector<int32_t> encode(const std::string& text, bool add_special_tokens = true) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = true) const;

  // Chat (vLLM's LLM.chat): each conversation (JSON text, see shardlm/chat.h) rendered by the chat template,
  // tokenized without added special tokens (the template writes them), then generated as generate() does.
  // std::invalid_argument for a malformed conversation or one the template rejects.
  std::vector<RequestOutput> chat(const std::vector<std::string>& conversations, const SamplingParams& params = {},
                                  const ChatOptions& options = {}, bool use_tqdm = true);
  // vLLM's get_default_sampling_params(): SamplingParams with the model's generation_config.json defaults
  // (temperature, top_k, top_p, min_p, repetition_penalty, max_new_tokens) per EngineArgs::generation_config.
  SamplingParams default_sampling_params() const;
  // The prompt text a conversation renders to (transformers' apply_chat_template(tokenize=False)). Thread-safe.
  std::string apply_chat_template(const std::string& conversation, const ChatOptions& options = {}) const;

  // Direct access to this rank's model: its parameters and their count.
  std::vector<ParameterInfo> parameters() const;
  int64_t num_parameters() const;  // local (this shard)
  // Rewrites this rank's parameters from the checkpoint on disk, in place (vLLM's reload_weights).
  void reload_weights();
  std::string architecture() const;
  int64_t vocab_size() const;      // the model's (logits width)
  int max_model_len() const;

  // Process groups (vLLM's get_world_group() / get_tp_group() / get_dp_group()).
  DistributedGroup world_group() const;
  DistributedGroup tp_group() const;  // this replica's ranks
  DistributedGroup dp_group() const;  // the ranks holding this rank's shard, one per replica
  int rank() const;                   // global rank
  int world_size() const;
  int data_parallel_rank() const;     // this replica, rank / tensor_parallel_size
  int data_parallel_size() const;     // replicas (also when inferred from the launcher's world size)

  EngineStats stats() const;
  // vLLM's get_metrics(): the engine's counters, gauges and latency histograms (see shardlm/metrics.h).
  std::vector<Metric> get_metrics() const;

  // Sleep mode (vLLM's; needs EngineArgs::enable_sleep_mode). sleep(1): weights offloaded to host memory, KV
  // cache discarded; sleep(2): both discarded (reload the weights after wake_up). Device memory (and, on the
  // CPU, resident memory) is handed back; every buffer comes back at the same address, so CUDA graphs and
  // views of the parameters stay valid. Refused while requests are unfinished; the prefix cache is reset.
  // Sleeping while asleep and waking while awake do nothing. Each rank calls these itself.
  void sleep(int level = 1);                                 // std::invalid_argument unless level is 1 or 2
  void wake_up(const std::vector<std::string>& tags = {});  // "weights", "kv_cache"; empty: all
  bool is_sleeping() const;                                  // until every tag is awake again
  // Forgets every cached KV block so no prefix-cache hit reuses old contents. Returns false (and changes
  // nothing) while unfinished requests hold blocks.
  bool reset_prefix_cache();

  LLMEngine& engine() { return *engine_; }
  // True when this LLM started its own ranks (tensor_parallel_size > 1 without a launcher; vLLM's "mp"
  // executor): this process is rank 0 and the model it holds is rank 0's shard only.
  bool self_launched() const { return self_launch_ != nullptr; }
  // Internal (like engine()): the self-launched workers' command channel; null under a launcher or with one rank.
  SelfLaunch* self_launch() { return self_launch_.get(); }

 private:
  friend int run_self_launched_worker();
  LLM(const EngineArgs& args, const LaunchEnv& env);  // a self-launched worker rank
  std::vector<RequestOutput> run_generate(const std::vector<Prompt>& prompts, const std::vector<SamplingParams>& params,
                                          const GenerateHooks& hooks, const std::vector<int>& priority);
  std::unique_ptr<SelfLaunch> self_launch_;  // before engine_: outlives it, so workers are stopped first
  std::unique_ptr<LLMEngine> engine_;
  mutable std::once_flag chat_once_;
  mutable std::unique_ptr<ChatPrompter> chat_;  // read on first use of a chat method
};

}  // namespace shardlm
