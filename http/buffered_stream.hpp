// The httplib::Stream a worker answers a gated request on: it reads the request the gate
// already holds in memory and writes to the client's socket under a write deadline.
// httplib writes an answer's head and body with two calls; the head is held back and sent
// with the body in one gathered send (one segment, one wake-up of the client, half the
// syscalls, no copy), or by flush() when the answer has no body.
#pragma once

#include "http/request_gate.hpp"

#include <httplib.h>

namespace tf::http {

class buffered_stream final : public httplib::Stream {
public:
  /// While `*discard` is true, writes are dropped (a precheck that refuses nothing).
  buffered_stream(const gated_request& req, const bool* discard) : req_{req}, discard_{discard} {}

  bool is_readable() const override { return pos_ < req_.bytes.size(); }
  bool is_writable() const override { return !failed_; }
  ssize_t read(char* ptr, size_t size) override;
  /// Blocks (polling the non-blocking socket) until everything is sent, the write deadline
  /// passes, or shortly after the gate stops.
  ssize_t write(const char* ptr, size_t size) override;
  /// Sends what write() held back; call once the answer is complete.
  void flush();
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return req_.fd; }

  /// A write failed: the answer is incomplete and the connection must close.
  bool failed() const { return failed_; }

private:
  /// Sends all of `first` then all of `second` (may be empty) in gathered sends, or marks
  /// the stream failed.
  bool send_all(const char* first, size_t first_size, const char* second, size_t second_size);

  std::string held_; // the first write (the head), until the next write or flush()
  bool wrote_ = false;
  const gated_request& req_;
  const bool* discard_;
  size_t pos_ = 0;
  bool failed_ = false;
};

} // namespace tf::http
