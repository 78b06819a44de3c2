// Fuzz target: tokenizer.json (model, vocab, merges, added tokens, normalizer, pre-tokenizer regexes,
// post-processor, decoder), then a round of encode and decode with what loaded.
#include "fuzz_input.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  shardlm::fuzz::write_input("tokenizer.json", data, size);
  return shardlm::fuzz::refuse_only_with_error([&] {
    auto tok = shardlm::Tokenizer::from_dir(shardlm::fuzz::scratch_dir().string());
    const std::vector<int32_t> ids = tok->encode("Hello, wörld! 123 <s> \xe2\x96\x81x\n\t  end");
    tok->decode(ids, false);
    tok->decode({0, 1, 2, 3, 100000, -1}, true);
  });
}
