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

// EngineArgs' Python kind of each field type; usage_context (which of vLLM's defaults apply: the LLM class or
// the server) is the engine's own choice and not one of vLLM's EngineArgs, so it has no kind and is not bound.
template <class T>
constexpr const char* engine_field_kind() {
  if constexpr (std::is_same_v<T, std::string>) return "str";
  else if constexpr (std::is_same_v<T, bool>) return "bool";
  else if constexpr (std::is_same_v<T, int> || std::is_same_v<T, int64_t>) return "int";
  else if constexpr (std::is_same_v<T, double>) return "float";
  else return nullptr;
}

void bind_engine_args(py::module_& m) {
  py::class_<EngineArgs> cls(m, "EngineArgs");
  cls.def(py::init<>());
  const EngineArgs defaults;
  py::list fields;
  EngineArgs::for_each_field([&](const char* name, auto member) {
    using T = std::remove_reference_t<decltype(std::declval<EngineArgs&>().*member)>;
    if constexpr (engine_field_kind<T>() != nullptr) {
      cls.def_readwrite(name, member);
      fields.append(py::make_tuple(name, engine_field_kind<T>(), defaults.*member));
    }
  });
  // [(name, kind, C++ default)] in declaration order: the one field list (EngineArgs::for_each_field), read by
  // shardlm.EngineArgs.
  cls.attr("FIELDS") = fields;
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
