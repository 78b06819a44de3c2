// The public LLM class: a thin layer over LLMEngine that runs generate() to completion.
#include "shardlm/llm.h"

#include <map>
#include <stdexcept>

#include "api/chat_prompter.h"
#include "api/progress_bar.h"
#include "api/self_launch.h"
#include "core/error.h"
#include "distributed/agreement.h"
#include "distributed/parallel_state.h"
#include "distributed/process_group.h"
#include "engine/llm_engine.h"
#include "engine/sampling_params_json.h"

namespace shardlm {

LLM::LLM(const EngineArgs& args) {
  if (SelfLaunch::wanted(args, detect_launch_env())) {
    self_launch_ = SelfLaunch::start_workers(args);
    engine_ = std::make_unique<LLMEngine>(args, &self_launch_->launch_env());
  } else {
    engine_ = std::make_unique<LLMEngine>(args);
  }
}

LLM::LLM(const EngineArgs& args, const LaunchEnv& env) : engine_(std::make_unique<LLMEngine>(args, &env)) {}

namespace {
EngineArgs args_for(const std::string& model) {
  EngineArgs a;
  a.model = model;
  return a;
}


// Every input of a generate() call that the ranks of a tensor-parallel group must share, field by field.
InputDigest generate_digest(const std::vector<Prompt>& prompts, const std::vector<SamplingParams>& params,
                            const std::vector<int>& priority) {
  InputDigest d;
  d.add_value("the number of prompts", prompts.size());
  for (const Prompt& p : prompts) {
    if (p.token_ids)
      d.add("the prompts", std::string_view(reinterpret_cast<const char*>(p.token_ids->data()), p.token_ids->size() * 4));
    else
      d.add("the prompts", p.text);
  }
  // Every field, through the one field list (a JSON value per field: floats exact, optionals explicit).
  for (const SamplingParams& s : params) {
    const nlohmann::json fields = sampling_params_to_json(s);  // alive while items() walks it
    for (const auto& [name, value] : fields.items()) d.add("SamplingParams." + name, value.dump());
  }
  for (int p : priority) d.add_value("priority", p);
  return d;
}

}  // namespace

LLM::LLM(const std::string& model) : LLM(args_for(model)) {}
LLM::~LLM() {
  if (self_launch_) self_launch_->stop();
}

SamplingParams LLM::default_sampling_params() const { return engine_->default_sampling_params(); }

std::string LLM::apply_chat_template(const std::string& conversation, const ChatOptions& options) const {
  std::call_once(chat_once_, [&] { chat_ = std::make_unique<ChatPrompter>(engine_->tokenizer_dir()); });
  return chat_->render(conversation, options);
}

std::vector<RequestOutput> LLM::chat(const std::vector<std::string>& conversations, const SamplingParams& params,
                                     const ChatOptions& options, bool use_tqdm) {
  std::vector<std::string> texts;
  std::vector<Prompt> prompts;
  for (const std::string& c : conversations) {
    texts.push_back(apply_chat_template(c, options));
    prompts.push_back(Prompt::from_token_ids(encode(texts.back(), false)));
  }
  std::vector<RequestOutput> outputs = generate(prompts, params, use_tqdm);
  for (size_t i = 0; i < outputs.size(); ++i) outputs[i].prompt = texts[i];  // as vLLM's chat() reports it
  return outputs;
}

std::vector<RequestOutput> LLM::generate(const std::vector<Prompt>& prompts, const SamplingParams& params,
                                         bool use_tqdm) {
  return generate(prompts, std::vector<SamplingParams>(prompts.size(), params), use_tqdm);
}

std::vector<RequestOutput> LLM::generate(const std::vector<Prompt>& prompts, const std::vector<SamplingParams>& params,
                                         bool use_tqdm) {
  GenerateHooks hooks;
  hooks.progress_bar = use_tqdm;
  return generate(prompts, params, hooks);
}

std::vector<RequestOutput> LLM::generate(const std::vector<Prompt>& prompts, const std::vector<SamplingParams>& params,
                                         const GenerateHooks& hooks, const std::vector<int>& priority) {
  if (params.size() != prompts.size())
    throw std::invalid_argument("generate: got " + std::to_string(params.size()) + " SamplingParams for " +
                                std::to_string(prompts.size()) + " prompts");
  if (!priority.empty() && priority.size() != prompts.size())
    throw std::invalid_argument("generate: the lengths of prompts (" + std::to_string(prompts.size()) +
                                ") and priority (" + std::to_string(priority.size()) + ") must be the same");
  if (!self_launch_) return run_generate(prompts, params, hooks, priority);
  // Self-launched ranks run the same call; before each step they wait for 's' (step) or 'a' (abort), sent when
  // this rank's own check passes or fails. A hook of the caller's that throws between steps aborts the call
  // here, so the workers are told too (unless no step is left: then they are not waiting for a flag).
  nlohmann::json command{{"op", "generate"}, {"prompts", nlohmann::json::array()}, {"params", nlohmann::json::array()},
                         {"reject_whole_call", hooks.reject_whole_call}, {"priority", priority}};
  for (const Prompt& p : prompts) command["prompts"].push_back(prompt_to_json(p));
  for (const SamplingParams& p : params) command["params"].push_back(sampling_params_to_json(p));
  SelfLaunch& workers = *self_launch_;
  workers.send(command.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  LLMEngine& engine = *engine_;
  auto abort_workers = [&workers, &engine] {
    if (engine.has_unfinished_requests()) workers.send_flag(false);
  };
  GenerateHooks led = hooks;
  led.check_interrupt = [&workers, user = hooks.check_interrupt] {
    if (user) {
      try {
        user();
      } catch (...) {
        workers.send_flag(false);
        throw;
      }
    }
    workers.send_flag(true);
  };
  // The caller's hooks between steps: one that throws aborts the call on the workers too.
  auto guarded = [&abort_workers](auto user) {
    return [abort_workers, user](const auto&... args) {
      try {
        user(args...);
      } catch (...) {
        abort_workers();
        throw;
      }
    };
  };
  if (hooks.on_delta) led.on_delta = guarded(hooks.on_delta);
  if (hooks.on_progress) led.on_progress = guarded(hooks.on_progress);
  return run_generate(prompts, params, led, priority);
}

std::vector<RequestOutput> LLM::run_generate(const std::vector<Prompt>& prompts,
                                             const std::vector<SamplingParams>& params, const GenerateHooks& hooks,
                                             const std::vector<int>& priority) {
  // Before anything a rank could do alone (validation may fail on one rank only when their inputs differ).
  if (ProcessGroup* g = engine_->distributed().tp.cpu_group.get(); g && g->size() > 1)
    require_agreement(*g, generate_digest(prompts, params, priority), "generate");
  for (const auto& p : params) p.validate();
  engine_->check_awake();
  const size_t n = prompts.size();
  std::vector<RequestOutput> results(n);
  std::vector<int64_t> ids(n, -1);
  std::map<int64_t, size_t> index_of;
  std::vector<bool> queued(n, false);
  const EngineStats before = engine_->stats();
  ProgressBar bar((int64_t)n, hooks.progress_bar);
  int64_t done = 0;
  try {
    // Inside the try: a prompt rejected with an exception (an id outside the vocabulary, say) must not leave
    // the prompts before it queued, or their requests would run in a later call.
    for (size_t i = 0; i < n; ++i) {
      ids[i] = engine_->next_request_id();  // known before the call: it may throw, the id still taken
      std::optional<RequestOutput> rejected =
          engine_->add_request(prompts[i], params[i], priority.empty() ? 0 : priority[i]).rejected;
      if (rejected) {
        if (hooks.reject_whole_call)
          throw std::invalid_argument("prompt " + std::to_string(i) + ": " + rejected->error.value_or("rejected"));
        results[i] = std::move(*rejected);
        ++done;
        continue;
      }
      queued[i] = true;
      index_of[ids[i]] = i;
    }
    std::vector<RequestDelta> deltas;
    std::vector<RequestOutput> finished;
    const std::function<void()> step = [&] { finished = engine_->step(hooks.on_delta ? &deltas : nullptr); };
    while (engine_->has_unfinished_requests()) {
      if (hooks.check_interrupt) hooks.check_interrupt();
      if (hooks.run_step) hooks.run_step(step);
      else step();
      if (hooks.on_delta)
        for (const RequestDelta& d : deltas) hooks.on_delta(d);
      for (auto& out : finished) {
        const size_t i = index_of.at(out.request_id);
        queued[i] = false;
        results[i] = std::move(out);
        ++done;
      }
      const EngineStats now = engine_->stats();
      const int64_t in_tokens = now.prompt_tokens - before.prompt_tokens;
      const int64_t out_tokens = now.generated_tokens - before.generated_tokens;
      bar.update(done, in_tokens, out_tokens);
      if (hooks.on_progress) hooks.on_progress(done, in_tokens, out_tokens);
    }
  } catch (...) {
    for (size_t i = 0; i < n; ++i)
      if (queued[i]) {
        try {
          engine_->abort_request(ids[i]);
        } catch (...) {  // the original error is the one to report
        }
      }
    throw;
  }
  bar.finish();
  return results;
}

std::vector<int32_t> LLM::encode(const std::string& text, bool add_special_tokens) const {
  return engine_->tokenizer().encode(text, add_special_tokens);
}

std::string LLM::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  return engine_->tokenizer().decode(ids, skip_special_tokens);
}

std::vector<ParameterInfo> LLM::parameters() const {
  std::vector<ParameterInfo> out;
  for (const auto& p : engine_->model().parameters())
    out.push_back({p.name, p.local.shape(), dtype_name(p.local.dtype()), p.local.numel()});
  return out;
}

int64_t LLM::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : engine_->model().parameters()) n += p.local.numel();
  return n;
}

void LLM::reload_weights() {
  if (self_launch_) self_launch_->send(nlohmann::json{{"op", "reload_weights"}}.dump());
  engine_->reload_weights();
}

std::string LLM::architecture() const { return engine_->model().config().architecture; }
int64_t LLM::vocab_size() const { return engine_->model().config().vocab_size; }
int LLM::max_model_len() const { return engine_->max_model_len(); }

namespace {
DistributedGroup wrap(const GroupCoordinator& g) {
  DistributedGroup d;
  d.cpu_group = Group(g.cpu_group);
  d.device_group = Group(g.device_group);
  d.rank = g.rank_in_group;
  d.world_size = g.world_size;
  d.ranks = g.ranks;
  return d;
}
}  // namespace

DistributedGroup LLM::world_group() const { return wrap(engine_->distributed().world); }
DistributedGroup LLM::tp_group() const { return wrap(engine_->distributed().tp); }
DistributedGroup LLM::dp_group() const { return wrap(engine_->distributed().dp); }
int LLM::rank() const { return engine_->distributed().world.rank_in_group; }
int LLM::world_size() const { return engine_->distributed().world.world_size; }
int LLM::data_parallel_rank() const { return engine_->distributed().dp.rank_in_group; }
int LLM::data_parallel_size() const { return engine_->distributed().dp.world_size; }
EngineStats LLM::stats() const { return engine_->stats(); }
std::vector<Metric> LLM::get_metrics() const { return engine_->get_metrics(); }

// With self-launched ranks each call goes to the workers first, then runs here.
void LLM::sleep(int level) {
  if (self_launch_) self_launch_->send(nlohmann::json{{"op", "sleep"}, {"level", level}}.dump());
  engine_->sleep(level);
}
void LLM::wake_up(const std::vector<std::string>& tags) {
  if (self_launch_) self_launch_->send(nlohmann::json{{"op", "wake_up"}, {"tags", tags}}.dump());
  engine_->wake_up(tags);
}
bool LLM::is_sleeping() const { return engine_->is_sleeping(); }
bool LLM::reset_prefix_cache() {
  if (self_launch_) self_launch_->send(nlohmann::json{{"op", "reset_prefix_cache"}}.dump());
  return engine_->reset_prefix_cache();
}

}  // namespace shardlm
