// Output formatting.
#include "output_format.h"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace shardlm {

std::string python_repr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos, has_double = s.find('"') != std::string::npos;
  const char q = has_single && !has_double ? '"' : '\'';
  std::string out(1, q);
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\\') out += "\\\\";
    else if (c == (unsigned char)q) out += std::string("\\") + (char)q;
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out.push_back((char)c);
    }
  }
  out.push_back(q);
  return out;
}

std::string request_output_to_json(const RequestOutput& o) {
  nlohmann::ordered_json j;
  j["request_id"] = std::to_string(o.request_id);  // a string, as vLLM's
  j["prompt"] = o.prompt;
  j["prompt_token_ids"] = o.prompt_token_ids;
  auto logprob_maps = [](const std::vector<std::map<int32_t, float>>& maps, bool first_is_null) {
    nlohmann::ordered_json lps = nlohmann::ordered_json::array();
    for (size_t i = 0; i < maps.size(); ++i) {
      if (i == 0 && first_is_null) {
        lps.push_back(nullptr);
        continue;
      }
      nlohmann::ordered_json e = nlohmann::ordered_json::object();
      for (const auto& [id, lp] : maps[i]) e[std::to_string(id)] = lp;
      lps.push_back(e);
    }
    return lps;
  };
  if (o.prompt_logprobs) {
    j["prompt_logprobs"] = logprob_maps(*o.prompt_logprobs, true);
    j["prompt_token_ranks"] = o.prompt_token_ranks;
  } else {
    j["prompt_logprobs"] = nullptr;
  }
  j["num_cached_tokens"] = o.num_cached_tokens;
  nlohmann::ordered_json outs = nlohmann::ordered_json::array();
  for (const auto& c : o.outputs) {
    nlohmann::ordered_json co;
    co["index"] = c.index;
    co["text"] = c.text;
    co["token_ids"] = c.token_ids;
    co["cumulative_logprob"] = c.cumulative_logprob;
    if (c.logprobs) {
      co["logprobs"] = logprob_maps(*c.logprobs, false);
      co["sampled_token_ranks"] = c.sampled_token_ranks;
    } else {
      co["logprobs"] = nullptr;
    }
    co["finish_reason"] = c.finish_reason;
    if (c.stop_reason_str) co["stop_reason"] = *c.stop_reason_str;
    else if (c.stop_reason_token) co["stop_reason"] = *c.stop_reason_token;
    else co["stop_reason"] = nullptr;
    outs.push_back(co);
  }
  j["outputs"] = outs;
  j["finished"] = o.finished;
  if (o.error) j["error"] = *o.error;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string substitute_rank(const std::string& path, int rank) {
  std::string out = path;
  const std::string key = "{rank}";
  for (size_t pos = out.find(key); pos != std::string::npos; pos = out.find(key, pos))
    out.replace(pos, key.size(), std::to_string(rank));
  return out;
}

}  // namespace shardlm
