// TORCHELASTIC_ERROR_FILE: where a worker started by torchrun (or shardlm-run) leaves its fatal error
// so that the launcher's failure report shows the message rather than only an exit code.
#pragma once
#include <string>

namespace shardlm {

// When TORCHELASTIC_ERROR_FILE is set, writes torch's error-file JSON to it:
//   {"message": {"message": "<message>", "extraInfo": {"py_callstack": "...", "timestamp": "<unix s>"}}}
// Never throws: failing to write only prints a warning to stderr. Returns true when a file was written.
bool write_torchelastic_error_file(const std::string& message);

// Reads the "message" back out of such a file; "" when absent or unreadable (used by shardlm-run).
std::string read_torchelastic_error_file(const std::string& path);

}  // namespace shardlm
