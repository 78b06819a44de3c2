// EngineLoop: the queue between HTTP threads and the engine thread, and the leader/follower protocol of a
// multi-rank server (see engine_loop.h).
#include "server/engine_loop.h"

#include <algorithm>
#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "engine/engine_metrics.h"
#include "engine/llm_engine.h"
#include "engine/sampling_params_json.h"

namespace shardlm::server {

namespace {

using nlohmann::json;

// One iteration's decisions, as the leader broadcasts them. Requests are named by the engine's integer ids:
// every rank's engine numbers the adds alike (first_id, first_id + 1, ...), which followers check.
struct Plan {
  struct Add {
    Prompt prompt;
    SamplingParams params;
  };
  int64_t first_id = 0;  // the id the leader's engine gives adds[0]
  std::vector<Add> adds;
  std::vector<int64_t> aborts;
  bool stop = false;
};

std::string encode(const Plan& plan) {
  json adds = json::array();
  for (const auto& a : plan.adds) adds.push_back({{"prompt", prompt_to_json(a.prompt)}, {"params", sampling_params_to_json(a.params)}});
  return json{{"first_id", plan.first_id}, {"adds", adds}, {"aborts", plan.aborts}, {"stop", plan.stop}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

Plan decode(const std::string& bytes) {
  const json j = json::parse(bytes);
  Plan plan;
  plan.first_id = j.at("first_id").get<int64_t>();
  for (const json& a : j.at("adds"))
    plan.adds.push_back({prompt_from_json(a.at("prompt")), sampling_params_from_json(a.at("params"))});
  plan.aborts = j.at("aborts").get<std::vector<int64_t>>();
  plan.stop = j.at("stop");
  return plan;
}

// What every rank does with a plan's adds: the request's id and, when it cannot run, its finished output.
AddedRequest add_to(LLMEngine& engine, const Plan::Add& a, std::optional<double> arrival_time = std::nullopt) {
  const int64_t id = engine.next_request_id();
  try {
    return engine.add_request(a.prompt, a.params, 0, arrival_time);
  } catch (const std::exception& e) {  // an id outside the vocabulary, say: that prompt alone fails
    AddedRequest failed{id, RequestOutput{}};
    failed.rejected->request_id = id;
    failed.rejected->finished = true;
    failed.rejected->error = e.what();
    return failed;
  }
}

// A steady-clock time point of this process on the engine's metrics clock (seconds since the epoch).
double arrival_time(std::chrono::steady_clock::time_point t) {
  return metrics_clock_now() - std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

void RequestStream::push(StreamEvent e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
  }
  cv_.notify_all();
}

std::optional<StreamEvent> RequestStream::next(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
  StreamEvent e = std::move(events_.front());
  events_.pop_front();
  return e;
}

struct EngineLoop::Pending {
  std::vector<Prompt> prompts;
  SamplingParams params;
  std::shared_ptr<RequestStream> stream;
  Clock::time_point arrival;
};

EngineLoop::EngineLoop(LLMEngine& engine, size_t max_waiting, Group* sync,
                       std::function<void(const std::string&)> on_fatal)
    : engine_(engine), max_waiting_(max_waiting), sync_(sync), on_fatal_(std::move(on_fatal)),
      thread_([this] { run(); }) {}

EngineLoop::~EngineLoop() { stop(); }

std::shared_ptr<RequestStream> EngineLoop::submit(std::vector<Prompt> prompts, const SamplingParams& params) {
  params.validate();
  if (prompts.empty()) throw std::invalid_argument("no prompt given");
  auto stream = std::make_shared<RequestStream>((int)prompts.size());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || incoming_.size() >= max_waiting_) return nullptr;
    incoming_.push_back(std::make_shared<Pending>(Pending{std::move(prompts), params, stream, Clock::now()}));
  }
  cv_.notify_all();
  return stream;
}

void EngineLoop::abort(const std::shared_ptr<RequestStream>& stream) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    aborts_.push_back(stream);
  }
  cv_.notify_all();
}

int64_t EngineLoop::num_queued() {
  std::lock_guard<std::mutex> lock(mu_);
  return (int64_t)incoming_.size();
}

EngineStats EngineLoop::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::vector<Metric> EngineLoop::request_metrics() const { return engine_.metrics().snapshot(); }

void EngineLoop::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EngineLoop::run() {
  struct Owner {
    std::shared_ptr<RequestStream> stream;
    int prompt_index;
    double arrival_time;  // when the HTTP call submitted it (the engine's metrics clock): latencies count from it
  };
  std::map<int64_t, Owner> owners;  // engine request id -> who receives its events
  auto fail_all = [&](const std::string& why) {
    for (auto& [id, owner] : owners) owner.stream->push(StreamEvent{owner.prompt_index, std::nullopt, std::nullopt, why});
    for (auto& [id, owner] : owners) engine_.abort_request(id);
    owners.clear();
    unfinished_ = 0;
  };
  auto publish_stats = [&] {
    const EngineStats now = engine_.stats();
    std::lock_guard<std::mutex> lock(mu_);
    stats_ = now;
  };
  for (;;) {
    std::deque<std::shared_ptr<Pending>> incoming;
    std::vector<std::shared_ptr<RequestStream>> aborts;
    Plan plan;
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto ready = [&] { return stopping_ || !incoming_.empty() || !aborts_.empty() || !owners.empty(); };
      if (sync_) cv_.wait_for(lock, std::chrono::seconds(1), ready);  // followers hear from us at least each second
      else cv_.wait(lock, ready);
      incoming.swap(incoming_);
      aborts.swap(aborts_);
      plan.stop = stopping_;
    }
    // Decide: the new prompts (the engine numbers them from first_id on), ids of aborted streams.
    plan.first_id = engine_.next_request_id();
    std::vector<Owner> add_owner;
    for (const auto& p : incoming)
      for (size_t i = 0; i < p->prompts.size(); ++i) {
        plan.adds.push_back({p->prompts[i], p->params});
        add_owner.push_back(Owner{p->stream, (int)i, arrival_time(p->arrival)});
      }
    for (const auto& s : aborts)
      for (auto it = owners.begin(); it != owners.end();) {
        if (it->second.stream == s) {
          plan.aborts.push_back(it->first);  // the engine counts it as finished by "abort"
          it = owners.erase(it);
        } else {
          ++it;
        }
      }
    if (sync_) {
      try {
        std::string bytes = encode(plan);
        sync_->broadcast_bytes(bytes, 0);
      } catch (const std::exception& e) {
        const std::string why = std::string("the server lost a rank: ") + e.what();
        fail_all(why);
        for (const Owner& o : add_owner) o.stream->push(StreamEvent{o.prompt_index, std::nullopt, std::nullopt, why});
        {
          std::lock_guard<std::mutex> lock(mu_);
          stopping_ = true;
        }
        if (on_fatal_) on_fatal_(why);
        return;
      }
    }
    for (int64_t id : plan.aborts) engine_.abort_request(id);
    for (size_t k = 0; k < plan.adds.size(); ++k) {
      AddedRequest added = add_to(engine_, plan.adds[k], add_owner[k].arrival_time);
      if (added.rejected)
        add_owner[k].stream->push(StreamEvent{add_owner[k].prompt_index, std::nullopt, std::move(added.rejected), std::nullopt});
      else owners[added.request_id] = add_owner[k];
    }
    if (plan.stop) {
      fail_all("the server is shutting down");
      return;
    }
    unfinished_ = (int64_t)owners.size();
    if (owners.empty()) {  // aborts may have freed KV blocks: /metrics must not show them held
      publish_stats();
      continue;
    }
    std::vector<RequestDelta> deltas;
    std::vector<RequestOutput> finished;
    try {
      finished = engine_.step(&deltas);
    } catch (const std::exception& e) {  // every rank fails the same step: every waiting client gets the error
      fail_all(e.what());
      continue;
    }
    publish_stats();
    for (RequestDelta& d : deltas) {
      auto it = owners.find(d.request_id);
      if (it == owners.end()) continue;
      const Owner& o = it->second;
      o.stream->push(StreamEvent{o.prompt_index, std::move(d), std::nullopt, std::nullopt});
    }
    for (RequestOutput& o : finished) {
      auto it = owners.find(o.request_id);
      if (it == owners.end()) continue;
      const Owner owner = it->second;
      owners.erase(it);
      unfinished_ = (int64_t)owners.size();  // before the client can see its final output
      owner.stream->push(StreamEvent{owner.prompt_index, std::nullopt, std::move(o), std::nullopt});
    }
  }
}

void EngineLoop::follow(LLMEngine& engine, Group& sync) {
  std::set<int64_t> live;  // what the leader's `owners` holds, by id
  for (;;) {
    std::string bytes;
    sync.broadcast_bytes(bytes, 0);
    const Plan plan = decode(bytes);
    if (!plan.adds.empty() && plan.first_id != engine.next_request_id())
      fail("server follower: the leader numbers its next request ", plan.first_id, ", this rank's engine ",
           engine.next_request_id(), "; the ranks' engines have diverged");
    for (int64_t id : plan.aborts) {
      engine.abort_request(id);
      live.erase(id);
    }
    for (const Plan::Add& a : plan.adds) {
      const AddedRequest added = add_to(engine, a);
      if (!added.rejected) live.insert(added.request_id);
    }
    if (plan.stop) return;
    if (live.empty()) continue;
    try {
      for (const RequestOutput& o : engine.step()) live.erase(o.request_id);
    } catch (const std::exception&) {  // the leader failed the same step and aborted everything: so do we
      for (int64_t id : live) engine.abort_request(id);
      live.clear();
    }
  }
}

}  // namespace shardlm::server
