// Transparent string hashing so that maps keyed by std::string can be searched with string_view.
#pragma once
#include <functional>
#include <string_view>

namespace shardlm {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace shardlm
