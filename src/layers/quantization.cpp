// quantization_config parsing (fp8 and compressed-tensors float8) and the `quantization` option.
#include "layers/quantization.h"

#include <regex>

#include "core/error.h"
#include "io/json_file.h"

namespace shardlm {

std::string fp8_weight_scales_name(Fp8WeightScales s) {
  switch (s) {
    case Fp8WeightScales::PerTensor: return "per-tensor";
    case Fp8WeightScales::PerChannel: return "per-channel";
    case Fp8WeightScales::Block: return "block";
  }
  return "?";
}

bool QuantConfig::quantizes(const std::string& module) const {
  if (!fp8) return false;
  for (const std::string& pattern : ignore) {
    if (pattern.rfind("re:", 0) == 0) {
      if (std::regex_match(module, std::regex(pattern.substr(3)))) return false;
    } else if (pattern == module) {
      return false;
    }
  }
  return true;
}

std::string QuantConfig::describe() const {
  if (!fp8) return "none";
  std::string s = std::string("fp8 (") + (serialized ? "checkpoint" : "quantised at load") + ", " +
                  fp8_weight_scales_name(weight_scales) + " weight scales";
  if (weight_scales == Fp8WeightScales::Block) s += " " + std::to_string(block_n) + "x" + std::to_string(block_k);
  return s + ", " + fp8_act_quant_name(act) + " activation scales)";
}

std::string parse_quantization_option(const std::string& value) {
  if (value.empty() || value == "none" || value == "None") return "";
  if (value == "fp8") return value;
  fail("quantization must be None or 'fp8', got '", value, "'");
}

namespace {

std::vector<std::string> string_list(const nlohmann::json& q, const char* key, const std::string& where) {
  std::vector<std::string> out;
  if (!q.contains(key) || q[key].is_null()) return out;
  if (!q[key].is_array()) fail(where, ": \"", key, "\" must be a list of module names, got ", json_excerpt(q[key]));
  for (const auto& v : q[key]) {
    if (!v.is_string()) fail(where, ": \"", key, "\" must hold strings, got ", json_excerpt(v));
    out.push_back(v.get<std::string>());
  }
  return out;
}

// A [bn, bk] block size, both positive.
void parse_block(const nlohmann::json& v, const std::string& where, QuantConfig& q) {
  if (!v.is_array() || v.size() != 2 || !v[0].is_number_integer() || !v[1].is_number_integer() ||
      v[0].get<int64_t>() < 1 || v[1].get<int64_t>() < 1)
    fail(where, " must be two positive integers [block_n, block_k], got ", json_excerpt(v));
  q.weight_scales = Fp8WeightScales::Block;
  q.block_n = v[0].get<int64_t>();
  q.block_k = v[1].get<int64_t>();
  q.weight_scale_name = "weight_scale_inv";
}

// quant_method "fp8": Hugging Face's FineGrainedFP8Config, or vLLM's per-tensor FP8 checkpoints.
QuantConfig parse_hf_fp8(const nlohmann::json& qc, const std::string& where) {
  QuantConfig q;
  q.fp8 = true;
  q.serialized = true;
  q.origin = where + " (quant_method fp8)";
  const std::string scheme = qc.contains("activation_scheme") && qc["activation_scheme"].is_string()
                                 ? qc["activation_scheme"].get<std::string>() : "dynamic";
  if (scheme != "dynamic" && scheme != "static")
    fail(where, ": activation_scheme '", scheme, "' is not supported (expected dynamic or static)");
  if (qc.contains("fmt") && qc["fmt"].is_string() && qc["fmt"].get<std::string>() != "e4m3")
    fail(where, ": fmt '", qc["fmt"].get<std::string>(), "' is not supported (only e4m3 FP8 weights)");
  if (qc.contains("weight_block_size") && !qc["weight_block_size"].is_null()) {
    parse_block(qc["weight_block_size"], where + ".weight_block_size", q);
    if (scheme != "dynamic")
      fail(where, ": block-quantised FP8 (weight_block_size) needs activation_scheme dynamic, got ", scheme);
    q.act = Fp8ActQuant::DynamicPerGroup;  // per token and block_k features, as vLLM and transformers do
  } else {
    q.weight_scales = Fp8WeightScales::PerTensor;
    q.act = scheme == "static" ? Fp8ActQuant::StaticPerTensor : Fp8ActQuant::DynamicPerToken;
  }
  for (const char* key : {"ignored_layers", "modules_to_not_convert"})
    for (auto& name : string_list(qc, key, where)) q.ignore.push_back(name);
  return q;
}

std::string field_string(const nlohmann::json& args, const char* key, const std::string& where) {
  if (!args.contains(key) || !args[key].is_string())
    fail(where, ".", key, " must be a string, got ", args.contains(key) ? json_excerpt(args[key]) : "nothing");
  return args[key].get<std::string>();
}

// compressed-tensors' QuantizationArgs of float8: num_bits 8, type float, symmetric.
void expect_float8(const nlohmann::json& args, const std::string& where) {
  if (!args.is_object()) fail(where, " must be an object, got ", json_excerpt(args));
  const std::string type = field_string(args, "type", where);
  const int64_t bits = args.value("num_bits", (int64_t)0);
  if (type != "float" || bits != 8)
    fail(where, " asks for ", bits, "-bit ", type, " quantisation; only 8-bit float (FP8) is supported");
  if (args.contains("symmetric") && args["symmetric"].is_boolean() && !args["symmetric"].get<bool>())
    fail(where, ": asymmetric FP8 quantisation is not supported");
}

bool is_dynamic(const nlohmann::json& args) {
  if (!args.contains("dynamic")) return false;
  if (args["dynamic"].is_boolean()) return args["dynamic"].get<bool>();
  return !args["dynamic"].is_null();  // "local" and the like: computed at run time
}

QuantConfig parse_compressed_tensors(const nlohmann::json& qc, const std::string& where) {
  QuantConfig q;
  q.fp8 = true;
  q.serialized = true;
  q.origin = where + " (compressed-tensors)";
  const std::string format = qc.contains("format") && qc["format"].is_string() ? qc["format"].get<std::string>() : "";
  if (format != "float-quantized" && format != "naive-quantized")
    fail(where, ": compressed-tensors format '", format,
         "' is not supported (only FP8 weights: float-quantized or naive-quantized)");
  if (!qc.contains("config_groups") || !qc["config_groups"].is_object() || qc["config_groups"].size() != 1)
    fail(where, ": compressed-tensors needs exactly one entry in config_groups (one scheme for every Linear), got ",
         qc.contains("config_groups") ? json_excerpt(qc["config_groups"]) : "none");
  const std::string group_name = qc["config_groups"].begin().key();
  const nlohmann::json& group = qc["config_groups"].begin().value();
  const std::string gw = where + ".config_groups." + group_name;
  bool targets_linear = false;
  for (const std::string& t : string_list(group, "targets", gw)) targets_linear |= t == "Linear";
  if (!targets_linear) fail(gw, ".targets must include \"Linear\"");

  if (!group.contains("weights") || group["weights"].is_null()) fail(gw, ".weights is missing");
  const nlohmann::json& w = group["weights"];
  expect_float8(w, gw + ".weights");
  if (is_dynamic(w)) fail(gw, ".weights: dynamic weight quantisation is not supported");
  const std::string ws = field_string(w, "strategy", gw + ".weights");
  if (ws == "tensor") {
    q.weight_scales = Fp8WeightScales::PerTensor;
  } else if (ws == "channel") {
    q.weight_scales = Fp8WeightScales::PerChannel;
  } else if (ws == "block") {
    if (!w.contains("block_structure")) fail(gw, ".weights: strategy block needs block_structure");
    parse_block(w["block_structure"], gw + ".weights.block_structure", q);
    q.weight_scale_name = "weight_scale";  // compressed-tensors' name for every strategy
  } else {
    fail(gw, ".weights.strategy '", ws, "' is not supported (expected tensor, channel or block)");
  }

  if (!group.contains("input_activations") || group["input_activations"].is_null())
    fail(gw, ".input_activations is null: weight-only FP8 (W8A16) is not supported, only W8A8 FP8");
  const nlohmann::json& a = group["input_activations"];
  expect_float8(a, gw + ".input_activations");
  const std::string as = field_string(a, "strategy", gw + ".input_activations");
  const bool dyn = is_dynamic(a);
  if (as == "token" && dyn) {
    q.act = Fp8ActQuant::DynamicPerToken;
  } else if (as == "tensor") {
    q.act = dyn ? Fp8ActQuant::DynamicPerTensor : Fp8ActQuant::StaticPerTensor;
  } else if (as == "group" && dyn && q.weight_scales == Fp8WeightScales::Block &&
             a.value("group_size", (int64_t)0) == q.block_k) {
    q.act = Fp8ActQuant::DynamicPerGroup;
  } else {
    fail(gw, ".input_activations: ", dyn ? "dynamic" : "static", " strategy '", as,
         "' is not supported (expected dynamic token, dynamic or static tensor, or dynamic group of the weight block "
         "width with block weights)");
  }
  if (group.contains("output_activations") && !group["output_activations"].is_null())
    fail(gw, ".output_activations: output quantisation is not supported");
  q.ignore = string_list(qc, "ignore", where);
  return q;
}

}  // namespace

QuantConfig resolve_quant_config(const nlohmann::json& config, const std::string& config_path,
                                 const std::string& user_option) {
  const std::string user = parse_quantization_option(user_option);
  const std::string where = config_path + " quantization_config";
  QuantConfig q;
  if (config.contains("quantization_config") && !config["quantization_config"].is_null()) {
    const nlohmann::json& qc = config["quantization_config"];
    if (!qc.is_object()) fail(where, " must be an object, got ", json_excerpt(qc));
    const std::string method = qc.contains("quant_method") && qc["quant_method"].is_string()
                                   ? qc["quant_method"].get<std::string>() : "";
    if (method == "fp8") {
      q = parse_hf_fp8(qc, where);
    } else if (method == "compressed-tensors") {
      q = parse_compressed_tensors(qc, where);
      if (!user.empty())
        fail("quantization='", user, "' does not match the checkpoint's quantization method 'compressed-tensors' (",
             where, "); leave quantization unset to load it as it is");
    } else {
      fail(where, ": quant_method '", method,
           "' is not supported (supported: fp8, and compressed-tensors with FP8 weights)");
    }
    return q;
  }
  if (user == "fp8") {
    // vLLM's online FP8: per-tensor weight scales, dynamic per-token activation scales on Hopper. The scale is
    // taken over each checkpoint tensor (vLLM: over the rank's fused shard), so every TP size and the
    // checkpoint `shardlm make-model --quantization fp8` writes from the same weights give the same model.
    q.fp8 = true;
    q.serialized = false;
    q.weight_scales = Fp8WeightScales::PerTensor;
    q.act = Fp8ActQuant::DynamicPerToken;
    q.origin = "quantization='fp8' (quantised at load)";
  }
  return q;
}

}  // namespace shardlm
