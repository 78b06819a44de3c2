// Reading JSON files (config.json, *.index.json, tokenizer files) with errors that name the file.
#pragma once
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace shardlm {

// Reads and parses `path`. `what` says what the file is for ("model config"), for messages:
//   model config: cannot open '/m/config.json': No such file or directory
//   model config: '/m/config.json' is a FIFO (named pipe), not a regular file   (refused without blocking)
//   model config: '/m/config.json' is not valid JSON: line 3, column 7: syntax error while parsing ...
nlohmann::json read_json_file(const std::string& path, const std::string& what);

// Parses JSON text held in memory (a safetensors header, say); `what` prefixes the error message, which
// gives the line and column of the parse error.
nlohmann::json parse_json_text(const char* text, size_t size, const std::string& what);

// The deepest nesting of arrays and objects parse_json_text accepts. nlohmann parses any depth, but printing
// or walking a value recurses once per level, so a few hundred kilobytes of "[[[[..." would overflow the
// stack; real configs and tokenizers nest fewer than ten levels.
constexpr int kMaxJsonDepth = 256;

// `value` for an error message: compact JSON cut to about `max_chars` characters, with the full size said
// when cut (a 10 MB bad value is not echoed whole).
std::string json_excerpt(const nlohmann::json& value, size_t max_chars = 120);

}  // namespace shardlm
