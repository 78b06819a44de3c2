// Running programs from tests: a command line with a time limit, capturing stdout+stderr.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>

namespace shardlm::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal or the time limit
  std::string output;  // stdout and stderr together
};

// Runs `cmd` through /bin/sh with `timeout_s` (coreutils timeout, KILL after a grace period).
inline CommandResult run_command(const std::string& cmd, int timeout_s = 120) {
  std::string full = "timeout -k 5 " + std::to_string(timeout_s) + " sh -c '" + cmd + "' 2>&1";
  CommandResult r;
  FILE* p = popen(full.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = pclose(p);
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  return r;
}

inline std::string read_file(const std::string& path) {
  std::string s;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return s;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) s.append(buf.data(), n);
  std::fclose(f);
  return s;
}

// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
inline int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, (sockaddr*)&a, sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, (sockaddr*)&a, &len);
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

}  // namespace shardlm::testing
