// Fuzz target: config-style JSON (config.json, index files, generation_config.json): nesting bounded, every
// message's excerpt of a bad value bounded.
#include "fuzz_input.h"
#include "io/json_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return shardlm::fuzz::refuse_only_with_error([&] {
    const nlohmann::json j = shardlm::parse_json_text(reinterpret_cast<const char*>(data), size, "fuzz.json");
    if (shardlm::json_excerpt(j).size() > 4096) __builtin_trap();  // messages quote values cut short
  });
}
