// `shardlm serve MODEL`: an OpenAI-compatible HTTP server (cpp-httplib from Debian: header-only, threads per
// connection, chunked responses for server-sent events). HTTP threads parse and answer; one engine thread
// (server/engine_loop.h) batches every connection's requests. Under a launcher with several ranks (tensor
// parallelism), rank 0 serves and leads; the other ranks follow its broadcast decisions and serve nothing. Without
// a launcher, --tensor-parallel-size N starts ranks 1..N-1 itself (api/self_launch.h), which follow alike.
#if SHARDLM_HAVE_HTTPLIB
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <chrono>
#include <cstdio>
#include <thread>

#include "commands.h"
#include "core/error.h"
#include "api/self_launch.h"
#include "engine/llm_engine.h"
#include "engine_options.h"
#include "io/json_file.h"
#include "server/engine_loop.h"
#include "server/openai_api.h"
#include "server/response_builder.h"
#include "shardlm/version.h"

namespace shardlm::cli {

namespace {

using nlohmann::json;
using server::ApiError;

struct ServeFlags {
  EngineFlags engine;
  std::string model_tag, host = "127.0.0.1", api_key, served_model_name;
  int port = 8000;
  size_t max_waiting = 4096;
  size_t max_body_bytes = 32u << 20;
};

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, const ApiError& e) { send_json(res, e.status, server::error_body(e)); }

int g_stop_pipe[2] = {-1, -1};
void on_stop_signal(int) {
  const char c = 's';
  if (write(g_stop_pipe[1], &c, 1) < 0) {
  }
}

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// One streamed response: what the chunked-content provider needs between its calls.
struct StreamState {
  std::shared_ptr<server::RequestStream> events;
  std::optional<server::StreamEvent> first;  // taken before the response started
  server::ResponseBuilder builder;
};

int run_serve(ServeFlags& f) {
  if (!f.model_tag.empty()) f.engine.args.model = f.model_tag;
  if (f.engine.args.model.empty()) throw std::invalid_argument("serve: give the model (shardlm serve MODEL)");
  f.engine.args.usage_context = UsageContext::OpenAIServer;
  // With --tensor-parallel-size N and no launcher the LLM starts ranks 1..N-1 itself (as `vllm serve -tp N`);
  // they then follow this rank's engine loop exactly as a launcher's ranks do (see below).
  LLM llm(f.engine.args);
  if (llm.data_parallel_size() > 1)
    fail("serve: data parallelism (", llm.data_parallel_size(), " replicas) is not supported by the server; "
         "launch tensor_parallel_size ranks");
  Group world_cpu = llm.world_group().cpu_group;
  if (pipe(g_stop_pipe) != 0) fail("serve: pipe: ", std::strerror(errno));
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  if (llm.rank() != 0) {
    // A follower: the leader (rank 0) decides when to stop; a signal here is only noted.
    server::EngineLoop::follow(llm.engine(), world_cpu);
    return 0;
  }
  if (SelfLaunch* workers = llm.self_launch()) workers->send_follow();  // they run EngineLoop::follow too
  const std::string model_name = f.served_model_name.empty() ? f.engine.args.model : f.served_model_name;
  std::atomic<bool> fatal{false};
  server::EngineLoop loop(llm.engine(), f.max_waiting, llm.world_size() > 1 ? &world_cpu : nullptr,
                          [&](const std::string& why) {
                            std::fprintf(stderr, "shardlm serve: %s\n", why.c_str());
                            fatal = true;
                            on_stop_signal(0);
                          });
  std::atomic<int64_t> next_id{0};

  httplib::Server svr;
  // A thread per connection (a streaming request holds one while it runs): enough for hundreds of concurrent
  // streams; more wait in the pool's queue.
  svr.new_task_queue = [] { return new httplib::ThreadPool(1024); };
  // The library listens with a backlog of 5, compiled in: hundreds of clients connecting at once would see
  // resets. Keep the listening socket to raise the backlog after bind (listen() again changes it on Linux).
  int listen_fd = -1;
  svr.set_socket_options([&listen_fd](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);  // the library's default option
    listen_fd = sock;
  });
  svr.set_payload_max_length(f.max_body_bytes);
  svr.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
    if (f.api_key.empty() || req.path.rfind("/v1/", 0) != 0) return httplib::Server::HandlerResponse::Unhandled;
    if (req.get_header_value("Authorization") == "Bearer " + f.api_key) return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, ApiError{401, "invalid API key", ""});
    return httplib::Server::HandlerResponse::Handled;
  });
  svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) send_error(res, ApiError{404, "no such route", ""});
    else if (res.status == 413) send_error(res, ApiError{413, "the request body is too large", ""});
  });
  svr.Get("/health", [](const httplib::Request&, httplib::Response& res) { res.status = 200; });
  svr.Get("/version", [](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, {{"version", shardlm::version()}});  // vLLM's: the package's version
  });
  svr.Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200,
              {{"object", "list"},
               {"data", {{{"id", model_name}, {"object", "model"}, {"created", now_seconds()}, {"owned_by", "shardlm"},
                          {"root", f.engine.args.model}, {"max_model_len", llm.max_model_len()}}}}});
  });
  // Prometheus text format, vLLM's metric names under the shardlm: prefix.
  svr.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    const EngineStats st = loop.stats();
    std::string m;
    auto gauge = [&](const char* name, const char* help, const char* type, double v) {
      m += str_cat("# HELP shardlm:", name, " ", help, "\n# TYPE shardlm:", name, " ", type, "\nshardlm:", name,
                   "{model_name=\"", model_name, "\"} ", v, "\n");
    };
    gauge("num_requests_running", "Requests in the engine (running or waiting for KV blocks).", "gauge",
          (double)loop.num_unfinished());
    gauge("num_requests_waiting", "Requests received, not yet handed to the engine.", "gauge", (double)loop.num_queued());
    gauge("kv_cache_usage_perc", "KV-cache usage: 1 means every block is held by a request.", "gauge",
          st.kv_cache_usage);
    gauge("prompt_tokens_total", "Prompt tokens processed.", "counter", (double)st.prompt_tokens);
    gauge("generation_tokens_total", "Tokens generated.", "counter", (double)st.generated_tokens);
    gauge("num_preemptions_total", "Requests preempted (recomputed later).", "counter", (double)st.num_preemptions);
    gauge("prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.", "counter",
          (double)st.prefix_cache_queries_tokens);
    gauge("prefix_cache_hits_total", "Prompt tokens found in the prefix cache.", "counter",
          (double)st.prefix_cache_hits_tokens);
    m += server::prometheus_text(loop.request_metrics(), "model_name=\"" + model_name + "\"");
    res.set_content(m, "text/plain; version=0.0.4");
  });
  // vLLM's /tokenize and /detokenize (the tokenizer is immutable after loading: safe from HTTP threads).
  auto body_of = [](const httplib::Request& req) {
    try {
      json j = parse_json_text(req.body.data(), req.body.size(), "request body");
      if (!j.is_object()) throw ApiError{400, "the request body must be a JSON object", ""};
      return j;
    } catch (const Error& e) {
      throw ApiError{400, e.what(), ""};
    }
  };
  auto check_model = [&](const json& j) {
    if (j.contains("model") && !j["model"].is_null() && j["model"] != model_name)
      throw ApiError{404, "The model '" + json_excerpt(j["model"]) + "' does not exist", "model"};
  };
  svr.Post("/tokenize", [&](const httplib::Request& req, httplib::Response& res) {
    try {
      const json j = body_of(req);
      check_model(j);
      if (!j.contains("prompt") || !j["prompt"].is_string()) throw ApiError{400, "'prompt' (a string) is required", "prompt"};
      const json add = j.value("add_special_tokens", json(true));
      if (!add.is_boolean()) throw ApiError{400, "'add_special_tokens' must be true or false", "add_special_tokens"};
      const std::vector<int32_t> ids = llm.encode(j["prompt"].get<std::string>(), add.get<bool>());
      send_json(res, 200, {{"tokens", ids}, {"count", ids.size()}, {"max_model_len", llm.max_model_len()}});
    } catch (const ApiError& e) {
      send_error(res, e);
    }
  });
  svr.Post("/detokenize", [&](const httplib::Request& req, httplib::Response& res) {
    try {
      const json j = body_of(req);
      check_model(j);
      if (!j.contains("tokens") || !j["tokens"].is_array()) throw ApiError{400, "'tokens' (a list of ids) is required", "tokens"};
      std::vector<int32_t> ids;
      for (const json& t : j["tokens"]) {
        if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= llm.vocab_size())
          throw ApiError{400, "token id " + json_excerpt(t) + " is outside the vocabulary", "tokens"};
        ids.push_back((int32_t)t.get<int64_t>());
      }
      send_json(res, 200, {{"prompt", llm.decode(ids, true)}});
    } catch (const ApiError& e) {
      send_error(res, e);
    }
  });
  // Runs one request's prompts through the engine loop and answers: one JSON body, or server-sent events.
  auto answer = [&](httplib::Response& res, const server::ApiRequest& req, std::vector<Prompt> prompts,
                    server::ResponseOptions opts) {
    if (req.model != model_name)
      return send_error(res, ApiError{404, "The model '" + req.model + "' does not exist (this server has '" +
                                               model_name + "')", "model"});
    const int num_prompts = (int)prompts.size();
    std::shared_ptr<server::RequestStream> events;
    try {
      events = loop.submit(std::move(prompts), req.params);
    } catch (const std::invalid_argument& e) {
      return send_error(res, ApiError{400, e.what(), ""});
    }
    if (!events) return send_error(res, ApiError{503, "the server's request queue is full; retry later", ""});
    opts.id += std::to_string(next_id++);
    opts.model = model_name;
    opts.created = now_seconds();
    opts.n = req.params.n;
    opts.logprobs = req.params.logprobs;
    if (req.prompt_logprobs) opts.prompt_logprobs = req.params.prompt_logprobs;
    opts.include_usage = req.include_usage;
    auto st = std::make_shared<StreamState>(StreamState{
        events, std::nullopt,
        server::ResponseBuilder(std::move(opts), num_prompts, [&llm](int32_t id) { return llm.decode({id}, false); })});
    // Wait for the first event: a prompt rejected at once (too long) is an HTTP 400, streaming or not.
    while (!st->first) st->first = events->next(std::chrono::milliseconds(100));
    if (st->first->final && st->first->final->error) {
      loop.abort(events);
      return send_error(res, ApiError{400, *st->first->final->error, "prompt"});
    }
    if (st->first->failure) return send_error(res, ApiError{500, *st->first->failure, ""});
    if (!req.stream) {
      std::optional<server::StreamEvent> e = std::move(st->first);
      for (;;) {
        if (std::optional<ApiError> err = st->builder.add(*e)) {
          loop.abort(events);
          return send_error(res, *err);
        }
        if (st->builder.done()) break;
        do e = events->next(std::chrono::milliseconds(100));
        while (!e);
      }
      return send_json(res, 200, st->builder.response());
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [st, &loop](size_t, httplib::DataSink& sink) {
          std::string out;
          if (st->first) {
            out = st->builder.sse(*st->first);
            st->first.reset();
          } else {
            std::optional<server::StreamEvent> e;
            while (!e) {
              if (!sink.is_writable()) {  // the client went away: its requests stop and free their blocks
                loop.abort(st->events);
                return false;
              }
              e = st->events->next(std::chrono::milliseconds(50));
            }
            out = st->builder.sse(*e);
          }
          if (!out.empty() && !sink.write(out.data(), out.size())) {
            loop.abort(st->events);
            return false;
          }
          if (st->builder.done()) sink.done();
          return true;
        },
        [st, &loop](bool success) {
          if (!success || !st->builder.done()) loop.abort(st->events);
        });
  };
  svr.Post("/v1/completions", [&](const httplib::Request& http_req, httplib::Response& res) {
    server::CompletionRequest req;
    try {
      req = server::parse_completion_request(http_req.body, llm.default_sampling_params());
    } catch (const ApiError& e) {
      return send_error(res, e);
    }
    server::ResponseOptions opts;
    opts.kind = server::ApiKind::Completion;
    opts.id = "cmpl-";
    if (req.echo)
      for (const Prompt& p : req.prompts) opts.echo.push_back(p.token_ids ? llm.decode(*p.token_ids, false) : p.text);
    opts.echo_logprobs = req.echo && req.params.logprobs.has_value();
    answer(res, req, req.prompts, std::move(opts));
  });

  svr.Post("/v1/chat/completions", [&](const httplib::Request& http_req, httplib::Response& res) {
    server::ChatRequest req;
    std::vector<Prompt> prompts;
    try {
      req = server::parse_chat_request(http_req.body, llm.default_sampling_params());
      ChatOptions chat;
      chat.chat_template = req.chat_template;
      chat.add_generation_prompt = req.add_generation_prompt;
      chat.continue_final_message = req.continue_final_message;
      if (!req.tools.is_null()) chat.tools_json = req.tools.dump();
      if (!req.template_kwargs.is_null()) chat.template_kwargs_json = req.template_kwargs.dump();
      // The template writes the special tokens, so none are added (vLLM's add_special_tokens=False for chat).
      prompts.push_back(Prompt::from_token_ids(llm.encode(llm.apply_chat_template(req.messages.dump(), chat), false)));
    } catch (const ApiError& e) {
      return send_error(res, e);
    } catch (const std::invalid_argument& e) {
      return send_error(res, ApiError{400, e.what(), "messages"});
    }
    server::ResponseOptions opts;
    opts.kind = server::ApiKind::Chat;
    opts.id = "chatcmpl-";
    answer(res, req, std::move(prompts), std::move(opts));
  });

  // SIGINT/SIGTERM: the handler (any thread may take the signal) writes to a pipe; a watcher thread stops the
  // server, whose listen() then returns; in-flight requests are aborted and the exit status is 0 (1 when a
  // rank was lost).
  std::thread signals([&] {
    char c;
    while (read(g_stop_pipe[0], &c, 1) < 0 && errno == EINTR) {
    }
    svr.stop();
  });
  auto stop_watcher = [&] {
    const char c = 'q';
    if (write(g_stop_pipe[1], &c, 1) < 0) {
    }
    signals.join();
  };
  if (!svr.bind_to_port(f.host.c_str(), f.port)) {
    stop_watcher();
    fail("serve: cannot listen on ", f.host, ":", f.port, " (in use, or not an address of this host)");
  }
  if (listen_fd >= 0) ::listen(listen_fd, 4096);
  std::fprintf(stderr, "shardlm serve: %s on http://%s:%d (POST /v1/completions, /v1/chat/completions, GET /v1/models, /health)\n",
               model_name.c_str(), f.host.c_str(), f.port);
  svr.listen_after_bind();
  loop.stop();  // in-flight requests are aborted; followers are told to stop
  stop_watcher();
  return fatal ? 1 : 0;
}

}  // namespace

std::function<int()> add_serve_command(CLI::App& app) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* sub = app.add_subcommand("serve", "OpenAI-compatible HTTP server: /v1/completions, /v1/chat/completions, /v1/models, /health");
  sub->add_option("model_tag", f->model_tag, "the model (same as --model)");
  add_engine_flags(sub, f->engine, false);
  sub->add_option("--host", f->host, "address to listen on")->capture_default_str();
  sub->add_option("--port", f->port, "port to listen on")->capture_default_str()->check(CLI::Range(1, 65535));
  sub->add_option("--api-key", f->api_key, "require 'Authorization: Bearer KEY' on /v1/ routes");
  sub->add_option("--served-model-name", f->served_model_name, "the model's name in the API (default: --model)");
  sub->add_option("--max-waiting-requests", f->max_waiting, "requests queued before HTTP 503")->capture_default_str();
  return [f] { return run_serve(*f); };
}

}  // namespace shardlm::cli
#else  // built without cpp-httplib: the command exists and says what is missing
#include "commands.h"
#include "core/error.h"

namespace shardlm::cli {

std::function<int()> add_serve_command(CLI::App& app) {
  CLI::App* s = app.add_subcommand("serve", "(not built: needs libcpp-httplib-dev)");
  s->allow_extras();
  return [] () -> int {
    fail("shardlm serve: this build has no HTTP library; install libcpp-httplib-dev (scripts/setup.sh) and rebuild");
  };
}

}  // namespace shardlm::cli
#endif
