// OutputFile: a results file a command writes (`generate --output-jsonl`, `bench --output-json`). It is
// opened when the command starts, before any model loads, so a path that cannot be written fails at once;
// every write and the final flush and close are checked, so a full disk or a write error is an error that
// names the path, never an empty file and exit code 0.
#pragma once
#include <cstdio>
#include <string>
#include <string_view>

namespace shardlm {

class OutputFile {
 public:
  OutputFile() = default;  // no file: write() and close() do nothing
  // Opens (creating or truncating) `path` for writing. `flag` names what asked for it in messages:
  //   --output-jsonl: cannot open 'out/x.jsonl' for writing: No such file or directory
  OutputFile(const std::string& path, const std::string& flag);
  OutputFile(OutputFile&& other) noexcept;
  OutputFile& operator=(OutputFile&& other) noexcept;
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  // Closes without checking: only reached when an error is already on its way.
  ~OutputFile();

  bool is_open() const { return file_ != nullptr; }
  const std::string& path() const { return path_; }
  // shardlm::Error naming the flag, the path and errno's text when the bytes cannot be written.
  void write(std::string_view text);
  // Flushes and closes; shardlm::Error when either fails (the buffered bytes never reached the file).
  void close();

 private:
  [[noreturn]] void fail_io(const char* action, int err) const;
  std::FILE* file_ = nullptr;
  std::string path_, flag_;
};

// Flushes standard output (C stdio and std::cout); shardlm::Error with errno's text when that fails, e.g. when
// stdout is a full disk or /dev/full.
void flush_stdout_or_fail();

}  // namespace shardlm
