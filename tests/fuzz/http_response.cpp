// Our HTTP client's answer parser (status line, headers, 1xx, Content-Length, chunked,
// trailers, read-until-close), fed from memory. The first byte sets how the answer arrives:
// in reads of 1 to 64 bytes (so every line and chunk boundary falls between two reads),
// whether it answers a HEAD, whether the header cap is small, whether the body handler
// stops early.
#include "actors/errors.hpp"
#include "fuzz_input.hpp"
#include "http/client.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  uint8_t mode = data[0];
  auto answer = tf::fuzz::as_text(data + 1, size - 1);
  size_t step = (mode & 0x3f) + 1;
  bool head_request = (mode & 0x40) != 0;
  bool small_cap = (mode & 0x80) != 0;

  size_t pos = 0;
  tf::http::byte_source source = [&](char* buf, size_t room) -> caf::expected<size_t> {
    auto n = std::min({room, step, answer.size() - pos});
    std::memcpy(buf, answer.data() + pos, n);
    pos += n;
    return n;
  };
  int heads = 0;
  size_t body_bytes = 0;
  long head_status = 0;
  auto on_head = [&](const tf::http::response_head& h) {
    ++heads;
    head_status = h.status;
  };
  auto on_body = [&](std::string_view piece) {
    body_bytes += piece.size();
    return body_bytes < 4096 || (mode & 0x01) == 0; // odd modes stop after 4 KiB
  };
  auto status = tf::http::read_response(source, head_request ? "HEAD" : "GET",
                                        small_cap ? 256 : 64 * 1024, on_head, on_body);
  if (status) {
    // A success is a final answer, reported once, whose body came from the input.
    if (*status < 200 || *status > 599 || heads != 1 || head_status != *status)
      std::abort();
    if (head_request && body_bytes != 0)
      std::abort();
  }
  if (body_bytes > answer.size())
    std::abort();
  return 0;
}
