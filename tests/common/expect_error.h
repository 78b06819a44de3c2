// Expecting a shardlm::Error, shared by the test areas: the message's parts, and for files that are FIFOs,
// that the call fails at once instead of blocking in open(2).
#pragma once
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <initializer_list>
#include <string>
#include <thread>

#include "core/error.h"

namespace shardlm::testing {

// Runs `fn`, expecting a shardlm::Error whose message contains every one of `parts`; returns the message.
template <typename Fn>
std::string expect_error(Fn fn, std::initializer_list<std::string> parts) {
  try {
    fn();
  } catch (const Error& e) {
    std::string message = e.what();
    for (const std::string& part : parts)
      EXPECT_NE(message.find(part), std::string::npos) << "message: " << message << "\nlacks: " << part;
    return message;
  }
  ADD_FAILURE() << "no shardlm::Error thrown";
  return "";
}

// Runs `fn`, and fails (instead of hanging) when it blocks on the FIFO `fifo`: after two seconds a writer
// opens and closes the FIFO, which releases a reader stuck in open(2).
template <typename Fn>
void expect_no_blocking(const std::string& fifo, Fn fn) {
  std::atomic<bool> done{false}, rescued{false};
  std::thread rescue([&] {
    for (int i = 0; i < 200 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    while (!done) {  // open and close a writer: a blocked open(2) returns, and reads then see the end
      const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // ENXIO while no reader waits
      if (fd >= 0) {
        rescued = true;
        ::close(fd);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  const auto start = std::chrono::steady_clock::now();
  try {
    fn();
  } catch (...) {
    ADD_FAILURE() << "an unexpected exception";
  }
  done = true;
  rescue.join();
  EXPECT_FALSE(rescued) << "the call blocked opening the FIFO " << fifo;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

// `fn` must throw an Error containing `parts` at once, without blocking on `fifo`.
template <typename Fn>
void expect_error_without_blocking(const std::string& fifo, Fn fn, std::initializer_list<std::string> parts) {
  expect_no_blocking(fifo, [&] { expect_error(fn, parts); });
}

}  // namespace shardlm::testing
