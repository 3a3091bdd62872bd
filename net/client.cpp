#include "net/client.hpp"

#include "core/errors.hpp"
#include "net/text.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace tf::net {

namespace {

/// A chunk-size line (hex size and extensions) longer than this is not a chunked body.
constexpr size_t max_chunk_line = 1024;
constexpr size_t read_size = 16 * 1024;

/// Not NUL: strchr finds the terminator of its list for it (a header name "X-A\0b" passed,
/// found by the fuzz work of issue 11).
bool is_token_char(char c) {
  auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) != 0 || (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char);
}

/// Visible characters, spaces and tabs; never CR, LF or NUL.
bool is_field_value(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

bool is_request_target(std::string_view s) {
  return !s.empty() && s.front() == '/' && std::none_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

caf::error malformed(const std::string& what) {
  return make_error(ec::unavailable, "malformed answer: " + what);
}

/// Bytes from the source with a look-ahead buffer, for lines and counted bodies.
class reader {
public:
  explicit reader(const byte_source& source) : source_{source} {}

  /// One line without its CRLF (or bare LF). `limit` bounds it with its line end;
  /// `too_long` is the error when it is longer.
  caf::expected<std::string> line(size_t limit, const caf::error& too_long) {
    size_t scanned = 0;
    for (;;) {
      auto end = buf_.find('\n', pos_ + scanned);
      if (end != std::string::npos) {
        if (end - pos_ + 1 > limit)
          return too_long;
        std::string out = buf_.substr(pos_, end - pos_);
        pos_ = end + 1;
        if (!out.empty() && out.back() == '\r')
          out.pop_back();
        return out;
      }
      scanned = buf_.size() - pos_;
      if (scanned >= limit)
        return too_long;
      auto more = fill();
      if (!more)
        return more.error();
      if (!*more)
        return malformed("the connection closed in the middle of a line");
    }
  }

  /// Hands up to `count` bytes (or everything until the peer closes, for `until_close`)
  /// to `on_body`. false: the handler asked to stop.
  caf::expected<bool> body(size_t count, bool until_close, const body_handler& on_body) {
    while (until_close || count > 0) {
      if (pos_ == buf_.size()) {
        auto more = fill();
        if (!more)
          return more.error();
        if (!*more) {
          if (until_close)
            return true;
          return malformed("the connection closed before the body ended");
        }
      }
      auto take = std::min(buf_.size() - pos_, until_close ? buf_.size() : count);
      std::string_view piece{buf_.data() + pos_, take};
      pos_ += take;
      count -= until_close ? 0 : take;
      if (!on_body(piece))
        return false;
    }
    return true;
  }

private:
  /// Reads more bytes; false when the peer has closed.
  caf::expected<bool> fill() {
    if (pos_ == buf_.size()) {
      buf_.clear();
      pos_ = 0;
    } else if (pos_ > read_size) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    auto old = buf_.size();
    buf_.resize(old + read_size);
    auto got = source_(buf_.data() + old, read_size);
    buf_.resize(old + (got ? *got : 0));
    if (!got)
      return got.error();
    return *got > 0;
  }

  const byte_source& source_;
  std::string buf_;
  size_t pos_ = 0;
};

/// "HTTP/1.x NNN reason": the status, or 0 when the line is not a status line.
long parse_status_line(std::string_view line) {
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || !std::isdigit(static_cast<unsigned char>(line[7]))
      || line[8] != ' ')
    return 0;
  auto code = line.substr(9, 3);
  if (!std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return 0;
  if (line.size() > 12 && line[12] != ' ')
    return 0;
  auto status = (code[0] - '0') * 100L + (code[1] - '0') * 10L + (code[2] - '0');
  return status >= 100 && status <= 599 ? status : 0;
}

/// One line of a response head (status line, header or trailer), charged against what is
/// left of the head's cap.
caf::expected<std::string> head_line(reader& in, size_t& budget, size_t cap) {
  auto line = in.line(budget, make_error(ec::payload_too_large,
                                         "the response headers are larger than "
                                           + std::to_string(cap) + " bytes"));
  if (line)
    budget -= std::min(budget, line->size() + 2);
  return line;
}

/// Reads header lines up to the blank line, counting their bytes against `budget`.
caf::error read_fields(reader& in, size_t& budget, size_t cap,
                       std::vector<std::pair<std::string, std::string>>& out) {
  for (;;) {
    auto line = head_line(in, budget, cap);
    if (!line)
      return line.error();
    if (line->empty())
      return {};
    std::string_view l{*line};
    auto colon = l.find(':');
    // No obsolete line folding, no header without a name, no space before the colon.
    if (colon == std::string_view::npos || !is_token(l.substr(0, colon)))
      return malformed("a bad header line");
    auto value = trim_blanks(l.substr(colon + 1));
    if (!is_field_value(value))
      return malformed("a control character in a header value");
    out.emplace_back(ascii_lowercase(l.substr(0, colon)), std::string{value});
  }
}

/// The response head after any 1xx interim answers.
caf::expected<response_head> read_head(reader& in, size_t cap) {
  size_t budget = cap;
  for (;;) {
    auto line = head_line(in, budget, cap);
    if (!line)
      return line.error();
    response_head head;
    head.status = parse_status_line(*line);
    if (head.status == 0)
      return malformed("not an HTTP/1.x status line");
    if (auto err = read_fields(in, budget, cap, head.headers))
      return err;
    if (head.status == 101)
      return malformed("an unrequested protocol switch");
    if (head.status >= 200)
      return head;
    // 100 Continue, 102, 103 Early Hints: the real answer follows.
  }
}

enum class framing { none, length, chunked, until_close };

struct body_frame {
  framing kind = framing::until_close;
  size_t length = 0;
};

caf::expected<body_frame> frame_of(const response_head& head, std::string_view method) {
  body_frame f;
  if (method == "HEAD" || head.status == 204 || head.status == 304) {
    f.kind = framing::none;
    return f;
  }
  bool has_te = false;
  std::string te;
  std::string content_length;
  for (const auto& [name, value] : head.headers) {
    if (name == "transfer-encoding") {
      has_te = true;
      te = te.empty() ? value : te + "," + value;
    } else if (name == "content-length") {
      // Repeated (or listed) lengths must agree; anything else is a smuggling attempt.
      std::string_view rest{value};
      while (!rest.empty()) {
        auto comma = rest.find(',');
        auto item = trim_blanks(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        if (item.empty() || item.size() > 18
            || !std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; }))
          return malformed("a bad Content-Length");
        if (!content_length.empty() && content_length != item)
          return malformed("conflicting Content-Length values");
        content_length = std::string{item};
      }
      if (content_length.empty())
        return malformed("a bad Content-Length");
    }
  }
  if (has_te) {
    // Transfer-Encoding wins over Content-Length; chunked must be the last coding.
    auto codings = ascii_lowercase(te);
    auto last = codings.rfind(',');
    auto final_coding
      = trim_blanks(std::string_view{codings}.substr(last == std::string::npos ? 0 : last + 1));
    f.kind = final_coding == "chunked" ? framing::chunked : framing::until_close;
    return f;
  }
  if (!content_length.empty()) {
    f.kind = framing::length;
    f.length = static_cast<size_t>(std::stoull(content_length));
  }
  return f;
}

/// A chunk size: hex digits, then optional extensions after ';'.
caf::expected<size_t> parse_chunk_size(std::string_view line) {
  size_t digits = 0;
  size_t size = 0;
  while (digits < line.size() && std::isxdigit(static_cast<unsigned char>(line[digits]))) {
    if (digits == 15)
      return malformed("a chunk size too large");
    auto c = static_cast<char>(std::tolower(static_cast<unsigned char>(line[digits])));
    size = size * 16 + static_cast<size_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    ++digits;
  }
  if (digits == 0)
    return malformed("a bad chunk size");
  auto rest = trim_blanks(line.substr(digits));
  if (!rest.empty() && rest.front() != ';')
    return malformed("a bad chunk size");
  return size;
}

caf::expected<bool> read_chunked(reader& in, size_t header_cap, const body_handler& on_body) {
  auto too_long = malformed("a chunk-size line longer than " + std::to_string(max_chunk_line)
                            + " bytes");
  for (;;) {
    auto line = in.line(max_chunk_line, too_long);
    if (!line)
      return line.error();
    auto size = parse_chunk_size(*line);
    if (!size)
      return size.error();
    if (*size == 0) {
      std::vector<std::pair<std::string, std::string>> trailers;
      size_t budget = header_cap;
      if (auto err = read_fields(in, budget, header_cap, trailers))
        return err;
      return true;
    }
    auto more = in.body(*size, false, on_body);
    if (!more || !*more)
      return more;
    auto end = in.line(2, malformed("no line end after a chunk"));
    if (!end)
      return end.error();
    if (!end->empty())
      return malformed("no line end after a chunk");
  }
}

caf::expected<std::string> request_text(const client_request& req) {
  if (!is_token(req.method))
    return make_error(ec::invalid_argument, "bad request method");
  if (!is_request_target(req.target))
    return make_error(ec::invalid_argument, "bad request path");
  std::string out;
  out.reserve(256 + req.body.size());
  out.append(req.method).append(" ").append(req.target).append(" HTTP/1.1\r\n");
  bool has_host = false;
  for (const auto& [name, value] : req.headers) {
    if (!is_token(name) || !is_field_value(value))
      return make_error(ec::invalid_argument, "header " + name + " has a bad character");
    auto lower = ascii_lowercase(name);
    // The framing is ours to say.
    if (lower == "content-length" || lower == "transfer-encoding" || lower == "connection")
      continue;
    has_host = has_host || lower == "host";
  }
  if (!has_host) {
    if (!is_field_value(req.host) || req.host.empty())
      return make_error(ec::invalid_argument, "bad Host");
    out.append("Host: ").append(req.host).append("\r\n");
  }
  for (const auto& [name, value] : req.headers) {
    auto lower = ascii_lowercase(name);
    if (lower == "content-length" || lower == "transfer-encoding" || lower == "connection")
      continue;
    out.append(name).append(": ").append(value).append("\r\n");
  }
  if (req.has_body)
    out.append("Content-Length: ").append(std::to_string(req.body.size())).append("\r\n");
  out.append("Connection: close\r\n\r\n");
  if (req.has_body)
    out.append(req.body);
  return out;
}

} // namespace

caf::expected<long> exchange(const client_target& target, const client_request& req,
                             const client_limits& limits, canceller* cancel,
                             const head_handler& on_head, const body_handler& on_body) {
  auto text = request_text(req);
  if (!text)
    return text.error();
  auto sock = client_socket::open(target, std::min(limits.connect_deadline, limits.deadline),
                                  cancel);
  if (!sock)
    return sock.error();
  if (auto err = sock->write_all(*text, limits.deadline))
    return err;
  byte_source from_socket = [&](char* buf, size_t size) {
    return sock->read_some(buf, size, limits.deadline);
  };
  return read_response(from_socket, req.method, limits.max_header_bytes, on_head, on_body);
}

caf::expected<long> read_response(const byte_source& source, std::string_view method,
                                  size_t max_header_bytes, const head_handler& on_head,
                                  const body_handler& on_body) {
  reader in{source};
  auto head = read_head(in, max_header_bytes);
  if (!head)
    return head.error();
  auto frame = frame_of(*head, method);
  if (!frame)
    return frame.error();
  if (on_head)
    on_head(*head);
  caf::expected<bool> done = true;
  switch (frame->kind) {
    case framing::none:
      break;
    case framing::length:
      done = in.body(frame->length, false, on_body);
      break;
    case framing::chunked:
      done = read_chunked(in, max_header_bytes, on_body);
      break;
    case framing::until_close:
      done = in.body(0, true, on_body);
      break;
  }
  if (!done)
    return done.error();
  return head->status;
}

} // namespace tf::net
