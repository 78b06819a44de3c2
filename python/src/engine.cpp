// Engine: shardlm::LLM for Python. generate() runs LLM::generate with hooks so that the GIL
// is released while the model runs, Ctrl-C is noticed between steps (the unfinished requests are aborted and
// KeyboardInterrupt re-raised), and the progress bar can be Python's tqdm.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <stdexcept>

#include "core/tensor.h"
#include "bindings.h"
#include "engine/llm_engine.h"
#include "shardlm/llm.h"

namespace py = pybind11;

namespace shardlm::python {

namespace {

// One generate() at a time per engine: with the GIL released, a second Python thread could otherwise enter
// the engine while it steps.
class BusyGuard {
 public:
  explicit BusyGuard(std::atomic<bool>& busy, const char* what = "generate()") : busy_(busy) {
    if (busy_.exchange(true))
      throw std::runtime_error(std::string("LLM.") + what + " while another call runs on this LLM in another "
                               "thread; an LLM runs one generate(), sleep() or wake_up() at a time");
  }
  ~BusyGuard() { busy_ = false; }
  BusyGuard(const BusyGuard&) = delete;
  BusyGuard& operator=(const BusyGuard&) = delete;

 private:
  std::atomic<bool>& busy_;
};

class Engine {
 public:
  explicit Engine(const EngineArgs& args) {
    // Loading weights and meeting the other ranks can take a while; other Python threads may run meanwhile.
    py::gil_scoped_release nogil;
    llm_ = std::make_unique<LLM>(args);
  }

  // `progress(num_finished, input_tokens, output_tokens)` is called after every step that changed anything;
  // `native_bar` draws the C++ progress bar on stderr instead (when it is a terminal).
  std::vector<RequestOutput> generate(const std::vector<Prompt>& prompts, const std::vector<SamplingParams>& params,
                                      const py::object& progress, bool native_bar, const std::vector<int>& priority) {
    BusyGuard guard(busy_);
    GenerateHooks hooks;  // LLM::generate is the one generate loop; Python adds the GIL, signals, progress
    hooks.reject_whole_call = true;  // as vLLM does, a prompt that can never run fails the whole call
    hooks.progress_bar = native_bar;
    hooks.run_step = [](const std::function<void()>& step) {
      py::gil_scoped_release nogil;
      step();
    };
    hooks.check_interrupt = [] {
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    };
    if (!progress.is_none())
      hooks.on_progress = [&progress](int64_t finished, int64_t in_tokens, int64_t out_tokens) {
        progress(finished, in_tokens, out_tokens);
      };
    return llm_->generate(prompts, params, hooks, priority);
  }

  // Sleep mode: the GIL is released while memory moves (a level-1 sleep copies the weights to the host).
  void sleep(int level) {
    BusyGuard guard(busy_, "sleep()");
    py::gil_scoped_release nogil;
    llm_->sleep(level);
  }
  void wake_up(const std::optional<std::vector<std::string>>& tags) {
    if (tags && tags->empty()) return;  // vLLM: None wakes every tag, an empty list none
    BusyGuard guard(busy_, "wake_up()");
    py::gil_scoped_release nogil;
    llm_->wake_up(tags.value_or(std::vector<std::string>{}));
  }
  bool reset_prefix_cache() {
    BusyGuard guard(busy_, "reset_prefix_cache()");
    return llm_->reset_prefix_cache();
  }

  LLM& llm() { return *llm_; }

  // This rank's parameter `index` (in parameters() order) as a DLPack capsule sharing the engine's memory.
  py::capsule parameter_dlpack(size_t index) {
    const auto& params = llm_->engine().model().parameters();
    if (index >= params.size())
      throw py::index_error("parameter index " + std::to_string(index) + " out of range (" +
                            std::to_string(params.size()) + " parameters)");
    return to_dlpack(params[index].local);
  }

  // Where each checkpoint tensor lands: (source name, full shape, parameter index, "whole"|"rows"|"cols",
  // start, len, first destination row). See WeightRoute.
  py::list weight_routes() {
    py::list out;
    for (const WeightRoute& r : llm_->engine().load_context().routes()) {
      const char* slice = r.slice == WeightRoute::Slice::Whole ? "whole" : r.slice == WeightRoute::Slice::Rows ? "rows" : "cols";
      out.append(py::make_tuple(r.source, py::tuple(py::cast(r.full_shape)), r.param_index, slice, r.start, r.len,
                                r.dst_row));
    }
    return out;
  }
  const Tokenizer& tokenizer() { return llm_->engine().tokenizer(); }

  py::dict stats() const {
    const EngineStats s = llm_->stats();
    py::dict d;
    d["num_preemptions"] = s.num_preemptions;
    d["prefix_cache_queries_tokens"] = s.prefix_cache_queries_tokens;
    d["prefix_cache_hits_tokens"] = s.prefix_cache_hits_tokens;
    d["prefix_cache_hit_rate"] = s.prefix_cache_hit_rate();
    d["num_kv_blocks"] = s.num_kv_blocks;
    d["kv_cache_usage"] = s.kv_cache_usage;
    d["block_size"] = s.block_size;
    d["num_steps"] = s.num_steps;
    d["prompt_tokens"] = s.prompt_tokens;
    d["generated_tokens"] = s.generated_tokens;
    return d;
  }

 private:
  std::unique_ptr<LLM> llm_;
  std::atomic<bool> busy_{false};
};

}  // namespace

void bind_engine(py::module_& m) {
  py::class_<Engine>(m, "Engine")
      .def(py::init<const EngineArgs&>(), py::arg("args"))
      .def("generate", &Engine::generate, py::arg("prompts"), py::arg("params"), py::arg("progress") = py::none(),
           py::arg("native_bar") = false, py::arg("priority") = std::vector<int>{})
      .def("encode",
           [](Engine& e, const std::string& text, bool add_special_tokens) {
             return e.tokenizer().encode(text, add_special_tokens);
           },
           py::arg("text"), py::arg("add_special_tokens") = true)
      .def("decode",
           [](Engine& e, const std::vector<int32_t>& ids, bool skip_special_tokens) {
             // bytes: a single byte-level token may be half a character; the package decodes with "replace".
             return py::bytes(e.tokenizer().decode(ids, skip_special_tokens));
           },
           py::arg("token_ids"), py::arg("skip_special_tokens") = true)
      .def("id_to_token", [](Engine& e, int32_t id) { return py::bytes(e.tokenizer().id_to_token(id)); })
      .def(
          "apply_chat_template",
          [](Engine& e, const std::string& conversation, const std::string& chat_template, bool add_generation_prompt,
             bool continue_final_message, const std::string& tools_json, const std::string& kwargs_json) {
            ChatOptions o;
            o.chat_template = chat_template;
            o.add_generation_prompt = add_generation_prompt;
            o.continue_final_message = continue_final_message;
            o.tools_json = tools_json;
            o.template_kwargs_json = kwargs_json;
            return py::bytes(e.llm().apply_chat_template(conversation, o));
          },
          py::arg("conversation"), py::arg("chat_template"), py::arg("add_generation_prompt"),
          py::arg("continue_final_message"), py::arg("tools_json"), py::arg("kwargs_json"))
      .def("is_special", [](Engine& e, int32_t id) { return e.tokenizer().is_special(id); })
      .def_property_readonly("tokenizer_vocab_size", [](Engine& e) { return e.tokenizer().vocab_size(); })
      .def_property_readonly("bos_token_id", [](Engine& e) { return e.tokenizer().bos_token_id(); })
      .def_property_readonly("eos_token_id", [](Engine& e) { return e.tokenizer().eos_token_id(); })
      .def("parameters", [](Engine& e) { return e.llm().parameters(); })
      .def("parameter_dlpack", &Engine::parameter_dlpack, py::arg("index"))
      .def("weight_routes", &Engine::weight_routes)
      .def("weight_prefix_aliases", [](Engine& e) { return e.llm().engine().load_context().prefix_aliases(); })
      .def("reload_weights", [](Engine& e) { e.llm().reload_weights(); }, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("device", [](Engine& e) { return device_name(e.llm().engine().device()); })
      .def("num_parameters", [](Engine& e) { return e.llm().num_parameters(); })
      .def_property_readonly("architecture", [](Engine& e) { return e.llm().architecture(); })
      .def_property_readonly("vocab_size", [](Engine& e) { return e.llm().vocab_size(); })
      .def_property_readonly("max_model_len", [](Engine& e) { return e.llm().max_model_len(); })
      .def_property_readonly("rank", [](Engine& e) { return e.llm().rank(); })
      .def_property_readonly("self_launched", [](Engine& e) { return e.llm().self_launched(); })
      .def_property_readonly("world_size", [](Engine& e) { return e.llm().world_size(); })
      .def("world_group", [](Engine& e) { return e.llm().world_group(); })
      .def("tp_group", [](Engine& e) { return e.llm().tp_group(); })
      .def("dp_group", [](Engine& e) { return e.llm().dp_group(); })
      .def_property_readonly("data_parallel_rank", [](Engine& e) { return e.llm().data_parallel_rank(); })
      .def_property_readonly("data_parallel_size", [](Engine& e) { return e.llm().data_parallel_size(); })
      .def("stats", &Engine::stats)
      .def("get_metrics", [](Engine& e) { return e.llm().get_metrics(); })
      .def("sleep", &Engine::sleep, py::arg("level") = 1)
      .def("wake_up", &Engine::wake_up, py::arg("tags") = py::none())
      .def("is_sleeping", [](Engine& e) { return e.llm().is_sleeping(); })
      .def("reset_prefix_cache", &Engine::reset_prefix_cache)
      .def("default_sampling_params", [](Engine& e) { return e.llm().default_sampling_params(); });
}

}  // namespace shardlm::python
