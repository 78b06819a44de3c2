// Tokenizer::from_dir: picks the reader for the files a model folder has (see tokenizer.h).
#include "tokenizer/tokenizer.h"

#include <filesystem>

#include "core/error.h"
#include "tokenizer/gpt2_files.h"
#include "tokenizer/sentencepiece_model.h"
#include "tokenizer/tokenizer_json.h"

namespace shardlm {

std::unique_ptr<Tokenizer> Tokenizer::from_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) fail(dir, ": tokenizer folder does not exist or is not a directory");
  if (fs::exists(dir + "/tokenizer.json")) return load_tokenizer_json(dir);
  const bool have_vocab = fs::exists(dir + "/vocab.json");
  const bool have_merges = fs::exists(dir + "/merges.txt");
  if (have_vocab && have_merges) return load_gpt2_files(dir);
  if (fs::exists(dir + "/tokenizer.model")) return load_sentencepiece_model(dir);
  if (have_vocab != have_merges)
    fail(dir, ": found ", have_vocab ? "vocab.json" : "merges.txt", " without ", have_vocab ? "merges.txt" : "vocab.json",
         "; a byte-level BPE tokenizer needs both");
  fail(dir, ": no tokenizer files found (looked for tokenizer.json, vocab.json + merges.txt, tokenizer.model)");
}

}  // namespace shardlm
