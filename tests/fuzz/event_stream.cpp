// The Engine API's event stream as watch_events reads it: the body arrives in pieces (the
// first byte sets their size, 1 to 256 bytes, so lines are cut anywhere), line_splitter joins
// them into lines, parse_event reads each until one fails. Fed in one piece, the stream must
// give the same lines: where the pieces fall changes nothing.
#include "docker/line_splitter.hpp"
#include "docker/parse.hpp"
#include "fuzz_input.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

/// The lines handed out, up to and including the first that is no event.
std::vector<std::string> read_stream(std::string_view stream, size_t step) {
  tf::docker::line_splitter lines;
  std::vector<std::string> out;
  bool failed = false;
  while (!stream.empty() && !failed) {
    auto piece = stream.substr(0, std::min(step, stream.size()));
    stream.remove_prefix(piece.size());
    bool go_on = lines.feed(piece, [&](std::string_view line) {
      if (line.find('\n') != std::string_view::npos)
        std::abort(); // a line is never two
      out.emplace_back(line);
      failed = !tf::docker::parse_event(line);
      return !failed;
    });
    if (!go_on && !failed && !lines.overflowed())
      std::abort(); // it stopped for no reason
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  size_t step = static_cast<size_t>(data[0]) + 1;
  auto stream = tf::fuzz::as_text(data + 1, size - 1);
  if (read_stream(stream, step) != read_stream(stream, stream.size() + 1))
    std::abort();
  return 0;
}
