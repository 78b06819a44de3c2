// Response bodies and chunks (see response_builder.h), in the shapes vLLM's server writes: completions'
// logprobs are {tokens, token_logprobs, top_logprobs, text_offset} with offsets in characters; chat's are
// {content: [{token, logprob, bytes, top_logprobs}]}; -inf log-probabilities are written as -9999.0 (JSON has no
// infinity), as vLLM does.
#include "server/response_builder.h"

#include <algorithm>

namespace shardlm::server {

using nlohmann::json;

namespace {

int64_t characters(const std::string& s) {  // Python's len() of the decoded text
  return std::count_if(s.begin(), s.end(), [](char c) { return ((unsigned char)c & 0xC0) != 0x80; });
}

double finite(float lp) { return std::max<double>(lp, -9999.0); }

json bytes_of(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back((int)c);
  return b;
}

json or_null(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

json stop_reason(const CompletionOutput& c) {
  if (c.stop_reason_str) return *c.stop_reason_str;
  if (c.stop_reason_token) return *c.stop_reason_token;
  return nullptr;
}

}  // namespace

ResponseBuilder::ResponseBuilder(ResponseOptions options, int num_prompts, TokenText token_text)
    : o_(std::move(options)), token_text_(std::move(token_text)), finals_((size_t)num_prompts),
      prompt_lp_((size_t)num_prompts), choices_((size_t)num_prompts * (size_t)o_.n) {
  // With echo_logprobs the offsets count the prompt's tokens from 0 instead.
  for (size_t p = 0; !o_.echo_logprobs && p < o_.echo.size() && p < (size_t)num_prompts; ++p)
    for (int s = 0; s < o_.n; ++s) choices_[(size_t)choice_index((int)p, s, o_.n)].text_offset = characters(o_.echo[p]);
}

json ResponseBuilder::envelope(const char* object) const {
  return {{"id", o_.id}, {"object", object}, {"created", o_.created}, {"model", o_.model}};
}

json ResponseBuilder::usage() const {
  int64_t prompt = 0, completion = 0;
  for (const RequestOutput& r : finals_) {
    prompt += (int64_t)r.prompt_token_ids.size();
    for (const CompletionOutput& c : r.outputs) completion += (int64_t)c.token_ids.size();
  }
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

json ResponseBuilder::logprobs_json(ChoiceState& c, const std::vector<int32_t>& ids,
                                    const std::vector<std::map<int32_t, float>>& maps,
                                    std::optional<PromptPart> prompt) const {
  if (!o_.logprobs || (maps.empty() && !prompt)) return nullptr;
  const size_t n = std::min(ids.size(), maps.size());
  if (o_.kind == ApiKind::Chat) {
    json content = json::array();
    for (size_t i = 0; i < n; ++i) {
      const std::string tok = token_text_(ids[i]);
      const auto it = maps[i].find(ids[i]);
      std::vector<std::pair<int32_t, float>> ranked(maps[i].begin(), maps[i].end());
      std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
      json top = json::array();
      for (size_t k = 0; k < ranked.size() && (int)k < *o_.logprobs; ++k) {
        const std::string t = token_text_(ranked[k].first);
        top.push_back({{"token", t}, {"logprob", finite(ranked[k].second)}, {"bytes", bytes_of(t)}});
      }
      content.push_back({{"token", tok},
                         {"logprob", it == maps[i].end() ? json(nullptr) : json(finite(it->second))},
                         {"bytes", bytes_of(tok)},
                         {"top_logprobs", top}});
    }
    return {{"content", content}};
  }
  json tokens = json::array(), token_logprobs = json::array(), top = json::array(), offsets = json::array();
  if (prompt) {
    const size_t np = std::min(prompt->ids->size(), prompt->maps->size());
    for (size_t i = 0; i < np; ++i) {
      const int32_t id = (*prompt->ids)[i];
      const std::map<int32_t, float>& m = (*prompt->maps)[i];
      const std::string tok = token_text_(id);
      tokens.push_back(tok);
      const auto it = m.find(id);
      token_logprobs.push_back(i == 0 || it == m.end() ? json(nullptr) : json(finite(it->second)));
      json entries = json::object();
      for (const auto& [tid, lp] : m) entries[token_text_(tid)] = finite(lp);
      top.push_back(i == 0 ? json(nullptr) : entries);
      offsets.push_back(c.text_offset);
      c.text_offset += characters(tok);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const std::string tok = token_text_(ids[i]);
    const auto it = maps[i].find(ids[i]);
    tokens.push_back(tok);
    token_logprobs.push_back(it == maps[i].end() ? json(nullptr) : json(finite(it->second)));
    json entries = json::object();
    for (const auto& [id, lp] : maps[i]) entries[token_text_(id)] = finite(lp);
    top.push_back(entries);
    offsets.push_back(c.text_offset);
    c.text_offset += characters(tok);
  }
  return {{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top}, {"text_offset", offsets}};
}

json ResponseBuilder::prompt_logprobs_json(const RequestOutput& r) const {
  if (!r.prompt_logprobs) return nullptr;
  json out = json::array();
  const std::vector<std::map<int32_t, float>>& maps = *r.prompt_logprobs;
  for (size_t i = 0; i < maps.size(); ++i) {
    if (i == 0) {
      out.push_back(nullptr);
      continue;
    }
    const int32_t token = r.prompt_token_ids[i];
    // The top N are ranked 1..N by probability (ties: lower id first); the prompt token, when it is not one
    // of them, has its true rank.
    std::vector<std::pair<int32_t, float>> ranked(maps[i].begin(), maps[i].end());
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    const bool extra = o_.prompt_logprobs && *o_.prompt_logprobs >= 0 && (size_t)*o_.prompt_logprobs < ranked.size();
    json entries = json::object();
    int position = 0;
    for (const auto& [id, lp] : ranked) {
      const int rank = extra && id == token ? r.prompt_token_ranks[i] : ++position;
      entries[std::to_string(id)] = {{"logprob", finite(lp)}, {"rank", rank}, {"decoded_token", token_text_(id)}};
    }
    out.push_back(entries);
  }
  return out;
}

json ResponseBuilder::chunk(int choice, const std::string& text, const json& logprobs, const std::string& finish_reason,
                            bool first) const {
  json c = {{"index", choice}};
  if (o_.kind == ApiKind::Chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (first || !text.empty()) delta["content"] = text;
    c["delta"] = delta;
  } else {
    c["text"] = text;
  }
  c["logprobs"] = logprobs;
  c["finish_reason"] = or_null(finish_reason);
  json j = envelope(o_.kind == ApiKind::Chat ? "chat.completion.chunk" : "text_completion");
  j["choices"] = json::array({c});
  return j;
}

bool ResponseBuilder::take_final(const StreamEvent& e) {
  finals_[(size_t)e.prompt_index] = *e.final;
  if (++finished_ == (int)finals_.size()) done_ = true;
  return done_;
}

static std::string sse_line(const json& j) {
  return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

std::string ResponseBuilder::sse(const StreamEvent& e) {
  std::string out;
  if (e.failure) {
    done_ = true;
    return sse_line(error_body(ApiError{500, *e.failure, ""}));
  }
  if (e.delta && e.delta->prompt_logprobs)
    prompt_lp_[(size_t)e.prompt_index].emplace(e.delta->prompt_token_ids, *e.delta->prompt_logprobs);
  if (e.delta)
    for (const SequenceDelta& s : e.delta->sequences) {
      const int index = choice_index(e.prompt_index, s.index, o_.n);
      ChoiceState& c = choices_[(size_t)index];
      const bool first = !c.started;
      std::string text = s.text;
      const bool echo = first && o_.kind == ApiKind::Completion && (size_t)e.prompt_index < o_.echo.size();
      if (echo) text = o_.echo[(size_t)e.prompt_index] + text;
      std::optional<PromptPart> prompt;
      if (echo && o_.echo_logprobs && prompt_lp_[(size_t)e.prompt_index]) {
        const auto& pl = *prompt_lp_[(size_t)e.prompt_index];
        prompt = PromptPart{&pl.first, &pl.second};
      }
      const bool carries = !text.empty() || !s.finish_reason.empty() || (o_.logprobs && !s.token_ids.empty());
      if (!carries && !(first && o_.kind == ApiKind::Chat)) continue;  // chat opens each choice with its role
      c.started = true;
      out += sse_line(chunk(index, text, logprobs_json(c, s.token_ids, s.logprobs, prompt), s.finish_reason, first));
    }
  if (e.final) {
    if (e.final->error) out += sse_line(error_body(ApiError{400, *e.final->error, "prompt"}));
    if (take_final(e)) {
      if (o_.include_usage) {
        json u = envelope(o_.kind == ApiKind::Chat ? "chat.completion.chunk" : "text_completion");
        u["choices"] = json::array();
        u["usage"] = usage();
        out += sse_line(u);
      }
      out += "data: [DONE]\n\n";
    }
  }
  return out;
}

std::optional<ApiError> ResponseBuilder::add(const StreamEvent& e) {
  if (e.failure) {
    done_ = true;
    return ApiError{500, *e.failure, ""};
  }
  if (e.final) {
    if (e.final->error) return ApiError{400, *e.final->error, "prompt"};
    take_final(e);
  }
  return std::nullopt;
}

json ResponseBuilder::response() const {
  json choices = json::array();
  for (size_t p = 0; p < finals_.size(); ++p)
    for (const CompletionOutput& out : finals_[p].outputs) {
      const int index = choice_index((int)p, out.index, o_.n);
      ChoiceState c = choices_[(size_t)index];
      std::optional<PromptPart> prompt;
      if (o_.kind == ApiKind::Completion && o_.echo_logprobs && finals_[p].prompt_logprobs)
        prompt = PromptPart{&finals_[p].prompt_token_ids, &*finals_[p].prompt_logprobs};
      const json lp = out.logprobs ? logprobs_json(c, out.token_ids, *out.logprobs, prompt) : json(nullptr);
      json choice = {{"index", index}};
      if (o_.kind == ApiKind::Chat) {
        choice["message"] = {{"role", "assistant"}, {"content", out.text}};
      } else {
        choice["text"] = (p < o_.echo.size() ? o_.echo[p] : std::string()) + out.text;
      }
      choice["logprobs"] = lp;
      choice["finish_reason"] = or_null(out.finish_reason);
      choice["stop_reason"] = stop_reason(out);
      if (o_.kind == ApiKind::Completion && o_.prompt_logprobs) choice["prompt_logprobs"] = prompt_logprobs_json(finals_[p]);
      choices.push_back(choice);
    }
  json j = envelope(o_.kind == ApiKind::Chat ? "chat.completion" : "text_completion");
  j["choices"] = choices;
  if (o_.kind == ApiKind::Chat && o_.prompt_logprobs && !finals_.empty())
    j["prompt_logprobs"] = prompt_logprobs_json(finals_[0]);
  j["usage"] = usage();
  return j;
}

}  // namespace shardlm::server
