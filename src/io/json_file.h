// Reading JSON files (config.json, *.index.json, tokenizer files) with errors that name the file.
#pragma once
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace shardlm {

// Reads and parses `path`. `what` says what the file is for ("model config"), for messages:
//   model config: cannot read '/m/config.json': No such file or directory
//   model config: '/m/config.json' is not valid JSON: line 3, column 7: syntax error while parsing ...
nlohmann::json read_json_file(const std::string& path, const std::string& what);

// Parses JSON text held in memory (a safetensors header, say); `what` prefixes the error message, which
// gives the line and column of the parse error.
nlohmann::json parse_json_text(const char* text, size_t size, const std::string& what);

}  // namespace shardlm
