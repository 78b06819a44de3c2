// EngineLoop: the queue between HTTP threads and the engine thread (see engine_loop.h).
#include "server/engine_loop.h"

#include <map>

#include "engine/llm_engine.h"

namespace shardlm::server {

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
};

EngineLoop::EngineLoop(LLMEngine& engine, size_t max_waiting)
    : engine_(engine), max_waiting_(max_waiting), thread_([this] { run(); }) {}

EngineLoop::~EngineLoop() { stop(); }

std::shared_ptr<RequestStream> EngineLoop::submit(std::vector<Prompt> prompts, const SamplingParams& params) {
  params.validate();
  if (prompts.empty()) throw std::invalid_argument("no prompt given");
  auto stream = std::make_shared<RequestStream>((int)prompts.size());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || incoming_.size() >= max_waiting_) return nullptr;
    incoming_.push_back(std::make_shared<Pending>(Pending{std::move(prompts), params, stream}));
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

void EngineLoop::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EngineLoop::run() {
  struct Owner {
    std::shared_ptr<RequestStream> stream;
    int prompt_index;
  };
  std::map<std::string, Owner> owners;  // engine request id -> who receives its events
  auto abort_stream = [&](const std::shared_ptr<RequestStream>& s) {
    for (auto it = owners.begin(); it != owners.end();) {
      if (it->second.stream == s) {
        engine_.abort_request(it->first);
        it = owners.erase(it);
      } else {
        ++it;
      }
    }
  };
  for (;;) {
    std::deque<std::shared_ptr<Pending>> incoming;
    std::vector<std::shared_ptr<RequestStream>> aborts;
    bool stopping = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !incoming_.empty() || !aborts_.empty() || !owners.empty(); });
      incoming.swap(incoming_);
      aborts.swap(aborts_);
      stopping = stopping_;
    }
    for (const auto& s : aborts) abort_stream(s);
    for (const auto& p : incoming) {
      for (size_t i = 0; i < p->prompts.size(); ++i) {
        const std::string id = "req-" + std::to_string(next_id_++);
        try {
          std::optional<RequestOutput> rejected = engine_.add_request(id, p->prompts[i], p->params);
          if (rejected) p->stream->push(StreamEvent{(int)i, std::nullopt, std::move(rejected), std::nullopt});
          else owners[id] = Owner{p->stream, (int)i};
        } catch (const std::exception& e) {  // an id outside the vocabulary, say: that prompt alone fails
          RequestOutput failed;
          failed.request_id = id;
          failed.finished = true;
          failed.error = e.what();
          p->stream->push(StreamEvent{(int)i, std::nullopt, std::move(failed), std::nullopt});
        }
      }
    }
    if (stopping) {
      for (auto& [id, owner] : owners) {
        engine_.abort_request(id);
        owner.stream->push(StreamEvent{owner.prompt_index, std::nullopt, std::nullopt, "the server is shutting down"});
      }
      owners.clear();
      unfinished_ = 0;
      return;
    }
    unfinished_ = (int64_t)owners.size();
    if (owners.empty()) continue;
    std::vector<RequestDelta> deltas;
    std::vector<RequestOutput> finished;
    try {
      finished = engine_.step(&deltas);
    } catch (const std::exception& e) {  // nothing can go on: every waiting client gets the error
      for (auto& [id, owner] : owners) owner.stream->push(StreamEvent{owner.prompt_index, std::nullopt, std::nullopt, e.what()});
      for (auto& [id, owner] : owners) engine_.abort_request(id);
      owners.clear();
      continue;
    }
    {
      const EngineStats now = engine_.stats();
      std::lock_guard<std::mutex> lock(mu_);
      stats_ = now;
    }
    for (RequestDelta& d : deltas) {
      auto it = owners.find(d.request_id);
      if (it != owners.end()) it->second.stream->push(StreamEvent{it->second.prompt_index, std::move(d), std::nullopt, std::nullopt});
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

}  // namespace shardlm::server
