// Shared helpers for the tokenizer tests: loading each fixture tokenizer once and reading the
// golden.jsonl files produced by Hugging Face tokenizers 0.23.2.
#pragma once
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/fixtures.h"
#include "tokenizer/tokenizer.h"

namespace shardlm::testing {

struct GoldenCase {
  int index = 0;
  std::string text;
  std::vector<int32_t> ids_with_special;
  std::vector<int32_t> ids_no_special;
  std::string decoded;               // decode(ids_no_special, skip_special_tokens=false)
  std::string decoded_skip_special;  // decode(ids_with_special, skip_special_tokens=true)
  nlohmann::json raw;
};

// A tokenizer folder of the fixtures and its golden file.
struct GoldenFolder {
  std::string name;
  std::string dir;
  std::string golden_path;
};

inline std::vector<GoldenFolder> golden_folders() {
  std::vector<GoldenFolder> out;
  for (const char* name : {"opt", "gpt2", "llama2", "llama3", "qwen3", "mistral-v03"})
    out.push_back({name, tokenizer_dir(name), tokenizer_dir(name) + "/golden.jsonl"});
  out.push_back({"stories260K", model_dir("stories260K"), model_dir("stories260K") + "/tokenizer_golden.jsonl"});
  return out;
}

inline std::vector<GoldenCase> read_golden(const std::string& path) {
  std::ifstream in(path);
  std::vector<GoldenCase> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains("header")) continue;
    GoldenCase c;
    c.index = j["i"].get<int>();
    c.text = j["text"].get<std::string>();
    c.ids_with_special = j["tk_ids_with_special"].get<std::vector<int32_t>>();
    c.ids_no_special = j["tk_ids_no_special"].get<std::vector<int32_t>>();
    c.decoded = j["tk_decoded"].get<std::string>();
    c.decoded_skip_special = j["tk_decoded_skip_special"].get<std::string>();
    c.raw = std::move(j);
    cases.push_back(std::move(c));
  }
  return cases;
}

// Loading the 128k/151k vocabularies takes a moment; each folder is loaded once per test binary.
inline const Tokenizer& cached_tokenizer(const std::string& dir) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(dir);
  if (it == cache.end()) it = cache.emplace(dir, Tokenizer::from_dir(dir)).first;
  return *it->second;
}

}  // namespace shardlm::testing
