// ShmSegment: see shm_segment.h. Store keys under opts.store_prefix:
//   name          group rank 0's segment name, or "!<why it could not create one>"
//   mapped/<g>    "<pid>" once group rank g mapped the segment, or "!<why it could not>"
#include "distributed/shm_segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <functional>
#include <random>

#include "distributed/group_fault.h"

namespace shardlm {
namespace {

std::string errno_text(const char* what, int err) { return str_cat(what, ": ", std::strerror(err)); }

// "/shardlm-<job>-<group>-<pid>-<random>": <job> hashes the store prefix (launcher run id, restart, init).
std::string fresh_name(const ShmSegment::Options& opts) {
  std::string group;
  for (char c : opts.group_name) group += std::isalnum((unsigned char)c) ? c : '_';
  std::random_device rd;
  char buf[200];
  std::snprintf(buf, sizeof(buf), "/shardlm-%08zx-%.40s-%d-%08x%08x", std::hash<std::string>{}(opts.store_prefix) & 0xffffffffu,
                group.c_str(), (int)::getpid(), rd(), rd());
  return buf;
}

// Maps `fd` read-write; null on failure (errno set).
void* map_fd(int fd, size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? nullptr : p;
}

// Creates, sizes and maps a segment under a fresh name. Returns the mapping; `error` on failure.
void* create(const ShmSegment::Options& opts, std::string* name, std::string* error) {
  int fd = -1;
  for (int attempt = 0; attempt < 8 && fd < 0; attempt++) {
    *name = fresh_name(opts);
    fd = ::shm_open(name->c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    *error = errno_text(str_cat("shm_open('", *name, "')").c_str(), errno);
    name->clear();
    return nullptr;
  }
  void* p = nullptr;
  if (int err = ::posix_fallocate(fd, 0, (off_t)opts.bytes); err != 0) {
    *error = str_cat("reserving ", opts.bytes, " bytes in /dev/shm for '", *name, "': ", std::strerror(err));
  } else if (!(p = map_fd(fd, opts.bytes))) {
    *error = errno_text("mmap", errno);
  }
  ::close(fd);
  if (!p) {
    ::shm_unlink(name->c_str());
    name->clear();
  }
  return p;
}

// Opens and maps the segment rank 0 created; null and `error` on failure.
void* open_existing(const std::string& name, size_t bytes, std::string* error) {
  int fd = ::shm_open(name.c_str(), O_RDWR, 0);
  if (fd < 0) {
    *error = errno_text(str_cat("shm_open('", name, "')").c_str(), errno);
    return nullptr;
  }
  struct stat st {};
  void* p = nullptr;
  if (::fstat(fd, &st) != 0)
    *error = errno_text("fstat", errno);
  else if ((size_t)st.st_size != bytes)
    *error = str_cat("segment '", name, "' has ", (long long)st.st_size, " bytes, expected ", bytes);
  else if (!(p = map_fd(fd, bytes)))
    *error = errno_text("mmap", errno);
  ::close(fd);
  return p;
}

// Unlinks the name when it goes out of scope: every path out of establish() once a name exists.
struct Unlinker {
  std::string name;
  ~Unlinker() {
    if (!name.empty()) ::shm_unlink(name.c_str());
  }
};

}  // namespace

ShmSegment::~ShmSegment() {
  if (base_) ::munmap(base_, bytes_);
}

std::unique_ptr<ShmSegment> ShmSegment::establish(TcpStore& store, const Options& opts, std::string* error) {
  const int size = (int)opts.global_ranks.size();
  const int me = opts.global_ranks[opts.group_rank];
  const std::string name_key = opts.store_prefix + "name";
  Unlinker unlinker;
  void* base = nullptr;
  std::string my_error;
  if (opts.group_rank == 0) {
    base = create(opts, &unlinker.name, &my_error);
    if (base && opts.initialise) opts.initialise(base);
    store.set(name_key, base ? unlinker.name : "!" + my_error);
  } else {
    std::string name;
    try {
      name = store.get(name_key, opts.timeout);
    } catch (const StoreTimeoutError&) {
      fail("rank ", opts.global_ranks[0], " did not create the shared-memory segment of the ", opts.group_name,
           " group within ", opts.timeout.count() / 1000.0, " s (seen from rank ", me, ")");
    }
    if (!name.empty() && name[0] == '!') {
      my_error = "rank 0 has no segment";  // its own report says why
    } else {
      unlinker.name = name;
      base = open_existing(name, opts.bytes, &my_error);
      if (base && opts.validate) my_error = opts.validate(base);
      if (base && !my_error.empty()) {
        ::munmap(base, opts.bytes);
        base = nullptr;
      }
    }
  }
  store.set(opts.store_prefix + "mapped/" + std::to_string(opts.group_rank),
            base ? std::to_string(::getpid()) : "!" + my_error);
  std::vector<std::string> keys;
  for (int g = 0; g < size; g++) keys.push_back(opts.store_prefix + "mapped/" + std::to_string(g));
  std::vector<std::string> reports;
  try {
    store.wait(keys, opts.timeout);
    reports = store.multi_get(keys);
  } catch (const StoreTimeoutError&) {
    if (base) ::munmap(base, opts.bytes);
    std::vector<int> missing;
    for (int g = 0; g < size; g++)
      if (!store.check({keys[g]})) missing.push_back(opts.global_ranks[g]);
    fail(ranks_phrase(missing), " did not map the shared-memory segment of the ", opts.group_name, " group within ",
         opts.timeout.count() / 1000.0, " s (seen from rank ", me, "; the process died or hung during set-up)");
  }
  // Everyone has mapped it or given up: the name can go (the unlinker does it on return).
  std::unique_ptr<ShmSegment> seg(base ? new ShmSegment(base, opts.bytes) : nullptr);
  for (int g = 0; g < size; g++) {
    const std::string& r = reports[g];
    if (!r.empty() && r[0] == '!') {
      if (error)
        *error = str_cat("rank ", opts.global_ranks[g], " could not set up the shared-memory segment of the ", opts.group_name, " group: ", r.substr(1));
      return nullptr;
    }
    if (seg) seg->pids_.push_back(std::stoi(r));
  }
  return seg;
}

}  // namespace shardlm
