// `shardlm bench serve`: vLLM's `vllm bench serve` against any OpenAI-compatible completions server (shardlm's
// or vLLM's): random token-id prompts sent at a request rate (Poisson arrivals, or all at once) under an
// optional concurrency limit, streamed; reports request and token throughput and TTFT / TPOT / ITL.
#if SHARDLM_HAVE_HTTPLIB
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "output_file.h"
#include "commands.h"
#include "core/error.h"

namespace shardlm::cli {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct ServeBenchFlags {
  std::string base_url = "http://127.0.0.1:8000", model, api_key, output_json;
  int num_prompts = 100, input_len = 128, output_len = 128, max_concurrency = 0, vocab_size = 5000;
  double request_rate = std::numeric_limits<double>::infinity();
  uint64_t seed = 0;
};

struct Result {
  bool ok = false;
  std::string error;
  double ttft = 0, e2e = 0;
  std::vector<double> itl;
  int64_t prompt_tokens = 0, output_tokens = 0;
};

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::unique_ptr<httplib::Client> client_for(const ServeBenchFlags& f) {
  auto c = std::make_unique<httplib::Client>(f.base_url);
  c->set_read_timeout(600, 0);
  c->set_connection_timeout(10, 0);
  if (!f.api_key.empty()) c->set_bearer_token_auth(f.api_key);
  return c;
}

Result one_request(const ServeBenchFlags& f, const std::string& model, const std::vector<int32_t>& prompt) {
  Result r;
  auto client = client_for(f);
  const json body = {{"model", model},       {"prompt", prompt},       {"max_tokens", f.output_len},
                     {"ignore_eos", true},   {"temperature", 0},       {"stream", true},
                     {"stream_options", {{"include_usage", true}}}};
  const auto start = Clock::now();
  auto last = start;
  bool first = true;
  std::string buffer;
  auto on_line = [&](const std::string& line) {
    if (line.rfind("data: ", 0) != 0) return;
    const std::string data = line.substr(6);
    if (data == "[DONE]") return;
    const json j = json::parse(data, nullptr, false);
    if (j.is_discarded()) return;
    if (j.contains("error")) {
      r.error = j["error"].value("message", "error");
      return;
    }
    if (j.contains("usage") && j["usage"].is_object()) {
      r.prompt_tokens = j["usage"].value("prompt_tokens", 0);
      r.output_tokens = j["usage"].value("completion_tokens", 0);
    }
    if (!j.contains("choices") || j["choices"].empty()) return;
    const auto now = Clock::now();
    if (first) {
      r.ttft = ms(now - start);
      first = false;
    } else {
      r.itl.push_back(ms(now - last));
    }
    last = now;
  };
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.headers = {{"Content-Type", "application/json"}};
  if (!f.api_key.empty()) req.headers.emplace("Authorization", "Bearer " + f.api_key);
  req.body = body.dump();
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buffer.append(data, n);
    for (size_t pos; (pos = buffer.find('\n')) != std::string::npos;) {
      on_line(buffer.substr(0, pos));
      buffer.erase(0, pos + 1);
    }
    return true;
  };
  auto res = client->send(req);
  r.e2e = ms(Clock::now() - start);
  if (!res) {
    r.error = "connection failed: " + httplib::to_string(res.error());
  } else if (res->status != 200) {
    const json j = json::parse(res->body, nullptr, false);
    r.error = "HTTP " + std::to_string(res->status) + ": " +
              (j.is_object() && j.contains("error") ? j["error"].value("message", res->body) : res->body);
  } else if (r.error.empty()) {
    r.ok = r.output_tokens > 0;
    if (!r.ok) r.error = "no usage in the stream";
  }
  return r;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double idx = p / 100.0 * (double)(v.size() - 1);
  const size_t lo = (size_t)idx, hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (idx - (double)lo);
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / (double)v.size();
}

int run(ServeBenchFlags& f) {
  if (f.num_prompts < 1 || f.input_len < 1 || f.output_len < 1 || f.vocab_size < 2)
    throw std::invalid_argument("bench serve: --num-prompts, --input-len, --output-len must be >= 1, --vocab-size >= 2");
  if (!(f.request_rate > 0)) throw std::invalid_argument("bench serve: --request-rate must be positive (inf: all at once)");
  // Opened before the run, so an unwritable path fails at once; every write and the close are checked.
  OutputFile json_out = f.output_json.empty() ? OutputFile() : OutputFile(f.output_json, "--output-json");
  std::string model = f.model;
  if (model.empty()) {  // the server's first model, as vLLM's benchmark does
    auto res = client_for(f)->Get("/v1/models");
    if (!res || res->status != 200) fail("bench serve: GET ", f.base_url, "/v1/models failed; is the server up?");
    model = json::parse(res->body).at("data").at(0).at("id").get<std::string>();
  }
  std::mt19937_64 rng(f.seed);
  std::vector<std::vector<int32_t>> prompts((size_t)f.num_prompts);
  std::uniform_int_distribution<int32_t> token(1, f.vocab_size - 1);
  for (auto& p : prompts)
    for (int i = 0; i < f.input_len; ++i) p.push_back(token(rng));
  std::exponential_distribution<double> gap(std::isinf(f.request_rate) ? 1.0 : f.request_rate);

  std::vector<Result> results(prompts.size());
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  auto next_arrival = start;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (!std::isinf(f.request_rate)) {
      next_arrival += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(gap(rng)));
      std::this_thread::sleep_until(next_arrival);
    }
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return f.max_concurrency <= 0 || in_flight < f.max_concurrency; });
      ++in_flight;
    }
    threads.emplace_back([&, i] {
      results[i] = one_request(f, model, prompts[i]);
      std::lock_guard<std::mutex> lock(mu);
      --in_flight;
      cv.notify_all();
    });
  }
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();

  int completed = 0;
  int64_t in_tok = 0, out_tok = 0;
  std::vector<double> ttft, tpot, itl, e2e;
  std::string first_error;
  for (const Result& r : results) {
    if (!r.ok) {
      if (first_error.empty()) first_error = r.error;
      continue;
    }
    ++completed;
    in_tok += r.prompt_tokens;
    out_tok += r.output_tokens;
    ttft.push_back(r.ttft);
    e2e.push_back(r.e2e);
    if (r.output_tokens > 1) tpot.push_back((r.e2e - r.ttft) / (double)(r.output_tokens - 1));
    itl.insert(itl.end(), r.itl.begin(), r.itl.end());
  }
  std::printf("============ Serving Benchmark Result ============\n");
  std::printf("%-40s %d\n%-40s %d\n", "Successful requests:", completed, "Failed requests:", f.num_prompts - completed);
  if (!first_error.empty()) std::printf("%-40s %s\n", "First error:", first_error.c_str());
  std::printf("%-40s %.2f\n", "Benchmark duration (s):", secs);
  std::printf("%-40s %lld\n%-40s %lld\n", "Total input tokens:", (long long)in_tok, "Total generated tokens:",
              (long long)out_tok);
  std::printf("%-40s %.2f\n%-40s %.2f\n%-40s %.2f\n", "Request throughput (req/s):", completed / secs,
              "Output token throughput (tok/s):", out_tok / secs, "Total Token throughput (tok/s):",
              (in_tok + out_tok) / secs);
  json metrics = {{"duration", secs},
                  {"completed", completed},
                  {"failed", f.num_prompts - completed},
                  {"total_input_tokens", in_tok},
                  {"total_output_tokens", out_tok},
                  {"request_throughput", completed / secs},
                  {"output_throughput", out_tok / secs},
                  {"total_token_throughput", (in_tok + out_tok) / secs}};
  for (const auto& [name, v] : std::vector<std::pair<std::string, const std::vector<double>*>>{
           {"ttft", &ttft}, {"tpot", &tpot}, {"itl", &itl}, {"e2el", &e2e}}) {
    std::printf("%-40s %.2f\n%-40s %.2f\n%-40s %.2f\n", ("Mean " + name + " (ms):").c_str(), mean(*v),
                ("Median " + name + " (ms):").c_str(), percentile(*v, 50), ("P99 " + name + " (ms):").c_str(),
                percentile(*v, 99));
    metrics["mean_" + name + "_ms"] = mean(*v);
    metrics["median_" + name + "_ms"] = percentile(*v, 50);
    metrics["p99_" + name + "_ms"] = percentile(*v, 99);
  }
  std::printf("==================================================\n");
  json_out.write(metrics.dump(2) + "\n");
  json_out.close();
  return completed == f.num_prompts ? 0 : 1;
}

}  // namespace

std::function<int()> add_bench_serve(CLI::App* bench) {
  auto f = std::make_shared<ServeBenchFlags>();
  CLI::App* s = bench->add_subcommand("serve", "load an OpenAI-compatible server; TTFT, TPOT, ITL, throughput");
  s->add_option("--base-url", f->base_url, "the server")->capture_default_str();
  s->add_option("--model", f->model, "the served model name (default: the server's first)");
  s->add_option("--api-key", f->api_key, "sent as 'Authorization: Bearer KEY'");
  s->add_option("--num-prompts", f->num_prompts)->capture_default_str();
  s->add_option("--input-len", f->input_len, "prompt tokens (random ids)")->capture_default_str();
  s->add_option("--output-len", f->output_len, "tokens generated per request (ignore_eos)")->capture_default_str();
  s->add_option("--vocab-size", f->vocab_size, "random prompt ids are below this")->capture_default_str();
  s->add_option("--request-rate", f->request_rate, "requests per second, Poisson arrivals (inf: all at once)");
  s->add_option("--max-concurrency", f->max_concurrency, "requests in flight at most (0: no limit)")->capture_default_str();
  s->add_option("--seed", f->seed, "random prompt and arrival seed")->capture_default_str();
  s->add_option("--output-json", f->output_json, "write the metrics as JSON");
  return [f, s] { return s->parsed() ? run(*f) : -1; };
}

}  // namespace shardlm::cli
#else  // built without cpp-httplib: the command exists and says what is missing
#include "commands.h"
#include "core/error.h"

namespace shardlm::cli {

std::function<int()> add_bench_serve(CLI::App* bench) {
  CLI::App* s = bench->add_subcommand("serve", "(not built: needs libcpp-httplib-dev)");
  s->allow_extras();
  return [] () -> int {
    fail("shardlm bench serve: this build has no HTTP library; install libcpp-httplib-dev (scripts/setup.sh) and rebuild");
  };
}

}  // namespace shardlm::cli
#endif
