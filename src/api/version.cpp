// shardlm::version(): the library's own version, fixed when libshardlm.so was compiled.
#include "shardlm/version.h"

namespace shardlm {

const char* version() noexcept { return SHARDLM_VERSION; }

}  // namespace shardlm
