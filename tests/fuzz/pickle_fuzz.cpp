// Fuzz target: the unpickler alone (every opcode, the memo, nesting, the memory bound), with hooks that make
// a plain value for classes and calls so that inputs get past GLOBAL and REDUCE.
#include "fuzz_input.h"
#include "io/pickle.h"

namespace {

class PlainHooks : public shardlm::PickleHooks {
 public:
  shardlm::PickleValue* find_class(shardlm::PickleArena& arena, const std::string&, const std::string&) override {
    return arena.make(shardlm::PickleValue::Kind::Global);
  }
  shardlm::PickleValue* persistent_load(shardlm::PickleArena& arena, shardlm::PickleValue*) override {
    return arena.make(shardlm::PickleValue::Kind::None);
  }
  shardlm::PickleValue* reduce(shardlm::PickleArena& arena, shardlm::PickleValue*, shardlm::PickleValue*) override {
    return arena.make(shardlm::PickleValue::Kind::Object);
  }
  shardlm::PickleValue* build(shardlm::PickleArena&, shardlm::PickleValue* object, shardlm::PickleValue*) override {
    return object;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return shardlm::fuzz::refuse_only_with_error([&] {
    shardlm::PickleArena arena;
    PlainHooks hooks;
    shardlm::unpickle(data, size, arena, hooks, "fuzz: data.pkl");
  });
}
