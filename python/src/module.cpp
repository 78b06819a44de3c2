// The _shardlm extension module: the engine and its process groups, wrapped by the pure-Python package
// `shardlm` (python/shardlm/), which gives them vLLM's names, keywords and defaults.
#include <cstring>

#include "core/dtype.h"
#include <pybind11/pybind11.h>

#include "bindings.h"
#include "core/error.h"
#include "shardlm/sampling_params.h"

namespace py = pybind11;

PYBIND11_MODULE(_shardlm, m) {
  m.doc() = "shardlm's native engine; use the `shardlm` package instead of this module";
  // shardlm::Error (bad checkpoint, config, collective timeout...) arrives as shardlm.EngineError, a
  // RuntimeError. pybind11's defaults cover the rest: std::invalid_argument -> ValueError,
  // other std::exception -> RuntimeError.
  py::register_exception<shardlm::Error>(m, "EngineError", PyExc_RuntimeError);
  // A rejected SamplingParams field (shardlm::ParameterError) arrives as shardlm.exceptions.VLLMValidationError
  // (a ValueError) with .parameter set, as vLLM raises it.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const shardlm::ParameterError& e) {
      try {
        py::object cls = py::module_::import("shardlm.exceptions").attr("VLLMValidationError");
        py::object err = cls(e.what(), py::arg("parameter") = e.parameter());
        PyErr_SetObject(cls.ptr(), err.ptr());
      } catch (py::error_already_set& import_error) {  // the package is not importable: a plain ValueError
        PyErr_SetString(PyExc_ValueError, e.what());
      }
    }
  });
  shardlm::python::bind_types(m);
  shardlm::python::bind_groups(m);
  shardlm::python::bind_launch_env(m);
  shardlm::python::bind_engine(m);
  // The float8_e4m3fn conversions of core/dtype.h, byte buffer in, byte buffer out: for the tests that compare
  // them with torch's.
  m.def("_fp8_e4m3_from_f32", [](const py::bytes& f32) {
    const std::string in = f32;
    std::string out(in.size() / 4, '\0');
    for (size_t i = 0; i < out.size(); ++i) {
      float v;
      std::memcpy(&v, in.data() + 4 * i, 4);
      out[i] = (char)shardlm::f32_to_fp8e4m3(v);
    }
    return py::bytes(out);
  });
  m.def("_fp8_e4m3_to_f32", [](const py::bytes& fp8) {
    const std::string in = fp8;
    std::string out(in.size() * 4, '\0');
    for (size_t i = 0; i < in.size(); ++i) {
      const float v = shardlm::fp8e4m3_to_f32((uint8_t)in[i]);
      std::memcpy(&out[4 * i], &v, 4);
    }
    return py::bytes(out);
  });
}
