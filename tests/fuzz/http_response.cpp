// Our HTTP client's answer parser (status line, headers, 1xx, Content-Length, chunked,
// trailers, read-until-close), fed from memory. The first byte sets how the answer arrives:
// in reads of 1 to 64 bytes (so every line and chunk boundary falls between two reads),
// whether it answers a HEAD, whether the header cap is small, whether the body handler
// stops early. Without the early stop, the same answer read in one piece must give the same
// status (or error code) and the same body: where the reads fall changes nothing.
#include "core/errors.hpp"
#include "fuzz_input.hpp"
#include "net/client.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace {

struct outcome {
  caf::expected<long> status{0L};
  std::string body;
  int heads = 0;
  long head_status = 0;
};

outcome read(std::string_view answer, size_t step, bool head_request, size_t cap,
             bool stop_early) {
  outcome out;
  size_t pos = 0;
  tf::net::byte_source source = [&](char* buf, size_t room) -> caf::expected<size_t> {
    auto n = std::min({room, step, answer.size() - pos});
    std::memcpy(buf, answer.data() + pos, n);
    pos += n;
    return n;
  };
  auto on_head = [&](const tf::net::response_head& h) {
    ++out.heads;
    out.head_status = h.status;
  };
  auto on_body = [&](std::string_view piece) {
    out.body.append(piece);
    return !stop_early || out.body.size() < 4096;
  };
  out.status = tf::net::read_response(source, head_request ? "HEAD" : "GET", cap, on_head,
                                       on_body);
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  uint8_t mode = data[0];
  auto answer = tf::fuzz::as_text(data + 1, size - 1);
  size_t step = ((mode >> 1) & 0x1f) + 1;
  bool stop_early = (mode & 0x01) != 0;
  bool head_request = (mode & 0x40) != 0;
  size_t cap = (mode & 0x80) != 0 ? 256 : 64 * 1024;

  auto got = read(answer, step, head_request, cap, stop_early);
  if (got.status) {
    // A success is a final answer, reported once.
    if (*got.status < 200 || *got.status > 599 || got.heads != 1 || got.head_status != *got.status)
      std::abort();
    if (head_request && !got.body.empty())
      std::abort();
  }
  if (got.body.size() > answer.size())
    std::abort();
  if (!stop_early) {
    auto whole = read(answer, 1 << 20, head_request, cap, false);
    if (bool(got.status) != bool(whole.status) || got.body != whole.body)
      std::abort();
    if (got.status ? *got.status != *whole.status
                   : tf::error_code(got.status.error()) != tf::error_code(whole.status.error()))
      std::abort();
  }
  return 0;
}
