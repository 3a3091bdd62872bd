// The Engine API's event stream as watch_events reads it: the body arrives in pieces (the
// first byte sets their size, 1 to 256 bytes, so lines are cut anywhere), line_splitter joins
// them into lines, parse_event reads each until one fails.
#include "docker/line_splitter.hpp"
#include "docker/parse.hpp"
#include "fuzz_input.hpp"

#include <algorithm>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  size_t step = static_cast<size_t>(data[0]) + 1;
  auto stream = tf::fuzz::as_text(data + 1, size - 1);
  tf::docker::line_splitter lines;
  size_t handed = 0;
  bool failed = false;
  while (!stream.empty() && !failed) {
    auto piece = stream.substr(0, std::min(step, stream.size()));
    stream.remove_prefix(piece.size());
    bool go_on = lines.feed(piece, [&](std::string_view line) {
      handed += line.size() + 1;
      if (line.find('\n') != std::string_view::npos)
        std::abort(); // a line is never two
      failed = !tf::docker::parse_event(line);
      return !failed;
    });
    if (!go_on && !failed && !lines.overflowed())
      std::abort(); // it stopped for no reason
  }
  if (handed > size)
    std::abort(); // more line bytes out than came in
  return 0;
}
