// Zero-copy export of engine tensors (this rank's parameters) to Python as DLPack capsules, the exchange format
// torch.from_dlpack reads: a torch tensor made from one shares the engine's memory, so writing into it changes
// what the engine computes. The capsule's DLManagedTensor keeps the tensor's storage alive for as long as the
// consumer holds it.
#include <dlpack/dlpack.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <vector>

#include "bindings.h"
#include "core/error.h"
#include "core/tensor.h"

namespace py = pybind11;

namespace shardlm::python {

namespace {

constexpr const char* kCapsuleName = "dltensor";           // unconsumed (DLPack's legacy capsule)
constexpr const char* kConsumedCapsuleName = "used_dltensor";  // renamed by the consumer that took it

struct Export {
  Tensor tensor;                // holds the storage
  std::vector<int64_t> shape;   // DLTensor::shape points here
  DLManagedTensor managed{};
};

DLDataType dl_dtype(DType dt) {
  switch (dt) {
    case DType::F32: return {kDLFloat, 32, 1};
    case DType::F16: return {kDLFloat, 16, 1};
    case DType::BF16: return {kDLBfloat, 16, 1};
    case DType::I32: return {kDLInt, 32, 1};
    case DType::I64: return {kDLInt, 64, 1};
    case DType::U8: return {kDLUInt, 8, 1};
    // This DLPack version has no float8 code: FP8 weights travel as their bytes (torch: .view(torch.float8_e4m3fn)).
    case DType::F8E4M3: return {kDLUInt, 8, 1};
  }
  fail("internal error: unknown dtype");
}

DLDevice dl_device(Device d) {
  switch (d) {
    case Device::CPU: return {kDLCPU, 0};
    case Device::CUDA: return {kDLCUDA, allocator_for(Device::CUDA)->device_index()};
  }
  fail("internal error: unknown device");
}

void delete_export(DLManagedTensor* m) { delete static_cast<Export*>(m->manager_ctx); }

void capsule_destructor(PyObject* capsule) {
  // Only a capsule nobody consumed still owns its tensor; a consumer renames it and calls the deleter itself.
  if (PyCapsule_IsValid(capsule, kConsumedCapsuleName)) return;
  auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(capsule, kCapsuleName));
  if (m == nullptr) {
    PyErr_Clear();
    return;
  }
  m->deleter(m);
}

}  // namespace

py::capsule to_dlpack(const Tensor& t) {
  if (!t.defined()) throw std::invalid_argument("to_dlpack: the tensor is undefined");
  auto e = std::make_unique<Export>();
  e->tensor = t;
  e->shape = t.shape();
  DLTensor& dl = e->managed.dl_tensor;
  dl.data = t.raw();
  dl.device = dl_device(t.device());
  dl.ndim = t.ndim();
  dl.dtype = dl_dtype(t.dtype());
  dl.shape = e->shape.data();
  dl.strides = nullptr;  // compact row-major
  dl.byte_offset = 0;
  e->managed.manager_ctx = e.get();
  e->managed.deleter = delete_export;
  PyObject* capsule = PyCapsule_New(&e->managed, kCapsuleName, capsule_destructor);
  if (capsule == nullptr) throw py::error_already_set();
  e.release();
  return py::reinterpret_steal<py::capsule>(capsule);
}

}  // namespace shardlm::python
