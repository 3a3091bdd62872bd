// The Engine API's streams (events, pull progress) are JSON objects one per line, arriving
// in pieces cut anywhere; this joins the pieces and hands out whole lines, bounded in length.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tf::docker {

/// Splits a stream of JSON objects (one per line) into lines, bounded in length.
class line_splitter {
public:
  static constexpr size_t max_line = 1024 * 1024;
  /// Feeds data; calls f(line) for each complete line. False when a line is too long
  /// (then overflowed() is true) or f asked to stop.
  template <class F>
  bool feed(std::string_view data, F&& f) {
    if (buf_.size() + data.size() > 2 * max_line && data.find('\n') == std::string_view::npos) {
      overflowed_ = true;
      return false;
    }
    buf_.append(data);
    size_t start = 0;
    for (auto nl = buf_.find('\n', start); nl != std::string::npos;
         nl = buf_.find('\n', start)) {
      std::string_view line{buf_.data() + start, nl - start};
      start = nl + 1;
      if (!line.empty() && line != "\r" && !f(line)) {
        buf_.erase(0, start);
        return false;
      }
    }
    buf_.erase(0, start);
    overflowed_ = buf_.size() > max_line;
    return !overflowed_;
  }

  bool overflowed() const { return overflowed_; }

private:
  std::string buf_;
  bool overflowed_ = false;
};

} // namespace tf::docker
