// LLMEngine: construction (groups, weights, model, KV cache) and the step loop.
#include "engine/llm_engine.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <stdexcept>

#include "core/error.h"
#include "core/memory_arena.h"
#include "distributed/agreement.h"
#include "distributed/parallel_state.h"
#include "engine/device_sampler.h"
#include "engine/generation_defaults.h"
#include "ops/op_profile.h"
#include "io/hf_cache.h"
#include "ops/cpu/cpu_kernels.h"
#include "ops/cpu/isa.h"

namespace shardlm {

namespace {

constexpr int64_t kDefaultCpuKvBytes = int64_t(1) << 30;

uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull + (a << 6) + (a >> 2));
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  return x;
}

// The attention window of Mistral (`sliding_window`) and Qwen2 (`sliding_window` when `use_sliding_window`);
// 0 when attention is global.
int64_t sliding_window(const ModelConfig& cfg) {
  const nlohmann::json& j = cfg.json;
  if (!j.contains("sliding_window") || !j["sliding_window"].is_number_integer()) return 0;
  // Qwen configs carry a window that applies only with use_sliding_window (default false).
  const bool qwen = cfg.model_type.rfind("qwen", 0) == 0;
  const bool use = j.contains("use_sliding_window") && j["use_sliding_window"].is_boolean()
                       ? j["use_sliding_window"].get<bool>()
                       : !qwen;
  if (!use) return 0;
  return j["sliding_window"].get<int64_t>();
}

Device choose_device(const std::string& name) {
  if (name == "cpu") return Device::CPU;
  if (name == "cuda") return Device::CUDA;
  if (name == "auto") {
    try {
      allocator_for(Device::CUDA);
      return Device::CUDA;
    } catch (const Error&) {
      return Device::CPU;
    }
  }
  throw std::invalid_argument("device must be 'auto', 'cpu' or 'cuda', got '" + name + "'");
}

struct ParamDtypeChoice {
  DType dtype;
  ParamDtypePolicy policy;
};

// The CPU computes in f32 whatever the weights are. There "auto" keeps weight matrices as stored when the
// AVX2/F16C kernels can widen them in registers (half the memory traffic of f32 for f16/bf16 checkpoints,
// the same arithmetic), else widens them at load; "float32" always widens at load; "float16"/"bfloat16"
// store matrices in that dtype.
ParamDtypeChoice choose_dtype(const std::string& name, const ModelConfig& cfg, Device dev) {
  if (dev == Device::CPU) {
    if (name != "auto" && name != "float32" && name != "float16" && name != "bfloat16" && name != "half" &&
        name != "float")
      throw std::invalid_argument("dtype must be auto, float32, float16 or bfloat16, got '" + name + "'");
    if (name == "auto") {
      if (cpu::active_isa() == cpu::Isa::Avx2) return {cfg.dtype, ParamDtypePolicy::KeepStoredMatrices};
      return {DType::F32, ParamDtypePolicy::ConvertAll};
    }
    return {parse_dtype(name, "dtype"), ParamDtypePolicy::ConvertAll};
  }
  if (name == "auto") return {cfg.dtype == DType::F32 ? DType::F16 : cfg.dtype, ParamDtypePolicy::ConvertAll};
  return {parse_dtype(name, "dtype"), ParamDtypePolicy::ConvertAll};
}

// Address space for the sleep-mode weights arena: every checkpoint tensor at f32 (no parameter is wider),
// twice (a layer may keep a loaded shard beside a reshaped copy, as the vocab-padded embedding does), plus
// slack. Only what is allocated becomes resident; the rest is reservation.
size_t weights_arena_bytes(const WeightStore& weights) {
  size_t total = 0;
  for (const std::string& name : weights.names()) {
    size_t numel = 1;
    for (int64_t d : weights.info(name).shape) numel *= (size_t)d;
    total += numel * 4 + MemoryArena::kAlignment;
  }
  return 2 * total + (size_t(64) << 20);
}

// vLLM's scheduler defaults where the user left them at 0: large GPUs (70 GiB or more; A100 excepted, where
// vLLM measured a large token budget to be slower) take bigger batches; the server keeps steps shorter.
void apply_batch_defaults(EngineArgs& a, Device device) {
  const bool server = a.usage_context == UsageContext::OpenAIServer;
  bool large_gpu = false;
  if (device != Device::CPU && (a.max_num_batched_tokens == 0 || a.max_num_seqs == 0)) {
    DeviceAllocator* alloc = allocator_for(device);
    size_t free_bytes = 0, total = 0;
    std::string name = alloc->model_name();
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return (char)std::tolower(c); });
    large_gpu = alloc->memory_info(&free_bytes, &total) && total >= (size_t(70) << 30) &&
                name.find("a100") == std::string::npos;
  }
  if (a.max_num_batched_tokens == 0)
    a.max_num_batched_tokens = device == Device::CPU ? 8192 : large_gpu ? (server ? 8192 : 16384) : (server ? 2048 : 8192);
  if (a.max_num_seqs == 0) a.max_num_seqs = large_gpu ? 1024 : 256;
}

constexpr const char* kWeightsTag = "weights";
constexpr const char* kKvCacheTag = "kv_cache";

}  // namespace

LLMEngine::LLMEngine(const EngineArgs& given, const LaunchEnv* launch) : args_(given) {
  device_ = choose_device(given.device);
  apply_batch_defaults(args_, device_);
  const EngineArgs& args = args_;
  if (args.tensor_parallel_size < 1)
    throw std::invalid_argument("tensor_parallel_size must be at least 1, got " + std::to_string(args.tensor_parallel_size));
  if (args.data_parallel_size < 1)
    throw std::invalid_argument("data_parallel_size must be at least 1, got " + std::to_string(args.data_parallel_size));
  if (args.block_size < 1 || args.block_size > 1024)
    throw std::invalid_argument("block_size must be in [1, 1024], got " + std::to_string(args.block_size));
  if (args.max_num_seqs < 1) throw std::invalid_argument("max_num_seqs must be at least 1");
  if (args.max_num_batched_tokens < 1) throw std::invalid_argument("max_num_batched_tokens must be at least 1");
  if (args.max_logprobs < -1) throw std::invalid_argument("max_logprobs must be -1 (no limit) or at least 0");
  if (!(args.gpu_memory_utilization > 0 && args.gpu_memory_utilization <= 1))  // also NaN
    throw std::invalid_argument("gpu_memory_utilization must be in (0, 1], got " + str_fixed(args.gpu_memory_utilization, 3));
  if (args.max_model_len < 0)
    throw std::invalid_argument("max_model_len must be positive (or 0: the model's limit), got " +
                                std::to_string(args.max_model_len));
  if (args.scheduling_policy != "fcfs" && args.scheduling_policy != "priority")
    throw std::invalid_argument("scheduling_policy must be 'fcfs' or 'priority', got '" + args.scheduling_policy + "'");
  if (args.distributed_executor_backend != "external_launcher" && args.distributed_executor_backend != "" &&
      args.distributed_executor_backend != "mp" && args.distributed_executor_backend != "uni")
    throw std::invalid_argument("distributed_executor_backend must be 'external_launcher', 'mp', 'uni' or unset, got '" +
                                args.distributed_executor_backend + "'");
  if (device_ != Device::CPU) {
    // gpu_memory_utilization is this engine's share of the card, as in vLLM: memory that other engines, torch
    // or other processes hold is not charged to it, only checked to leave the share free.
    // Blocks cached by engines destroyed earlier in this process go back to the driver first, or they would
    // count as memory others hold (as torch.cuda.empty_cache() before vLLM's memory profiling).
    allocator_for(device_)->release_cached();
    size_t total = 0;
    if (!allocator_for(device_)->memory_info(&device_free_at_start_, &total)) device_free_at_start_ = 0;
  }

  const std::string model_dir = resolve_model_path(args.model);
  ModelConfig cfg = load_model_config(model_dir);
  const ParamDtypeChoice param_dtype = choose_dtype(args.dtype, cfg, device_);

  DistributedOptions dopts;
  dopts.tensor_parallel_size = args.tensor_parallel_size;
  dopts.data_parallel_size = args.data_parallel_size;
  dopts.timeout = std::chrono::milliseconds((int64_t)(args.distributed_timeout_s * 1000));
  dopts.device = device_;
  dist_ = launch ? init_distributed(dopts, *launch) : init_distributed(dopts);

  if (device_ == Device::CPU) {
    int threads = args.num_threads;
    if (threads <= 0) threads = std::max(1, cpu::num_threads_available() / std::max(1, dist_->env.local_world_size));
    cpu::set_num_threads(threads);
  }

  default_params_ = generation_defaults(args.generation_config, model_dir);
  tokenizer_dir_ = args.tokenizer.empty() ? model_dir : resolve_model_path(args.tokenizer);
  tokenizer_ = Tokenizer::from_dir(tokenizer_dir_);
  weights_ = WeightStore::open(model_dir);
  ProcessGroup* tp_group = dist_->tp.world_size > 1 ? dist_->tp.device_group.get() : nullptr;
  load_ctx_ = std::make_unique<LoadContext>(*weights_, dist_->tp.rank_in_group, dist_->tp.world_size, tp_group, device_,
                                            param_dtype.dtype, param_dtype.policy);
  load_ctx_->set_quantization(resolve_quant_config(cfg.json, model_dir + "/config.json", args.quantization));
  if (args.enable_sleep_mode)
    weights_arena_ = allocator_for(device_)->create_arena(kWeightsTag, weights_arena_bytes(*weights_));
  {
    ArenaScope in_arena(weights_arena_);  // sleep mode: the parameters (LoadContext keeps temporaries out)
    model_ = create_model(cfg, *load_ctx_);
  }

  max_model_len_ = args.max_model_len > 0 ? args.max_model_len : (int)model_->config().max_position_embeddings;
  // Sliding-window attention is not implemented: within the window it equals full attention, so sequences
  // are limited to the window rather than silently attending past it.
  if (const int64_t window = sliding_window(cfg); window > 0 && max_model_len_ > window) {
    if (args.max_model_len > 0)
      throw std::invalid_argument("max_model_len (" + std::to_string(args.max_model_len) +
                                  ") exceeds the model's sliding_window (" + std::to_string(window) +
                                  "); sliding-window attention is not supported, so sequences must fit the window");
    std::fprintf(stderr, "shardlm: limiting max_model_len to the model's sliding_window (%lld): sliding-window "
                 "attention is not supported\n", (long long)window);
    max_model_len_ = (int)window;
  }
  if (max_model_len_ > model_->config().max_position_embeddings)
    throw std::invalid_argument("max_model_len (" + std::to_string(max_model_len_) +
                                ") exceeds the model's max_position_embeddings (" +
                                std::to_string(model_->config().max_position_embeddings) + ")");
  eos_token_ids_ = model_->config().eos_token_ids;
  if (eos_token_ids_.empty() && tokenizer_->eos_token_id()) eos_token_ids_.push_back(*tokenizer_->eos_token_id());

  // KV-cache capacity: this rank's budget, then the minimum over the replica's ranks (the TP group) so they
  // schedule alike; other replicas schedule their own prompts and need not agree.
  const DType kv_dtype = load_ctx_->act_dtype();
  const int64_t block_bytes = kv_block_bytes(*model_, args.block_size, kv_dtype);
  const int64_t blocks_per_seq = (max_model_len_ + args.block_size - 1) / args.block_size;
  int64_t budget = args.kv_cache_memory_bytes;
  if (budget <= 0 && device_ != Device::CPU) budget = profile_kv_budget(block_bytes, kv_dtype);
  if (budget <= 0) budget = std::min(kDefaultCpuKvBytes, (int64_t)args.max_num_seqs * blocks_per_seq * block_bytes);
  int64_t blocks = budget / block_bytes;
  if (dist_->tp.world_size > 1) {
    // The ranks of a replica must run the same model with the same settings, or their outputs differ.
    InputDigest d;
    d.add("the model (architecture)", model_->config().architecture);
    for (const std::string& name : weights_->names()) {
      d.add("the model (its tensors)", name);
      for (int64_t dim : weights_->info(name).shape) d.add_value("the model (its tensors)", dim);
    }
    d.add_value("dtype", kv_dtype);
    d.add_value("max_model_len", max_model_len_);
    d.add_value("block_size", args.block_size);
    d.add_value("max_num_seqs", args.max_num_seqs);
    d.add_value("max_num_batched_tokens", args.max_num_batched_tokens);
    d.add_value("enable_prefix_caching", args.enable_prefix_caching);
    d.add_value("enable_chunked_prefill", args.enable_chunked_prefill);
    d.add_value("seed (the engine's)", args.seed);
    d.add_value("max_logprobs", args.max_logprobs);
    d.add("scheduling_policy", args.scheduling_policy);
    d.add("the tokenizer", std::to_string(tokenizer_->vocab_size()));
    require_agreement(*dist_->tp.cpu_group, d, "LLM");
    Tensor t = Tensor::empty({1}, DType::I64);
    t.data<int64_t>()[0] = blocks;
    dist_->tp.cpu_group->all_reduce(t, ReduceOp::Min);
    blocks = t.data<int64_t>()[0];
  }
  if (blocks < 1)
    fail("KV cache budget of ", budget, " bytes holds no block of ", block_bytes,
         " bytes: raise --kv-cache-memory-bytes");
  num_kv_blocks_ = blocks;
  RunnerOptions ro;
  ro.cuda_graphs = !args.enforce_eager;  // the runner uses them only on CUDA
  ro.max_num_seqs = args.max_num_seqs;
  ro.max_model_len = max_model_len_;
  if (args.enable_sleep_mode) {
    const size_t cache_bytes = (size_t)blocks * (size_t)block_bytes +
                               (size_t)(2 * model_->num_layers()) * MemoryArena::kAlignment + (size_t(4) << 20);
    kv_arena_ = allocator_for(device_)->create_arena(kKvCacheTag, cache_bytes);
    ro.kv_arena = kv_arena_;
  }
  runner_ = std::make_unique<ModelRunner>(*model_, KVCacheSpec{blocks, args.block_size}, device_, kv_dtype, ro);

  SchedulerConfig sc;
  sc.block_size = args.block_size;
  sc.num_blocks = (int)std::min<int64_t>(blocks, INT32_MAX);
  sc.max_num_batched_tokens = args.max_num_batched_tokens;
  if (!args.enable_chunked_prefill) sc.max_num_batched_tokens = std::max(args.max_num_batched_tokens, max_model_len_);
  sc.max_num_seqs = args.max_num_seqs;
  sc.max_model_len = max_model_len_;
  sc.enable_prefix_caching = args.enable_prefix_caching;
  sc.enable_chunked_prefill = args.enable_chunked_prefill;
  sc.policy = args.scheduling_policy == "priority" ? SchedulingPolicy::Priority : SchedulingPolicy::Fcfs;
  scheduler_ = std::make_unique<Scheduler>(sc);
}

LLMEngine::~LLMEngine() = default;

int64_t LLMEngine::profile_kv_budget(int64_t block_bytes, DType kv_dtype) {
  // vLLM's sizing: run the largest step the scheduler may issue (max_num_batched_tokens of one prompt) on a
  // scratch cache, measure the peak memory it takes beyond the weights, and give the KV cache what is left of
  // gpu_memory_utilization * total.
  DeviceAllocator* alloc = allocator_for(device_);
  size_t free0 = 0, total = 0;
  if (!alloc->memory_info(&free0, &total)) return 0;
  const double mib = 1 << 20;
  const int64_t share = (int64_t)(args_.gpu_memory_utilization * (double)total);
  if (device_free_at_start_ > 0 && (int64_t)device_free_at_start_ < share)
    fail(str_fixed(device_free_at_start_ / mib, 0), " MiB of the device's ", str_fixed(total / mib, 0),
         " MiB were free when the engine started, less than gpu_memory_utilization ",
         str_fixed(args_.gpu_memory_utilization, 3), " asks for (", str_fixed(share / mib, 0),
         " MiB): lower it, or free the memory other engines or processes hold");
  // What this engine took before profiling: weights, communicators, workspaces.
  const int64_t own_before = device_free_at_start_ > 0 ? (int64_t)device_free_at_start_ - (int64_t)free0
                                                       : (int64_t)(total - free0);
  const int64_t tokens = std::max<int64_t>(1, std::min<int64_t>(args_.max_num_batched_tokens, max_model_len_ - 1));
  const int64_t blocks = (tokens + args_.block_size - 1) / args_.block_size;
  int64_t peak = 0;
  {
    ModelRunner scratch(*model_, KVCacheSpec{blocks, args_.block_size}, device_, kv_dtype);
    std::vector<int32_t> ids((size_t)tokens, 0), table((size_t)blocks);
    for (int64_t b = 0; b < blocks; ++b) table[(size_t)b] = (int32_t)b;
    scratch.execute({SequenceStep{std::span<const int32_t>(ids), 0, &table, true}});
    size_t free1 = 0;
    alloc->memory_info(&free1, &total);
    peak = (int64_t)(free0 - free1);  // scratch cache + activations held by the caching allocator
  }
  alloc->release_cached();
  const int64_t activations = std::max<int64_t>(0, peak - blocks * block_bytes);
  const int64_t budget = share - own_before - activations;
  if (budget < block_bytes)
    fail("gpu_memory_utilization ", str_fixed(args_.gpu_memory_utilization, 3), " of ", str_fixed(total / mib, 0),
         " MiB leaves no room for the KV cache (", str_fixed(own_before / mib, 0),
         " MiB taken by this engine's weights, ", str_fixed(activations / mib, 0), " MiB for activations of a ",
         tokens, "-token step): raise it or lower max_num_batched_tokens");
  return budget;
}

AddedRequest LLMEngine::add_request(const Prompt& prompt, const SamplingParams& given, int priority,
                                    std::optional<double> arrival_time) {
  const int64_t request_id = next_request_id_++;
  SamplingParams params = given;
  if (const std::string warning = params.normalize(); !warning.empty())
    std::fprintf(stderr, "shardlm: WARNING: %s\n", warning.c_str());
  params.validate();
  const int vocab = (int)model_->config().vocab_size;
  params.verify_for_model(vocab, args_.max_logprobs);
  std::vector<std::vector<int32_t>> bad_words_ids = tokenize_bad_words(params.bad_words, *tokenizer_, vocab);
  auto r = std::make_unique<RequestState>();
  r->request_id = request_id;
  r->prompt = prompt;
  r->metrics.arrival_time = arrival_time ? *arrival_time : metrics_clock_now();
  r->prompt_ids = prompt.token_ids ? *prompt.token_ids : tokenizer_->encode(prompt.text, true);
  if (params.truncate_prompt_tokens) {  // keep the last k tokens (-1: max_model_len), as vLLM
    const size_t keep = (size_t)(*params.truncate_prompt_tokens == -1 ? max_model_len_ : *params.truncate_prompt_tokens);
    if (r->prompt_ids.size() > keep) r->prompt_ids.erase(r->prompt_ids.begin(), r->prompt_ids.end() - (std::ptrdiff_t)keep);
  }
  for (int32_t id : r->prompt_ids)
    if (id < 0 || id >= vocab)
      throw std::invalid_argument("prompt token id " + std::to_string(id) + " is out of range for a vocabulary of " +
                                  std::to_string(vocab));

  auto reject = [&](const std::string& why) {
    AddedRequest added{request_id, RequestOutput{}};
    RequestOutput& o = *added.rejected;
    o.request_id = request_id;
    o.prompt = prompt.token_ids ? "" : prompt.text;
    o.prompt_token_ids = r->prompt_ids;
    o.finished = true;
    o.error = why;
    o.metrics = r->metrics;
    return added;
  };
  const int prompt_len = (int)r->prompt_ids.size();
  if (prompt_len == 0) return reject("the prompt is empty");
  if (prompt_len >= max_model_len_)
    return reject("the prompt (" + std::to_string(prompt_len) + " tokens) is longer than the maximum model length of " +
                  std::to_string(max_model_len_) + " (it must leave room for at least one generated token)");
  // The whole sequence must fit the cache on its own, or it would preempt itself forever.
  const int room = max_model_len_ - prompt_len;
  const int longest_output = params.max_tokens ? std::min(*params.max_tokens, room) : room;
  const int64_t seq_tokens = (int64_t)prompt_len + longest_output - 1;
  const int64_t blocks_needed = (seq_tokens + args_.block_size - 1) / args_.block_size;
  if (blocks_needed > num_kv_blocks_)
    return reject("the request (" + std::to_string(prompt_len) + " prompt tokens + up to " +
                  std::to_string(longest_output) + " generated) needs " + std::to_string(blocks_needed) +
                  " KV-cache blocks but the cache has only " + std::to_string(num_kv_blocks_) +
                  ": raise --kv-cache-memory-bytes (or --gpu-memory-utilization), or lower max_tokens");

  for (int i = 0; i < params.n; ++i) {
    SamplingParams sp = params;
    uint64_t seed = params.seed ? (uint64_t)(*params.seed + i)
                                : mix_seed((uint64_t)args_.seed, (uint64_t)sequences_counter_++);
    auto seq = std::make_unique<SequenceState>(*tokenizer_, r->prompt_ids, sp, seed);
    seq->sequence_id = next_sequence_id_++;
    seq->request = r.get();
    seq->index = i;
    seq->out.index = i;
    const int room = max_model_len_ - prompt_len;
    seq->max_tokens = params.max_tokens ? std::min(*params.max_tokens, room) : room;
    seq->bad_words_ids = bad_words_ids;
    auto req = std::make_unique<Request>();
    req->request_id = seq->sequence_id;
    req->sequence = seq.get();
    req->prompt_token_ids = r->prompt_ids;
    req->max_tokens = seq->max_tokens;
    req->priority = priority;
    // Sequence 0 computes the prompt logprobs: every prompt position, none read from the prefix cache.
    req->skip_reading_prefix_cache = i == 0 && params.prompt_logprobs.has_value();
    scheduler_->add_request(std::move(req));
    r->seqs.push_back(std::move(seq));
  }
  if (params.prompt_logprobs) {
    r->prompt_logprobs.emplace((size_t)prompt_len);
    r->prompt_token_ranks.assign((size_t)prompt_len, 0);
  }
  prompt_tokens_ += prompt_len;
  requests_[request_id] = std::move(r);
  return AddedRequest{request_id, std::nullopt};
}

void LLMEngine::finish_sequence(SequenceState& seq, const std::string& reason) {
  seq.finished = true;
  // Text held back because it ended in an unfinished character is emitted at the end (unless a stop string
  // already cut the text).
  if (!seq.out.stop_reason_str && seq.params.detokenize) {
    seq.detok->flush();
    seq.out.text = seq.detok->text();
  }
  seq.out.finish_reason = reason;
  RequestStatus st = reason == "length" ? RequestStatus::FinishedLength
                     : reason == "abort" ? RequestStatus::FinishedAborted
                                         : RequestStatus::FinishedStopped;
  scheduler_->finish_request(seq.sequence_id, st);
}

RequestOutput LLMEngine::make_output(const RequestState& r) const {
  RequestOutput o;
  o.request_id = r.request_id;
  o.prompt = r.prompt.token_ids ? "" : r.prompt.text;
  o.prompt_token_ids = r.prompt_ids;
  o.prompt_logprobs = r.prompt_logprobs;
  o.prompt_token_ranks = r.prompt_token_ranks;
  o.num_cached_tokens = r.num_cached_tokens;
  o.finished = true;
  o.metrics = r.metrics;
  for (const auto& s : r.seqs) o.outputs.push_back(s->out);
  return o;
}

void LLMEngine::abort_request(int64_t request_id) {
  auto it = requests_.find(request_id);
  if (it == requests_.end()) return;
  for (auto& s : it->second->seqs)
    if (!s->finished) finish_sequence(*s, "abort");
  record_finished(*it->second, "abort", metrics_clock_now());
  requests_.erase(it);
}

std::vector<RequestOutput> LLMEngine::step(std::vector<RequestDelta>* deltas) {
  std::vector<RequestOutput> done;
  if (deltas) deltas->clear();
  if (requests_.empty()) return done;
  check_awake();
  // The step on the device's timeline, host scheduling and the sampler's result copy included.
  op_profile::Scope step_scope(device_, [] { return std::string("engine step"); });
  SchedulerOutput sched = scheduler_->schedule();
  if (sched.scheduled.empty())
    fail("the scheduler could not schedule any of ", requests_.size(),
         " unfinished requests (KV cache too small for the running requests?)");
  ++num_steps_;

  // Token ids of each scheduled chunk, kept alive for the runner's spans.
  std::vector<std::vector<int32_t>> chunks(sched.scheduled.size());
  std::vector<SequenceStep> steps;
  std::vector<Request*> sampled_reqs;
  std::vector<int64_t> sample_rows;  // the logits row of each sampled request
  struct PromptRows {                // a chunk whose rows give prompt logprobs
    RequestState* request;
    int start;                       // position of the chunk's first token (its row 0)
    int64_t first_row, num_rows;
  };
  std::vector<PromptRows> prompt_rows;
  int64_t num_rows = 0;
  for (size_t i = 0; i < sched.scheduled.size(); ++i) {
    const ScheduledRequest& sr = sched.scheduled[i];
    Request* r = sr.request;
    const SequenceState& seq = *r->sequence;
    RequestState& owner = *seq.request;
    if (owner.metrics.first_scheduled_time == 0) {
      owner.metrics.first_scheduled_time = metrics_clock_now();
      owner.metrics.time_in_queue = owner.metrics.first_scheduled_time - owner.metrics.arrival_time;
    }
    const int start = r->num_computed_tokens;
    for (int t = start; t < start + sr.num_new_tokens; ++t) chunks[i].push_back(r->token_at(t));
    const bool wants = start + sr.num_new_tokens == r->num_tokens();
    SequenceStep step{std::span<const int32_t>(chunks[i]), start, &r->block_ids, wants};
    if (seq.index == 0) {
      owner.num_cached_tokens = r->num_cached_tokens;
      // Row p predicts prompt token p + 1: wanted while this chunk reaches a position not filled yet.
      if (owner.prompt_logprobs && start + 1 < r->num_prompt_tokens() &&
          start + sr.num_new_tokens >= owner.next_prompt_position) {
        step.all_logits = true;
        prompt_rows.push_back({&owner, start, num_rows, sr.num_new_tokens});
      }
    }
    num_rows += step.num_logits_rows();
    if (wants) {
      sampled_reqs.push_back(r);
      sample_rows.push_back(num_rows - 1);
    }
    steps.push_back(step);
  }
  if (op_profile::enabled()) {
    const bool decode = std::all_of(steps.begin(), steps.end(), [](const SequenceStep& s) { return s.token_ids.size() == 1; });
    step_scope.rename(std::string("engine step ") + (decode ? "decode" : "with prefill") + " seqs" +
                      op_profile::rows_bucket((int64_t)steps.size()));
  }
  Tensor logits = runner_->execute(steps);
  if (!prompt_rows.empty()) {
    // Prompt logprobs are computed on the host; the sampling rows are gathered there too.
    Tensor host = logits.device() == Device::CPU ? logits : logits.to(Device::CPU);
    const int32_t vocab = (int32_t)host.dim(1);
    for (const PromptRows& pr : prompt_rows) record_prompt_logprobs(*pr.request, host, pr.first_row, pr.start, pr.num_rows);
    Tensor gathered = Tensor::empty({(int64_t)sample_rows.size(), vocab}, DType::F32);
    for (size_t k = 0; k < sample_rows.size(); ++k)
      std::copy_n(host.data<float>() + sample_rows[k] * vocab, vocab, gathered.data<float>() + (int64_t)k * vocab);
    logits = gathered;
  }

  // Sampled where the logits are (the GPU or the host); row k belongs to sampled_reqs[k].
  std::vector<SampleRow> rows;
  rows.reserve(sampled_reqs.size());
  for (Request* r : sampled_reqs) {
    SequenceState& seq = *r->sequence;
    rows.push_back(SampleRow{&seq.params, &r->prompt_token_ids, &r->output_token_ids,
                             suppressed_tokens(seq, eos_token_ids_), &seq.rng});
  }
  std::vector<SampleResult> results;
  {
    op_profile::Scope sampling(device_, [&] { return "sampler rows" + op_profile::rows_bucket((int64_t)rows.size()); });
    results = sample_batch(logits, rows, sampler_scratch_);
  }
  std::map<int64_t, int32_t> sampled;
  for (size_t k = 0; k < sampled_reqs.size(); ++k) sampled[sampled_reqs[k]->request_id] = results[k].token;
  // The sampled sequences and their total lengths, taken before the scheduler appends the sampled tokens (the
  // scheduler's Requests of sequences that finish below go away; their SequenceStates stay until the request is done).
  std::vector<std::pair<SequenceState*, int>> lengths;
  for (Request* r : sampled_reqs) lengths.emplace_back(r->sequence, r->num_tokens() + 1);
  scheduler_->update_from_output(sched, sampled);

  std::map<int64_t, size_t> delta_of;  // request id -> its entry in *deltas
  const double now = metrics_clock_now();
  {
    std::map<int64_t, int> tokens_of;  // request id -> tokens it gained in this step
    for (const auto& [seq, length] : lengths) ++tokens_of[seq->request->request_id];
    for (const auto& [id, n] : tokens_of) record_tokens(*requests_.at(id), n, now);
  }
  for (size_t k = 0; k < lengths.size(); ++k) {
    SequenceState& seq = *lengths[k].first;
    ++generated_tokens_;
    const std::string reason = append_token(seq, results[k], eos_token_ids_, lengths[k].second, max_model_len_);
    RequestState& owner = *seq.request;
    const int64_t parent = owner.request_id;
    if (!reason.empty()) finish_sequence(seq, reason);
    RequestDelta* delta = nullptr;
    // FINAL_ONLY: nothing is reported until the sequence finishes (its one delta then holds everything).
    const bool report = !reason.empty() || seq.params.output_kind != RequestOutputKind::FinalOnly;
    if (deltas && report) {
      auto [it, fresh] = delta_of.emplace(parent, deltas->size());
      if (fresh) {
        deltas->emplace_back();
        deltas->back().request_id = parent;
      }
      delta = &(*deltas)[it->second];
      if (seq.index == 0 && owner.prompt_logprobs && !owner.prompt_logprobs_streamed) {
        delta->prompt_logprobs = owner.prompt_logprobs;  // complete: sequence 0 has sampled
        delta->prompt_token_ids = owner.prompt_ids;
        owner.prompt_logprobs_streamed = true;
      }
      delta->sequences.push_back(take_delta(seq));  // before the request (and seq) may go below
    }
    if (reason.empty()) continue;
    if (++owner.num_finished == (int)owner.seqs.size()) {
      if (delta) delta->finished = true;
      record_finished(owner, owner.seqs[0]->out.finish_reason, now);
      done.push_back(make_output(owner));
      requests_.erase(parent);  // owner and seq go with it
    }
  }
  return done;
}

void LLMEngine::record_tokens(RequestState& r, int num_tokens, double now) {
  RequestMetrics& m = r.metrics;
  if (m.first_token_time == 0) {
    m.first_token_time = now;
    m.first_token_latency = now - m.arrival_time;
    metrics_.first_token(m);
  } else {
    metrics_.token_gap(now - m.last_token_time);
  }
  m.last_token_time = now;
  m.num_generation_tokens += num_tokens;
}

void LLMEngine::record_finished(RequestState& r, const std::string& reason, double now) {
  r.metrics.finished_time = now;
  metrics_.finished(r.metrics, reason);
}

void LLMEngine::record_prompt_logprobs(RequestState& r, const Tensor& host_logits, int64_t first_row, int start,
                                       int64_t num_rows) {
  const int32_t vocab = (int32_t)host_logits.dim(1);
  const int prompt_len = (int)r.prompt_ids.size();
  const SamplingParams& params = r.seqs[0]->params;
  for (int64_t j = 0; j < num_rows; ++j) {
    const int target = start + (int)j + 1;  // the prompt position row j predicts
    if (target >= prompt_len) break;
    if (target < r.next_prompt_position) continue;  // filled before a preemption
    const PositionLogprobs lp = position_logprobs(host_logits.data<float>() + (first_row + j) * vocab, vocab,
                                                  r.prompt_ids[(size_t)target], *params.prompt_logprobs, params);
    std::map<int32_t, float>& m = (*r.prompt_logprobs)[(size_t)target];
    for (const TokenLogprob& t : lp.top) m[t.token] = t.logprob;
    m[r.prompt_ids[(size_t)target]] = lp.logprob;
    r.prompt_token_ranks[(size_t)target] = lp.rank;
    r.next_prompt_position = target + 1;
  }
}

void LLMEngine::require_sleep_mode(const char* what) const {
  if (!args_.enable_sleep_mode)
    fail(what, "(): sleep mode is off; construct the LLM with enable_sleep_mode=True (EngineArgs::enable_sleep_mode) "
         "to use sleep() and wake_up()");
}

void LLMEngine::sleep(int level) {
  if (level != 1 && level != 2)
    throw std::invalid_argument("sleep level must be 1 (weights offloaded to host memory, KV cache discarded) or 2 "
                                "(weights and KV cache discarded), got " + std::to_string(level));
  require_sleep_mode("sleep");
  if (is_sleeping()) return;  // vLLM: sleeping again does nothing
  if (!requests_.empty())
    fail("sleep(): ", requests_.size(), " requests are unfinished; let them finish or abort them first");
  // The KV cache's contents are about to go: no later request may hit a cached block.
  SHARDLM_CHECK(scheduler_->reset_prefix_cache(), "blocks held with no unfinished request");
  weights_arena_->sleep(level == 1 ? SleepContents::Keep : SleepContents::Discard);
  kv_arena_->sleep(SleepContents::Discard);
  allocator_for(device_)->release_cached();  // activations' cached blocks too (graph pools stay: graphs hold them)
}

void LLMEngine::wake_up(const std::vector<std::string>& tags) {
  for (const std::string& tag : tags)
    if (tag != kWeightsTag && tag != kKvCacheTag)
      throw std::invalid_argument("wake_up: unknown tag '" + tag + "' (the tags are 'weights' and 'kv_cache')");
  require_sleep_mode("wake_up");
  auto wanted = [&](const char* tag) { return tags.empty() || std::find(tags.begin(), tags.end(), tag) != tags.end(); };
  if (wanted(kWeightsTag)) weights_arena_->wake();
  if (wanted(kKvCacheTag)) kv_arena_->wake();
}

bool LLMEngine::is_sleeping() const {
  return (weights_arena_ && weights_arena_->sleeping()) || (kv_arena_ && kv_arena_->sleeping());
}

void LLMEngine::check_awake() const {
  if (!is_sleeping()) return;
  std::string asleep;
  if (weights_arena_->sleeping()) asleep += "'weights'";
  if (kv_arena_->sleeping()) asleep += std::string(asleep.empty() ? "" : " and ") + "'kv_cache'";
  fail("the engine is sleeping (", asleep, " asleep): call wake_up() first");
}

bool LLMEngine::reset_prefix_cache() { return scheduler_->reset_prefix_cache(); }

const MemoryArena* LLMEngine::arena(const std::string& tag) const {
  if (tag == kWeightsTag) return weights_arena_.get();
  if (tag == kKvCacheTag) return kv_arena_.get();
  throw std::invalid_argument("unknown memory arena tag '" + tag + "' (the tags are 'weights' and 'kv_cache')");
}

EngineStats LLMEngine::stats() const {
  SchedulerStats s = scheduler_->stats();
  EngineStats e;
  e.num_preemptions = s.num_preemptions;
  e.prefix_cache_queries_tokens = s.prefix_cache_queries_tokens;
  e.prefix_cache_hits_tokens = s.prefix_cache_hits_tokens;
  e.num_kv_blocks = num_kv_blocks_;
  e.block_size = args_.block_size;
  e.kv_cache_usage = s.kv_cache_usage;
  e.num_steps = num_steps_;
  e.prompt_tokens = prompt_tokens_;
  e.generated_tokens = generated_tokens_;
  e.num_running = (int64_t)s.num_running;
  e.num_waiting = (int64_t)s.num_waiting;
  return e;
}

std::vector<Metric> LLMEngine::get_metrics() const {
  const EngineStats s = stats();
  std::vector<Metric> out;
  auto add = [&](const char* name, MetricKind kind, double value) {
    Metric m;
    m.name = name;
    m.kind = kind;
    m.value = value;
    out.push_back(m);
  };
  add("vllm:num_requests_running", MetricKind::Gauge, (double)s.num_running);
  add("vllm:num_requests_waiting", MetricKind::Gauge, (double)s.num_waiting);
  add("vllm:kv_cache_usage_perc", MetricKind::Gauge, s.kv_cache_usage);
  add("vllm:prompt_tokens", MetricKind::Counter, (double)s.prompt_tokens);
  add("vllm:generation_tokens", MetricKind::Counter, (double)s.generated_tokens);
  add("vllm:num_preemptions", MetricKind::Counter, (double)s.num_preemptions);
  add("vllm:prefix_cache_queries", MetricKind::Counter, (double)s.prefix_cache_queries_tokens);
  add("vllm:prefix_cache_hits", MetricKind::Counter, (double)s.prefix_cache_hits_tokens);
  for (Metric& m : metrics_.snapshot()) out.push_back(std::move(m));
  return out;
}

void LLMEngine::reload_weights() {
  if (has_unfinished_requests())
    fail("reload_weights: ", requests_.size(), " request(s) are unfinished; finish or abort them first");
  load_ctx_->reload_from_checkpoint();
}

}  // namespace shardlm
