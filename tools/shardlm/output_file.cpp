// OutputFile: see output_file.h.
#include "output_file.h"

#include <cerrno>
#include <cstring>
#include <iostream>
#include <utility>

#include "core/error.h"

namespace shardlm {

OutputFile::OutputFile(const std::string& path, const std::string& flag) : path_(path), flag_(flag) {
  errno = 0;
  file_ = std::fopen(path.c_str(), "w");
  if (!file_) fail_io("open", errno);
}

OutputFile::OutputFile(OutputFile&& other) noexcept
    : file_(std::exchange(other.file_, nullptr)), path_(std::move(other.path_)), flag_(std::move(other.flag_)) {}

OutputFile& OutputFile::operator=(OutputFile&& other) noexcept {
  if (this != &other) {
    if (file_) std::fclose(file_);
    file_ = std::exchange(other.file_, nullptr);
    path_ = std::move(other.path_);
    flag_ = std::move(other.flag_);
  }
  return *this;
}

OutputFile::~OutputFile() {
  if (file_) std::fclose(file_);
}

void OutputFile::fail_io(const char* action, int err) const {
  const std::string how = std::strcmp(action, "open") == 0 ? "cannot open '" + path_ + "' for writing"
                                                           : str_cat("cannot ", action, " '", path_, "'");
  fail(flag_, ": ", how, ": ", err ? std::strerror(err) : "unknown error");
}

void OutputFile::write(std::string_view text) {
  if (!file_) return;
  errno = 0;
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::ferror(file_)) fail_io("write", errno);
}

void OutputFile::close() {
  if (!file_) return;
  std::FILE* f = std::exchange(file_, nullptr);
  errno = 0;
  // A buffered write that failed shows up here (a full disk), or as a failing fclose (NFS reports late).
  const bool flushed = std::fflush(f) == 0 && !std::ferror(f);
  const int flush_errno = errno;
  errno = 0;
  const bool closed = std::fclose(f) == 0;
  if (!flushed) fail_io("write", flush_errno);
  if (!closed) fail_io("close", errno);
}

void flush_stdout_or_fail() {
  errno = 0;
  std::cout.flush();  // synced with stdio: flushes `stdout`
  const int err = errno;
  const bool ok = std::fflush(stdout) == 0 && !std::ferror(stdout) && std::cout.good();
  // glibc drops the buffer after a failed write and keeps only the error flag, so when the buffer filled and
  // failed earlier, errno's text is gone by now.
  if (!ok) fail("cannot write standard output: ", err ? std::strerror(err) : "an earlier write to it failed");
}

}  // namespace shardlm
