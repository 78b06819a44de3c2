// Plain data of the public C++ API as Python classes: EngineArgs, SamplingParams (with validate()), Prompt,
// CompletionOutput, RequestOutput, ParameterInfo. The `shardlm` package converts between these and its own
// vLLM-shaped classes; nothing here checks Python types beyond what pybind11 does.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

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
      .def_readwrite("max_logprobs", &EngineArgs::max_logprobs);
}

void bind_sampling_params(py::module_& m) {
  py::class_<SamplingParams>(m, "SamplingParams")
      .def(py::init<>())
      .def_readwrite("n", &SamplingParams::n)
      .def_readwrite("presence_penalty", &SamplingParams::presence_penalty)
      .def_readwrite("frequency_penalty", &SamplingParams::frequency_penalty)
      .def_readwrite("repetition_penalty", &SamplingParams::repetition_penalty)
      .def_readwrite("temperature", &SamplingParams::temperature)
      .def_readwrite("top_p", &SamplingParams::top_p)
      .def_readwrite("top_k", &SamplingParams::top_k)
      .def_readwrite("min_p", &SamplingParams::min_p)
      .def_readwrite("seed", &SamplingParams::seed)
      .def_readwrite("stop", &SamplingParams::stop)
      .def_readwrite("stop_token_ids", &SamplingParams::stop_token_ids)
      .def_readwrite("ignore_eos", &SamplingParams::ignore_eos)
      .def_readwrite("max_tokens", &SamplingParams::max_tokens)
      .def_readwrite("min_tokens", &SamplingParams::min_tokens)
      .def_readwrite("logprobs", &SamplingParams::logprobs)
      .def_readwrite("skip_special_tokens", &SamplingParams::skip_special_tokens)
      .def_readwrite("include_stop_str_in_output", &SamplingParams::include_stop_str_in_output)
      // Raises ValueError naming the field, worded as vLLM's checks.
      .def("validate", &SamplingParams::validate);
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
      .def_readonly("finish_reason", &CompletionOutput::finish_reason)
      .def_readonly("stop_reason_str", &CompletionOutput::stop_reason_str)
      .def_readonly("stop_reason_token", &CompletionOutput::stop_reason_token);
  py::class_<RequestOutput>(m, "RequestOutput")
      .def_readonly("request_id", &RequestOutput::request_id)
      .def_readonly("prompt", &RequestOutput::prompt)
      .def_readonly("prompt_token_ids", &RequestOutput::prompt_token_ids)
      .def_readonly("outputs", &RequestOutput::outputs)
      .def_readonly("finished", &RequestOutput::finished)
      .def_readonly("error", &RequestOutput::error);
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
