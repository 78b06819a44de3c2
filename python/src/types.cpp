// Plain data of the public C++ API as Python classes: EngineArgs, SamplingParams (with validate()), Prompt,
// CompletionOutput, RequestOutput, ParameterInfo. The `shardlm` package converts between these and its own
// vLLM-shaped classes; nothing here checks Python types beyond what pybind11 does.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <charconv>
#include <cstdlib>
#include <type_traits>

#include "bindings.h"
#include "shardlm/llm.h"

namespace py = pybind11;

namespace shardlm::python {

namespace {

void bind_engine_args(py::module_& m) {
  py::class_<EngineArgs>(m, "EngineArgs")
      .def(py::init<>())
      .def_readwrite("model", &EngineArgs::model)
      .def_readwrite("tokenizer", &EngineArgs::tokenizer)
      .def_readwrite("dtype", &EngineArgs::dtype)
      .def_readwrite("device", &EngineArgs::device)
      .def_readwrite("max_model_len", &EngineArgs::max_model_len)
      .def_readwrite("seed", &EngineArgs::seed)
      .def_readwrite("tensor_parallel_size", &EngineArgs::tensor_parallel_size)
      .def_readwrite("data_parallel_size", &EngineArgs::data_parallel_size)
      .def_readwrite("distributed_executor_backend", &EngineArgs::distributed_executor_backend)
      .def_readwrite("block_size", &EngineArgs::block_size)
      .def_readwrite("max_num_batched_tokens", &EngineArgs::max_num_batched_tokens)
      .def_readwrite("max_num_seqs", &EngineArgs::max_num_seqs)
      .def_readwrite("generation_config", &EngineArgs::generation_config)
      .def_readwrite("quantization", &EngineArgs::quantization)
      .def_readwrite("enable_prefix_caching", &EngineArgs::enable_prefix_caching)
      .def_readwrite("enable_chunked_prefill", &EngineArgs::enable_chunked_prefill)
      .def_readwrite("kv_cache_memory_bytes", &EngineArgs::kv_cache_memory_bytes)
      .def_readwrite("gpu_memory_utilization", &EngineArgs::gpu_memory_utilization)
      .def_readwrite("num_threads", &EngineArgs::num_threads)
      .def_readwrite("distributed_timeout_s", &EngineArgs::distributed_timeout_s)
      .def_readwrite("enforce_eager", &EngineArgs::enforce_eager)
      .def_readwrite("enable_sleep_mode", &EngineArgs::enable_sleep_mode)
      .def_readwrite("max_logprobs", &EngineArgs::max_logprobs)
      .def_readwrite("scheduling_policy", &EngineArgs::scheduling_policy);
}

// What Python needs to know of a field's C++ type to convert a value for it (python/shardlm/sampling_params.py).
template <class T>
struct FieldKind;
template <> struct FieldKind<int> { static constexpr const char* name = "int"; };
template <> struct FieldKind<float> { static constexpr const char* name = "float"; };
template <> struct FieldKind<bool> { static constexpr const char* name = "bool"; };
template <> struct FieldKind<std::optional<int>> { static constexpr const char* name = "optional_int"; };
template <> struct FieldKind<std::optional<int64_t>> { static constexpr const char* name = "optional_int64"; };
template <> struct FieldKind<std::vector<std::string>> { static constexpr const char* name = "str_list"; };
template <> struct FieldKind<std::vector<int32_t>> { static constexpr const char* name = "int_list"; };
template <> struct FieldKind<std::optional<std::vector<int32_t>>> { static constexpr const char* name = "optional_int_list"; };
template <> struct FieldKind<std::map<int32_t, float>> { static constexpr const char* name = "logit_bias"; };
template <> struct FieldKind<RequestOutputKind> { static constexpr const char* name = "output_kind"; };

// A float field read back as the shortest decimal that round-trips (0.7f reads 0.7, not 0.699999988...), so
// values the engine normalised or took from generation_config.json look as the user would write them.
double shortest(float v) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::strtod(std::string(buf, res.ptr).c_str(), nullptr);
}

void bind_sampling_params(py::module_& m) {
  py::class_<SamplingParams> cls(m, "SamplingParams");
  cls.def(py::init<>());
  py::list fields;
  SamplingParams::for_each_field([&](const char* name, auto member) {
    using T = std::remove_reference_t<decltype(std::declval<SamplingParams&>().*member)>;
    fields.append(py::make_tuple(name, FieldKind<T>::name));
    if constexpr (std::is_same_v<T, float>) {
      cls.def_property(name, [member](const SamplingParams& p) { return shortest(p.*member); },
                       [member](SamplingParams& p, float v) { p.*member = v; });
    } else if constexpr (std::is_same_v<T, RequestOutputKind>) {
      cls.def_property(name, [member](const SamplingParams& p) { return (int)(p.*member); },
                       [member](SamplingParams& p, int v) {
                         if (v < 0 || v > 2) throw std::invalid_argument("output_kind must be 0, 1 or 2");
                         p.*member = (RequestOutputKind)v;
                       });
    } else {
      cls.def_readwrite(name, member);
    }
  });
  // [(name, kind)] in vLLM's order: the one field list (SamplingParams::for_each_field).
  cls.attr("FIELDS") = fields;
  // Returns the warning vLLM logs ("" for none); see SamplingParams::normalize.
  cls.def("normalize", &SamplingParams::normalize);
  // Raises shardlm.exceptions.VLLMValidationError naming the field, worded as vLLM's checks.
  cls.def("validate", &SamplingParams::validate);
  cls.def("verify_for_model", &SamplingParams::verify_for_model, py::arg("vocab_size"), py::arg("max_logprobs"));
}

void bind_prompt(py::module_& m) {
  py::class_<Prompt>(m, "Prompt")
      .def(py::init<std::string>(), py::arg("text"))
      .def_static("from_token_ids", &Prompt::from_token_ids, py::arg("token_ids"))
      .def_readonly("text", &Prompt::text)
      .def_readonly("token_ids", &Prompt::token_ids);
}

void bind_outputs(py::module_& m) {
  py::class_<CompletionOutput>(m, "CompletionOutput")
      .def_readonly("index", &CompletionOutput::index)
      // The text may end in the middle of a UTF-8 sequence only if the engine had a bug; bytes keep the
      // conversion from raising UnicodeDecodeError far from the cause, the package decodes with "replace".
      .def_property_readonly("text_bytes", [](const CompletionOutput& c) { return py::bytes(c.text); })
      .def_readonly("token_ids", &CompletionOutput::token_ids)
      .def_readonly("cumulative_logprob", &CompletionOutput::cumulative_logprob)
      .def_readonly("logprobs", &CompletionOutput::logprobs)
      .def_readonly("sampled_token_ranks", &CompletionOutput::sampled_token_ranks)
      .def_readonly("finish_reason", &CompletionOutput::finish_reason)
      .def_readonly("stop_reason_str", &CompletionOutput::stop_reason_str)
      .def_readonly("stop_reason_token", &CompletionOutput::stop_reason_token);
  py::class_<RequestMetrics>(m, "RequestMetrics")
      .def_readonly("arrival_time", &RequestMetrics::arrival_time)
      .def_readonly("first_scheduled_time", &RequestMetrics::first_scheduled_time)
      .def_readonly("first_token_time", &RequestMetrics::first_token_time)
      .def_readonly("last_token_time", &RequestMetrics::last_token_time)
      .def_readonly("finished_time", &RequestMetrics::finished_time)
      .def_readonly("time_in_queue", &RequestMetrics::time_in_queue)
      .def_readonly("first_token_latency", &RequestMetrics::first_token_latency)
      .def_readonly("num_generation_tokens", &RequestMetrics::num_generation_tokens);
  py::class_<Metric>(m, "Metric")
      .def_readonly("name", &Metric::name)
      .def_property_readonly("kind",
                             [](const Metric& x) {
                               switch (x.kind) {
                                 case MetricKind::Counter: return "counter";
                                 case MetricKind::Gauge: return "gauge";
                                 case MetricKind::Histogram: return "histogram";
                               }
                               return "gauge";
                             })
      .def_readonly("labels", &Metric::labels)
      .def_readonly("value", &Metric::value)
      .def_readonly("bucket_bounds", &Metric::bucket_bounds)
      .def_readonly("bucket_counts", &Metric::bucket_counts)
      .def_readonly("count", &Metric::count)
      .def_readonly("sum", &Metric::sum);
  py::class_<RequestOutput>(m, "RequestOutput")
      .def_readonly("request_id", &RequestOutput::request_id)
      .def_readonly("prompt", &RequestOutput::prompt)
      .def_readonly("prompt_token_ids", &RequestOutput::prompt_token_ids)
      .def_readonly("prompt_logprobs", &RequestOutput::prompt_logprobs)
      .def_readonly("prompt_token_ranks", &RequestOutput::prompt_token_ranks)
      .def_readonly("num_cached_tokens", &RequestOutput::num_cached_tokens)
      .def_readonly("outputs", &RequestOutput::outputs)
      .def_readonly("finished", &RequestOutput::finished)
      .def_readonly("error", &RequestOutput::error)
      .def_readonly("metrics", &RequestOutput::metrics);
  py::class_<ParameterInfo>(m, "ParameterInfo")
      .def_readonly("name", &ParameterInfo::name)
      .def_readonly("local_shape", &ParameterInfo::local_shape)
      .def_readonly("dtype", &ParameterInfo::dtype)
      .def_readonly("local_numel", &ParameterInfo::local_numel);
}

}  // namespace

void bind_types(py::module_& m) {
  bind_engine_args(m);
  bind_sampling_params(m);
  bind_prompt(m);
  bind_outputs(m);
}

}  // namespace shardlm::python
