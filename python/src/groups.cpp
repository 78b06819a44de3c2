// Group and DistributedGroup for Python: control messages as bytes (the package pickles objects over them)
// and float32 collectives on NumPy arrays. Every call is collective and blocks until the other ranks make
// it, so the GIL is released for its duration.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <vector>

#include "bindings.h"
#include "distributed/launch_env.h"
#include "shardlm/distributed.h"

namespace py = pybind11;

namespace shardlm::python {

namespace {

using F32Array = py::array_t<float, py::array::c_style | py::array::forcecast>;

F32Array as_f32(const py::handle& obj, const char* what) {
  F32Array a = F32Array::ensure(obj);
  if (!a) {
    PyErr_Clear();
    throw py::type_error(std::string(what) + ": expected a NumPy array or a sequence of numbers, got " +
                         std::string(py::str(obj.get_type().attr("__name__"))));
  }
  return a;
}

std::vector<py::ssize_t> shape_of(const F32Array& a) { return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()); }

// A float32 C-contiguous writeable array passed in is updated in place (as torch.distributed does with
// tensors) and returned; anything else (a list, float64, a read-only view) gets a new float32 array.
py::array write_back(const py::handle& original, F32Array& converted, const std::vector<float>& values) {
  if (converted.ptr() == original.ptr() && converted.writeable()) {
    std::copy(values.begin(), values.end(), converted.mutable_data());
    return converted;
  }
  F32Array out(shape_of(converted));
  std::copy(values.begin(), values.end(), out.mutable_data());
  return out;
}

std::vector<float> to_vector(const F32Array& a) { return std::vector<float>(a.data(), a.data() + a.size()); }

py::array all_reduce(Group& g, const py::object& obj) {
  F32Array a = as_f32(obj, "all_reduce");
  std::vector<float> v = to_vector(a);
  {
    py::gil_scoped_release nogil;
    g.all_reduce_sum(v);
  }
  return write_back(obj, a, v);
}

py::array broadcast(Group& g, const py::object& obj, int src) {
  F32Array a = as_f32(obj, "broadcast");
  std::vector<float> v = to_vector(a);
  {
    py::gil_scoped_release nogil;
    g.broadcast(v, src);
  }
  return write_back(obj, a, v);
}

py::array all_gather(Group& g, const py::object& obj) {
  F32Array a = as_f32(obj, "all_gather");
  std::vector<float> mine = to_vector(a), all;
  int size = 0;
  {
    py::gil_scoped_release nogil;
    size = g.size();
    all = g.all_gather(mine);
  }
  std::vector<py::ssize_t> shape = shape_of(a);
  shape.insert(shape.begin(), size);
  F32Array out(shape);
  if ((size_t)out.size() != all.size())
    throw std::runtime_error("all_gather: expected " + std::to_string(out.size()) + " values from " +
                             std::to_string(size) + " ranks, got " + std::to_string(all.size()));
  std::copy(all.begin(), all.end(), out.mutable_data());
  return out;
}

}  // namespace

void bind_groups(py::module_& m) {
  py::class_<Group>(m, "Group")
      .def("rank", &Group::rank)
      .def("size", &Group::size)
      .def("backend", &Group::backend)
      .def("barrier", &Group::barrier, py::call_guard<py::gil_scoped_release>())
      .def("broadcast_bytes",
           [](Group& g, const py::bytes& data, int src) {
             std::string bytes = data;
             {
               py::gil_scoped_release nogil;
               g.broadcast_bytes(bytes, src);
             }
             return py::bytes(bytes);
           },
           py::arg("data"), py::arg("src"))
      .def("all_gather_bytes",
           [](Group& g, const py::bytes& data) {
             std::string mine = data;
             std::vector<std::string> all;
             {
               py::gil_scoped_release nogil;
               all = g.all_gather_bytes(mine);
             }
             py::list out;
             for (const auto& b : all) out.append(py::bytes(b));
             return out;
           },
           py::arg("data"))
      .def("all_reduce", &all_reduce, py::arg("array"))
      .def("all_gather", &all_gather, py::arg("array"))
      .def("broadcast", &broadcast, py::arg("array"), py::arg("src"));
  py::class_<DistributedGroup>(m, "DistributedGroup")
      .def_readonly("cpu_group", &DistributedGroup::cpu_group)
      .def_readonly("device_group", &DistributedGroup::device_group)
      .def_readonly("rank", &DistributedGroup::rank)
      .def_readonly("world_size", &DistributedGroup::world_size)
      .def_readonly("ranks", &DistributedGroup::ranks);
}

void bind_launch_env(py::module_& m) {
  m.def("launch_env", [] {
    const LaunchEnv env = detect_launch_env();
    py::dict d;
    d["rank"] = env.rank;
    d["world_size"] = env.world_size;
    d["local_rank"] = env.local_rank;
    d["local_world_size"] = env.local_world_size;
    d["master_addr"] = env.master_addr;
    d["master_port"] = env.master_port;
    d["launcher"] = env.launcher;
    d["agent_store"] = env.agent_store;
    return d;
  }, "What the external launcher told this process (rank, world size, where the rendezvous store is).");
}

}  // namespace shardlm::python
