// Tensor storage, views, copies, and the per-device allocator registry.
#include "core/tensor.h"

#include <cstdlib>
#include <cstring>

#include "core/cpu_allocator.h"
#include "core/error.h"
#include "core/memory_arena.h"

namespace shardlm {

std::string device_name(Device d) {
  switch (d) {
    case Device::CPU: return "cpu";
    case Device::CUDA: return "cuda";
  }
  return "?";
}

namespace {

DeviceAllocator* g_allocators[2] = {nullptr, nullptr};  // CPU: cpu_allocator() unless one is registered

int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

void register_allocator(Device d, DeviceAllocator* alloc) { g_allocators[(int)d] = alloc; }

void* DeviceAllocator::allocate_host(size_t bytes) { return cpu_allocator()->allocate(bytes); }
void DeviceAllocator::deallocate_host(void* p) { cpu_allocator()->deallocate(p); }
std::shared_ptr<MemoryArena> DeviceAllocator::create_arena(const std::string& tag, size_t) {
  fail("sleep mode: this build's '", tag, "' memory arena is not available on this device");
}

DeviceAllocator* allocator_for(Device d) {
  DeviceAllocator* a = g_allocators[(int)d];
  if (!a && d == Device::CPU) a = cpu_allocator();
  if (!a) fail("device '", device_name(d), "' is not available in this build or on this machine");
  return a;
}

Tensor Tensor::empty(std::vector<int64_t> shape, DType dt, Device dev) {
  for (int64_t d : shape)
    if (d < 0) fail("Tensor::empty: negative dimension in shape");
  DeviceAllocator* a = allocator_for(dev);
  Tensor t;
  size_t bytes = (size_t)product(shape) * dtype_size(dt);
  if (MemoryArena* arena = active_arena(); arena && arena->device() == dev) {
    // Sleep mode: the arena outlives every tensor in it.
    std::shared_ptr<MemoryArena> owner = arena->shared_from_this();
    void* p = owner->allocate(bytes);
    t.storage_ = std::shared_ptr<void>(p, [owner](void* q) { owner->deallocate(q); });
  } else {
    void* p = a->allocate(bytes);
    t.storage_ = std::shared_ptr<void>(p, [a](void* q) { a->deallocate(q); });
  }
  t.dtype_ = dt;
  t.device_ = dev;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::zeros(std::vector<int64_t> shape, DType dt, Device dev) {
  Tensor t = empty(std::move(shape), dt, dev);
  t.zero_();
  return t;
}

Tensor Tensor::wrap(const void* data, std::vector<int64_t> shape, DType dt, Device dev,
                    std::shared_ptr<const void> owner) {
  Tensor t;
  // Aliasing constructor: shares `owner`'s reference count, points at `data`.
  t.storage_ = std::shared_ptr<void>(std::const_pointer_cast<void>(owner), const_cast<void*>(data));
  t.dtype_ = dt;
  t.device_ = dev;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::from_f32(const std::vector<float>& values, std::vector<int64_t> shape) {
  if (product(shape) != (int64_t)values.size()) fail("Tensor::from_f32: shape does not match value count");
  Tensor t = empty(std::move(shape), DType::F32);
  if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * 4);
  return t;
}

int64_t Tensor::dim(int i) const {
  int n = ndim();
  if (i < 0) i += n;
  SHARDLM_CHECK(i >= 0 && i < n, "dim index out of range");
  return shape_[i];
}

int64_t Tensor::numel() const { return product(shape_); }

std::string Tensor::shape_str() const {
  std::string s = "[";
  for (size_t i = 0; i < shape_.size(); ++i) s += (i ? ", " : "") + std::to_string(shape_[i]);
  return s + "]";
}

Tensor Tensor::reshape(std::vector<int64_t> shape) const {
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      SHARDLM_CHECK(infer < 0, "reshape: two -1 dimensions");
      infer = (int)i;
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) shape[infer] = known == 0 ? 0 : numel() / known;
  SHARDLM_CHECK(product(shape) == numel(), "reshape ", shape_str(), " has a different element count");
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::slice_rows(int64_t start, int64_t len) const {
  SHARDLM_CHECK(ndim() >= 1 && start >= 0 && len >= 0 && start + len <= shape_[0], "slice_rows out of range");
  int64_t row = shape_[0] == 0 ? 0 : numel() / shape_[0];
  Tensor t = *this;
  t.offset_ += (size_t)(start * row) * dtype_size(dtype_);
  t.shape_[0] = len;
  return t;
}

Tensor Tensor::to(Device dev) const {
  Tensor t = empty(shape_, dtype_, dev);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to_dtype(DType dt) const {
  SHARDLM_CHECK(device_ == Device::CPU, "to_dtype on a non-CPU tensor");
  if (dt == dtype_) return clone();
  Tensor t = empty(shape_, dt, Device::CPU);
  if (dt == DType::F32) {
    convert_to_f32(raw(), dtype_, t.data<float>(), (size_t)numel());
  } else if (dtype_ == DType::F32) {
    convert_from_f32(data<float>(), t.raw(), dt, (size_t)numel());
  } else {
    Tensor tmp = to_dtype(DType::F32);
    convert_from_f32(tmp.data<float>(), t.raw(), dt, (size_t)numel());
  }
  return t;
}

Tensor Tensor::clone() const { return to(device_); }

void Tensor::copy_from(const Tensor& src) {
  SHARDLM_CHECK(src.numel() == numel() && src.dtype() == dtype_, "copy_from: size or dtype mismatch");
  Device via = device_ != Device::CPU ? device_ : src.device();
  allocator_for(via)->copy(raw(), device_, src.raw(), src.device(), nbytes());
}

void Tensor::zero_() { allocator_for(device_)->memset_zero(raw(), nbytes()); }

}  // namespace shardlm
