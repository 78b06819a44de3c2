// Declarations of the pieces of the _shardlm extension module, one bind_* function per source file.
#pragma once
#include <pybind11/pybind11.h>

namespace shardlm {
class Tensor;
}

namespace shardlm::python {

void bind_types(pybind11::module_& m);    // EngineArgs, SamplingParams, Prompt, outputs, ParameterInfo
void bind_engine(pybind11::module_& m);   // Engine: the LLM with a GIL-releasing generate loop
void bind_groups(pybind11::module_& m);   // Group, DistributedGroup: collectives on bytes and NumPy arrays
void bind_launch_env(pybind11::module_& m);  // launch_env(): what the launcher told this process

// A DLPack capsule sharing `t`'s memory (dlpack.cpp).
pybind11::capsule to_dlpack(const Tensor& t);

}  // namespace shardlm::python
