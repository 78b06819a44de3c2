// Random-weight checkpoints of real shapes, with a byte-level BPE tokenizer covering the whole vocabulary.
#include "models/make_model.h"

#include <climits>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "core/error.h"
#include "io/safetensors_writer.h"
#include "layers/fp8_linear.h"

namespace shardlm {

namespace {

struct Shape {
  std::string arch;  // "opt" or "llama"
  int64_t hidden, layers, heads, kv_heads, ffn, vocab, max_pos;
  std::string dtype;
  bool tied;
  double rope_theta = 10000.0;
  bool llama3_rope = false;
};

const std::map<std::string, std::pair<Shape, std::string>>& presets() {
  static const std::map<std::string, std::pair<Shape, std::string>> p = {
      {"opt-125m", {{"opt", 768, 12, 12, 12, 3072, 50272, 2048, "float16", true}, "facebook/opt-125m's shape"}},
      {"opt-tiny", {{"opt", 64, 2, 4, 4, 256, 50272, 512, "float16", true}, "a tiny OPT for tests"}},
      {"llama-125m",
       {{"llama", 768, 12, 12, 12, 2048, 32000, 2048, "float16", false}, "a Llama of opt-125m's size (CPU benchmark)"}},
      {"llama-tiny", {{"llama", 64, 2, 4, 2, 160, 32000, 512, "float16", false}, "a tiny Llama with GQA for tests"}},
      {"llama-3-8b",
       {{"llama", 4096, 32, 32, 8, 14336, 128256, 8192, "bfloat16", false, 500000.0, true}, "Llama 3 8B's shape"}},
  };
  return p;
}

// Deterministic N(0, std) values from (seed, tensor, index): the same checkpoint on every machine.
inline uint64_t splitmix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline float normal_value(uint64_t key, int64_t index, float stddev) {
  uint64_t r = splitmix(key ^ splitmix((uint64_t)index));
  double u1 = ((r >> 11) + 1.0) / 9007199254740993.0;  // (0, 1]
  double u2 = (double)(splitmix(r) >> 11) / 9007199254740992.0;
  return (float)(std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * M_PI * u2)) * stddev;
}

std::function<void(void*, int64_t, int64_t)> normal_fill(DType dt, uint64_t key, float stddev) {
  return [dt, key, stddev](void* dst, int64_t off, int64_t n) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      float v = normal_value(key, off + i, stddev);
      if (dt == DType::F32) static_cast<float*>(dst)[i] = v;
      else if (dt == DType::F16) static_cast<uint16_t*>(dst)[i] = f32_to_f16(v);
      else static_cast<uint16_t*>(dst)[i] = f32_to_bf16(v);
    }
  };
}

std::function<void(void*, int64_t, int64_t)> const_fill(DType dt, float value) {
  return [dt, value](void* dst, int64_t, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      if (dt == DType::F32) static_cast<float*>(dst)[i] = value;
      else if (dt == DType::F16) static_cast<uint16_t*>(dst)[i] = f32_to_f16(value);
      else static_cast<uint16_t*>(dst)[i] = f32_to_bf16(value);
    }
  };
}

// One linear weight in FP8: the floating checkpoint's values (normal_fill's, rounded to its dtype), quantised
// once when the weight or its scale is first written; the bytes are dropped after the weight's last chunk.
struct Fp8LinearWeight {
  DType dt;
  uint64_t key;
  float stddev;
  int64_t N, K;
  Fp8WeightScales scales;
  int64_t block;
  bool ready = false;
  std::vector<uint8_t> q;
  std::vector<float> scale;

  void compute() {
    if (ready) return;
    std::vector<float> w((size_t)(N * K));
    std::vector<uint8_t> stored((size_t)(N * K) * dtype_size(dt));
    normal_fill(dt, key, stddev)(stored.data(), 0, N * K);
    convert_to_f32(stored.data(), dt, w.data(), w.size());
    q.resize(w.size());
    quantize_fp8_weight(w.data(), N, K, scales, block, block, q.data(), scale);
    if (scales == Fp8WeightScales::PerTensor) scale.resize(1);
    ready = true;
  }
};

// quantization_config of an FP8 checkpoint with these weight scales.
nlohmann::ordered_json fp8_quantization_config(Fp8WeightScales scales, int64_t block) {
  if (scales == Fp8WeightScales::Block)
    return {{"quant_method", "fp8"}, {"activation_scheme", "dynamic"}, {"fmt", "e4m3"},
            {"weight_block_size", {block, block}}};
  auto args = [](const char* strategy, bool dynamic) {
    return nlohmann::ordered_json{{"num_bits", 8}, {"type", "float"}, {"symmetric", true}, {"strategy", strategy},
                                  {"dynamic", dynamic}, {"group_size", nullptr}};
  };
  return {{"quant_method", "compressed-tensors"},
          {"format", "float-quantized"},
          {"quantization_status", "compressed"},
          {"config_groups",
           {{"group_0",
             {{"targets", {"Linear"}},
              {"weights", args(scales == Fp8WeightScales::PerTensor ? "tensor" : "channel", false)},
              {"input_activations", args("token", true)},
              {"output_activations", nullptr}}}}},
          {"ignore", {"lm_head"}},
          {"kv_cache_scheme", nullptr}};
}

// GPT-2's byte -> printable unicode map (bytes that are printable stay, others shift to U+0100...).
std::vector<std::string> byte_level_alphabet() {
  std::vector<int> printable;
  for (int b = '!'; b <= '~'; ++b) printable.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) printable.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) printable.push_back(b);
  std::vector<int> cp(256, -1);
  for (int b : printable) cp[(size_t)b] = b;
  int next = 256;
  for (int b = 0; b < 256; ++b)
    if (cp[(size_t)b] < 0) cp[(size_t)b] = next++;
  std::vector<std::string> out(256);
  for (int b = 0; b < 256; ++b) {
    uint32_t c = (uint32_t)cp[(size_t)b];
    std::string s;
    if (c < 0x80) s.push_back((char)c);
    else {
      s.push_back((char)(0xC0 | (c >> 6)));
      s.push_back((char)(0x80 | (c & 0x3F)));
    }
    out[(size_t)b] = s;
  }
  return out;
}

// A byte-level BPE tokenizer.json whose vocabulary fills `vocab` ids: specials, the 256 bytes, then merges of
// pairs of frequent characters (letters, and letters after a space) until the vocabulary is full.
nlohmann::ordered_json make_tokenizer_json(const Shape& s, const std::vector<std::string>& specials, int bos_id,
                                           bool add_bos) {
  std::vector<std::string> bytes = byte_level_alphabet();
  nlohmann::json vocab = nlohmann::json::object();  // std::map: ordered_json would make this O(n^2)
  std::set<std::string> seen;
  int next = 0;
  for (const auto& sp : specials) {
    vocab[sp] = next++;
    seen.insert(sp);
  }
  for (const auto& b : bytes) {
    vocab[b] = next++;
    seen.insert(b);
  }
  std::vector<std::string> units;  // merge operands: letters, digits, then "Ġ" + letter
  for (char c = 'a'; c <= 'z'; ++c) units.push_back(std::string(1, c));
  for (char c = 'A'; c <= 'Z'; ++c) units.push_back(std::string(1, c));
  for (char c = '0'; c <= '9'; ++c) units.push_back(std::string(1, c));
  nlohmann::ordered_json merges = nlohmann::ordered_json::array();
  const std::string space = bytes[' '];
  std::vector<std::string> level = units;
  // First "Ġ" + unit, then unit + unit, then longer combinations, until the vocabulary is full.
  auto add_merge = [&](const std::string& a, const std::string& b) {
    if (next >= s.vocab) return false;
    std::string t = a + b;
    if (seen.count(t)) return true;
    seen.insert(t);
    vocab[t] = next++;
    merges.push_back(a + " " + b);
    return true;
  };
  for (const auto& u : units) add_merge(space, u);
  for (const auto& u : units) level.push_back(space + u);
  for (size_t round = 0; next < s.vocab && round < 4; ++round) {
    std::vector<std::string> produced;
    for (const auto& a : level) {
      for (const auto& u : units) {
        if (next >= s.vocab) break;
        if (add_merge(a, u)) produced.push_back(a + u);
      }
    }
    level = produced;
  }
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  for (size_t i = 0; i < specials.size(); ++i)
    added.push_back({{"id", (int)i}, {"content", specials[i]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  nlohmann::ordered_json post = nullptr;
  if (add_bos) {
    post = {{"type", "TemplateProcessing"},
            {"single", {{{"SpecialToken", {{"id", specials[(size_t)bos_id]}, {"type_id", 0}}}},
                        {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
            {"pair", {{{"SpecialToken", {{"id", specials[(size_t)bos_id]}, {"type_id", 0}}}},
                      {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                      {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
            {"special_tokens", {{specials[(size_t)bos_id], {{"id", specials[(size_t)bos_id]}, {"ids", {bos_id}}, {"tokens", {specials[(size_t)bos_id]}}}}}}};
  }
  nlohmann::ordered_json tok = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor", post},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                 {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
                 {"ignore_merges", false}, {"vocab", vocab}, {"merges", merges}}}};
  return tok;
}

// The preset's value, or the override after checking it is positive and at most `max` (Error naming `flag`).
int64_t shape_value(const std::optional<int64_t>& override_value, int64_t preset_value, const char* flag, int64_t max,
                    const char* why_max) {
  if (!override_value) return preset_value;
  if (*override_value <= 0) fail(flag, " must be a positive integer, got ", *override_value);
  if (*override_value > max) fail(flag, " ", *override_value, " is larger than ", max, " (", why_max, ")");
  return *override_value;
}

std::string gib(uint64_t bytes) { return str_fixed((double)bytes / double(uint64_t{1} << 30), 2) + " GiB"; }

// Bytes of the tensors' data, or nullopt when the sum does not fit 64 bits.
std::optional<uint64_t> weight_bytes(const std::vector<TensorToWrite>& tensors) {
  uint64_t total = 0;
  for (const TensorToWrite& t : tensors) {
    uint64_t n = dtype_size(t.dtype);
    for (int64_t d : t.shape)
      if (__builtin_mul_overflow(n, (uint64_t)d, &n)) return std::nullopt;
    if (__builtin_add_overflow(total, n, &total)) return std::nullopt;
  }
  return total;
}

// Error unless the folder's file system has `needed` bytes free, counting a model.safetensors that the
// write will replace as free.
void check_free_space(const std::filesystem::path& dir, uint64_t needed) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::space_info space = fs::space(dir, ec);
  if (ec) fail("cannot find the free disk space in '", dir.string(), "': ", ec.message());
  uint64_t available = space.available;
  const fs::path old_weights = dir / "model.safetensors";
  if (fs::is_regular_file(old_weights, ec)) {
    const uintmax_t old_bytes = fs::file_size(old_weights, ec);
    if (!ec) available += old_bytes;
  }
  if (needed > available)
    fail("not enough free disk space in '", dir.string(), "': the checkpoint needs ", gib(needed), " (", needed,
         " bytes) but ", gib(available), " are available");
}

void write_json(const std::filesystem::path& p, const nlohmann::ordered_json& j) {
  std::ofstream f(p);
  if (!f) fail("cannot write '", p.string(), "'");
  f << j.dump(2) << "\n";
}

}  // namespace

std::vector<ModelPreset> model_presets() {
  std::vector<ModelPreset> out;
  for (const auto& [name, v] : presets())
    out.push_back({name, v.first.arch == "opt" ? "OPTForCausalLM" : "LlamaForCausalLM", v.second});
  return out;
}

void make_random_model(const MakeModelOptions& opts) {
  auto it = presets().find(opts.preset);
  if (it == presets().end()) {
    std::string names;
    for (const auto& p : model_presets()) names += (names.empty() ? "" : ", ") + p.name;
    fail("unknown preset '", opts.preset, "' (known: ", names, ")");
  }
  Shape s = it->second.first;
  if (!opts.dtype.empty()) s.dtype = dtype_name(parse_dtype(opts.dtype, "--dtype"));
  const int64_t kInt32 = INT32_MAX;
  const char* kConfigInt = "config.json sizes are 32-bit";
  s.layers = shape_value(opts.num_layers, s.layers, "--num-layers", kMakeModelMaxLayers, "make-model's limit");
  s.max_pos = shape_value(opts.max_position_embeddings, s.max_pos, "--max-position-embeddings", kInt32, kConfigInt);
  s.hidden = shape_value(opts.hidden_size, s.hidden, "--hidden-size", kInt32, kConfigInt);
  s.heads = shape_value(opts.num_heads, s.heads, "--num-heads", kInt32, kConfigInt);
  if (opts.num_heads) s.kv_heads = s.heads;  // MHA unless --num-kv-heads says otherwise
  s.kv_heads = shape_value(opts.num_kv_heads, s.kv_heads, "--num-kv-heads", kInt32, kConfigInt);
  s.ffn = shape_value(opts.ffn_dim, s.ffn, "--ffn-dim", kInt32, kConfigInt);
  s.vocab = shape_value(opts.vocab_size, s.vocab, "--vocab-size", kMakeModelMaxVocab,
                        "make-model's limit: its tokenizer is built in memory");
  if (s.hidden % s.heads != 0) fail("hidden size ", s.hidden, " is not divisible by the head count ", s.heads);
  if (s.heads % s.kv_heads != 0) fail("head count ", s.heads, " is not divisible by the KV head count ", s.kv_heads);
  if (s.vocab < 300) fail("vocab size must be at least 300 (specials, 256 bytes, merges)");
  const DType dt = parse_dtype(s.dtype, "dtype");
  namespace fs = std::filesystem;
  fs::path dir(opts.out_dir);
  std::error_code ec;

  bool fp8 = false;
  Fp8WeightScales fp8_scales = Fp8WeightScales::PerTensor;
  if (!opts.quantization.empty()) {
    if (opts.quantization != "fp8") fail("--quantization must be fp8, got '", opts.quantization, "'");
    fp8 = true;
    if (opts.fp8_weight_scales == "tensor") fp8_scales = Fp8WeightScales::PerTensor;
    else if (opts.fp8_weight_scales == "channel") fp8_scales = Fp8WeightScales::PerChannel;
    else if (opts.fp8_weight_scales == "block") fp8_scales = Fp8WeightScales::Block;
    else fail("--fp8-weight-scales must be tensor, channel or block, got '", opts.fp8_weight_scales, "'");
    if (opts.fp8_block_size < 1) fail("--fp8-block-size must be positive, got ", opts.fp8_block_size);
  }
  std::vector<TensorToWrite> t;
  uint64_t key = splitmix(opts.seed + 1);
  auto normal = [&](const std::string& name, std::vector<int64_t> shape, float stddev = 0.02f) {
    key = splitmix(key);
    t.push_back({name, dt, std::move(shape), normal_fill(dt, key, stddev)});
  };
  // A linear layer's weight `<module>.weight` [N, K]: floating, or FP8 with its scale tensor.
  auto linear = [&](const std::string& module, int64_t N, int64_t K) {
    if (!fp8) return normal(module + ".weight", {N, K});
    key = splitmix(key);
    auto w = std::make_shared<Fp8LinearWeight>(
        Fp8LinearWeight{dt, key, 0.02f, N, K, fp8_scales, (int64_t)opts.fp8_block_size});
    t.push_back({module + ".weight", DType::F8E4M3, {N, K}, [w](void* dst, int64_t off, int64_t n) {
                   w->compute();
                   std::memcpy(dst, w->q.data() + off, (size_t)n);
                   if (off + n == w->N * w->K) std::vector<uint8_t>().swap(w->q);
                 }});
    std::vector<int64_t> sshape = fp8_scales == Fp8WeightScales::PerTensor    ? std::vector<int64_t>{1}
                                  : fp8_scales == Fp8WeightScales::PerChannel ? std::vector<int64_t>{N, 1}
                                  : std::vector<int64_t>{(N + opts.fp8_block_size - 1) / opts.fp8_block_size,
                                                         (K + opts.fp8_block_size - 1) / opts.fp8_block_size};
    const char* sname = fp8_scales == Fp8WeightScales::Block ? ".weight_scale_inv" : ".weight_scale";
    t.push_back({module + sname, DType::F32, sshape, [w](void* dst, int64_t off, int64_t n) {
                   w->compute();
                   std::memcpy(dst, w->scale.data() + off, (size_t)n * sizeof(float));
                 }});
  };
  auto ones = [&](const std::string& name, int64_t n) { t.push_back({name, dt, {n}, const_fill(dt, 1.f)}); };
  auto zeros = [&](const std::string& name, int64_t n) { t.push_back({name, dt, {n}, const_fill(dt, 0.f)}); };

  nlohmann::ordered_json cfg;
  std::vector<std::string> specials;
  int bos = 0, eos = 0, pad = 0;
  const int64_t H = s.hidden, D = s.hidden / s.heads;
  if (s.arch == "opt") {
    specials = {"<s>", "<pad>", "</s>", "<unk>"};
    bos = 2, eos = 2, pad = 1;  // OPT prepends </s>
    const std::string p = "model.decoder.";
    normal(p + "embed_tokens.weight", {s.vocab, H});
    normal(p + "embed_positions.weight", {s.max_pos + 2, H});
    ones(p + "final_layer_norm.weight", H);
    zeros(p + "final_layer_norm.bias", H);
    for (int64_t l = 0; l < s.layers; ++l) {
      const std::string lp = p + "layers." + std::to_string(l) + ".";
      for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
        linear(lp + "self_attn." + proj, H, H);
        zeros(lp + "self_attn." + proj + ".bias", H);
      }
      ones(lp + "self_attn_layer_norm.weight", H);
      zeros(lp + "self_attn_layer_norm.bias", H);
      linear(lp + "fc1", s.ffn, H);
      zeros(lp + "fc1.bias", s.ffn);
      linear(lp + "fc2", H, s.ffn);
      zeros(lp + "fc2.bias", H);
      ones(lp + "final_layer_norm.weight", H);
      zeros(lp + "final_layer_norm.bias", H);
    }
    cfg = {{"architectures", {"OPTForCausalLM"}}, {"model_type", "opt"}, {"activation_function", "relu"},
           {"bos_token_id", bos}, {"eos_token_id", eos}, {"pad_token_id", pad}, {"do_layer_norm_before", true},
           {"enable_bias", true}, {"ffn_dim", s.ffn}, {"hidden_size", H}, {"word_embed_proj_dim", H},
           {"layer_norm_elementwise_affine", true}, {"max_position_embeddings", s.max_pos},
           {"num_attention_heads", s.heads}, {"num_hidden_layers", s.layers}, {"vocab_size", s.vocab},
           {"tie_word_embeddings", true}, {"torch_dtype", s.dtype}};
  } else {
    specials = {"<unk>", "<s>", "</s>"};
    bos = 1, eos = 2;
    normal("model.embed_tokens.weight", {s.vocab, H});
    for (int64_t l = 0; l < s.layers; ++l) {
      const std::string lp = "model.layers." + std::to_string(l) + ".";
      linear(lp + "self_attn.q_proj", s.heads * D, H);
      linear(lp + "self_attn.k_proj", s.kv_heads * D, H);
      linear(lp + "self_attn.v_proj", s.kv_heads * D, H);
      linear(lp + "self_attn.o_proj", H, s.heads * D);
      linear(lp + "mlp.gate_proj", s.ffn, H);
      linear(lp + "mlp.up_proj", s.ffn, H);
      linear(lp + "mlp.down_proj", H, s.ffn);
      ones(lp + "input_layernorm.weight", H);
      ones(lp + "post_attention_layernorm.weight", H);
    }
    ones("model.norm.weight", H);
    if (!s.tied) normal("lm_head.weight", {s.vocab, H});
    nlohmann::ordered_json rope = {{"rope_type", "default"}, {"rope_theta", s.rope_theta}};
    if (s.llama3_rope)
      rope = {{"rope_type", "llama3"}, {"rope_theta", s.rope_theta}, {"factor", 8.0}, {"low_freq_factor", 1.0},
              {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
    cfg = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_act", "silu"},
           {"bos_token_id", bos}, {"eos_token_id", eos}, {"hidden_size", H}, {"intermediate_size", s.ffn},
           {"head_dim", D}, {"max_position_embeddings", s.max_pos}, {"num_attention_heads", s.heads},
           {"num_hidden_layers", s.layers}, {"num_key_value_heads", s.kv_heads}, {"rms_norm_eps", 1e-5},
           {"rope_parameters", rope}, {"tie_word_embeddings", s.tied}, {"vocab_size", s.vocab},
           {"attention_bias", false}, {"mlp_bias", false}, {"dtype", s.dtype}};
  }
  // Size checks before anything is written: the bound (unless --force), then the free space.
  const std::optional<uint64_t> bytes = weight_bytes(t);
  if (!bytes)
    fail("make-model: the weights of this shape (hidden size ", s.hidden, ", ", s.layers, " layers, MLP width ", s.ffn,
         ", vocabulary ", s.vocab, ") would take more than 2^64 bytes; nothing was written");
  if (*bytes > kMakeModelMaxBytesWithoutForce && !opts.force)
    fail("make-model: the weights would take ", gib(*bytes), " (", *bytes, " bytes of ", s.dtype,
         ": hidden size ", s.hidden, ", ", s.layers, " layers, MLP width ", s.ffn, ", vocabulary ", s.vocab,
         "), more than the ", gib(kMakeModelMaxBytesWithoutForce),
         " written without --force; check the sizes, or pass --force to write it anyway");
  fs::create_directories(dir, ec);
  if (ec) fail("cannot create '", opts.out_dir, "': ", ec.message());
  // Beside the weights: the safetensors header (~100 bytes a tensor), the tokenizer (a vocabulary entry and a
  // merge, ~64 bytes each) and the small JSON files.
  const uint64_t other_bytes = t.size() * 128 + (uint64_t)s.vocab * 64 + (uint64_t{1} << 20);
  check_free_space(dir, *bytes + other_bytes);

  if (fp8) cfg["quantization_config"] = fp8_quantization_config(fp8_scales, opts.fp8_block_size);
  write_json(dir / "config.json", cfg);
  write_json(dir / "generation_config.json", {{"bos_token_id", bos}, {"eos_token_id", eos}});
  write_json(dir / "tokenizer.json", make_tokenizer_json(s, specials, bos, true));
  write_json(dir / "tokenizer_config.json",
             {{"add_bos_token", true}, {"bos_token", specials[(size_t)bos]}, {"eos_token", specials[(size_t)eos]},
              {"model_max_length", s.max_pos}, {"tokenizer_class", "PreTrainedTokenizerFast"}});
  write_safetensors((dir / "model.safetensors").string(), t,
                    {{"format", "pt"}, {"shardlm_preset", opts.preset}, {"seed", std::to_string(opts.seed)}});
}

}  // namespace shardlm
