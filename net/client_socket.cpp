#include "net/client_socket.hpp"

#include "core/errors.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace tf::net {

namespace {

/// A connect() in progress may not be woken by shutdown(): its wait checks the canceller
/// at least this often.
constexpr std::chrono::milliseconds connect_check{250};

std::string errno_text(int err) {
  return std::strerror(err);
}

std::string openssl_text() {
  auto code = ERR_get_error();
  ERR_clear_error();
  if (code == 0)
    return "TLS failure";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

// -- a socket BIO that never raises SIGPIPE ------------------------------------------------
// OpenSSL's own socket BIO writes with write(), which kills a process that does not ignore
// SIGPIPE when the peer has gone; the daemon keeps SIGPIPE's default for its children.

int fd_of(BIO* b) {
  return static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(b)));
}

int bio_write(BIO* b, const char* data, int size) {
  BIO_clear_retry_flags(b);
  auto n = ::send(fd_of(b), data, static_cast<size_t>(size), MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    BIO_set_retry_write(b);
  return static_cast<int>(n);
}

int bio_read(BIO* b, char* data, int size) {
  BIO_clear_retry_flags(b);
  auto n = ::recv(fd_of(b), data, static_cast<size_t>(size), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    BIO_set_retry_read(b);
  return static_cast<int>(n);
}

long bio_ctrl(BIO*, int cmd, long, void*) {
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

BIO_METHOD* socket_bio_method() {
  static BIO_METHOD* method = [] {
    auto* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tf-socket");
    if (m != nullptr) {
      BIO_meth_set_write(m, bio_write);
      BIO_meth_set_read(m, bio_read);
      BIO_meth_set_ctrl(m, bio_ctrl);
      BIO_meth_set_create(m, bio_create);
    }
    return m;
  }();
  return method;
}

/// One context for every TLS connection: peer verification against the system CAs (or
/// SSL_CERT_FILE / SSL_CERT_DIR), TLS 1.2 at least. Made on first use, so a daemon that
/// posts no https notification never loads a CA store.
SSL_CTX* tls_context() {
  static SSL_CTX* ctx = [] {
    auto* c = SSL_CTX_new(TLS_client_method());
    if (c == nullptr)
      return c;
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_set_default_verify_paths(c) != 1) {
      SSL_CTX_free(c);
      return static_cast<SSL_CTX*>(nullptr);
    }
    return c;
  }();
  return ctx;
}

bool is_ip_literal(const std::string& host) {
  in6_addr v6{};
  in_addr v4{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 || inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

int remaining_ms(client_clock::time_point deadline) {
  if (deadline == no_deadline)
    return -1;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - client_clock::now());
  if (left.count() <= 0)
    return 0;
  // Rounded up, so a wait that ends early for rounding does not spin.
  return static_cast<int>(std::min<long long>(left.count() + 1, 24LL * 3600 * 1000));
}

/// A socket of `family` registered with the canceller, or -1 with errno.
int open_registered(int family, canceller* cancel) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0 && cancel != nullptr)
    cancel->add_socket(fd);
  return fd;
}

void close_registered(int fd, canceller* cancel) {
  if (fd < 0)
    return;
  // Before close: once closed, the number can be reused by another thread's socket.
  if (cancel != nullptr)
    cancel->remove_socket(fd);
  ::close(fd);
}

caf::error timed_out() {
  return make_error(ec::timeout, "no answer in time");
}

caf::error cancelled_now() {
  return make_error(ec::unavailable, "cancelled (shutting down)");
}

/// Waits for a non-blocking connect() on `fd` to finish: 0 or the errno it failed with.
int finish_connect(int fd, client_clock::time_point deadline, canceller* cancel,
                   bool& timed_out_flag) {
  for (;;) {
    if (cancel != nullptr && cancel->cancelled())
      return ECANCELED;
    auto left = remaining_ms(deadline);
    if (left == 0) {
      timed_out_flag = true;
      return ETIMEDOUT;
    }
    auto slice = left < 0 ? static_cast<int>(connect_check.count())
                          : std::min(left, static_cast<int>(connect_check.count()));
    pollfd p{fd, POLLOUT, 0};
    auto ready = ::poll(&p, 1, slice);
    if (ready < 0 && errno != EINTR)
      return errno;
    if (ready <= 0)
      continue;
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
      return errno;
    return err;
  }
}

} // namespace

// -- canceller -------------------------------------------------------------------------------

void canceller::cancel() {
  std::lock_guard<std::mutex> guard{mx_};
  cancelled_ = true;
  // shutdown, not close: the connection still owns the descriptor and closes it itself.
  for (auto fd : sockets_)
    ::shutdown(fd, SHUT_RDWR);
}

void canceller::add_socket(int fd) {
  std::lock_guard<std::mutex> guard{mx_};
  sockets_.insert(fd);
  if (cancelled_)
    ::shutdown(fd, SHUT_RDWR); // opened after cancel(): fail it at once
}

void canceller::remove_socket(int fd) {
  // Under the lock, before the descriptor is closed and its number can be reused.
  std::lock_guard<std::mutex> guard{mx_};
  sockets_.erase(fd);
}

// -- client_socket ---------------------------------------------------------------------------

caf::expected<client_socket> client_socket::open(const client_target& target,
                                                 client_clock::time_point deadline,
                                                 canceller* cancel) {
  if (cancel != nullptr && cancel->cancelled())
    return cancelled_now();
  if (!target.unix_path.empty()) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (target.unix_path.size() >= sizeof(addr.sun_path))
      return make_error(ec::invalid_argument, "unix socket path too long: " + target.unix_path);
    std::memcpy(addr.sun_path, target.unix_path.data(), target.unix_path.size());
    int fd = open_registered(AF_UNIX, cancel);
    if (fd < 0)
      return make_error(ec::unavailable, "socket: " + errno_text(errno));
    client_socket sock{fd, cancel};
    int err = 0;
    bool late = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
      // EAGAIN on a unix socket is a full backlog, not a connect in progress: a failure.
      err = errno == EINPROGRESS ? finish_connect(fd, deadline, cancel, late) : errno;
    if (late)
      return timed_out();
    if (sock.cancelled())
      return cancelled_now();
    if (err != 0)
      return make_error(ec::unavailable,
                        "cannot connect to " + target.unix_path + ": " + errno_text(err));
    return sock;
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  auto port = std::to_string(target.port);
  std::string where = target.host + ":" + port;
  // getaddrinfo blocks without a deadline of its own; our peers are loopback, IP literals
  // or names the resolver answers quickly.
  if (auto rc = ::getaddrinfo(target.host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return make_error(ec::unavailable, "cannot resolve " + target.host + ": " + gai_strerror(rc));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> addresses{found, ::freeaddrinfo};

  std::string last_error = "no address";
  for (auto* ai = found; ai != nullptr; ai = ai->ai_next) {
    if (target.address_check) {
      if (auto why = target.address_check(ai->ai_addr); !why.empty()) {
        last_error = std::move(why);
        continue; // never connected to
      }
    }
    int fd = open_registered(ai->ai_family, cancel);
    if (fd < 0) {
      last_error = errno_text(errno);
      continue;
    }
    client_socket sock{fd, cancel};
    if (!target.source_address.empty()) {
      addrinfo local_hints{};
      local_hints.ai_family = ai->ai_family;
      local_hints.ai_socktype = SOCK_STREAM;
      local_hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
      addrinfo* local = nullptr;
      if (::getaddrinfo(target.source_address.c_str(), nullptr, &local_hints, &local) != 0) {
        last_error = "source address " + target.source_address + " does not fit";
        continue;
      }
      auto bound = ::bind(fd, local->ai_addr, local->ai_addrlen);
      ::freeaddrinfo(local);
      if (bound != 0) {
        last_error = "cannot bind " + target.source_address + ": " + errno_text(errno);
        continue;
      }
    }
    int err = 0;
    bool late = false;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
      err = errno == EINPROGRESS ? finish_connect(fd, deadline, cancel, late) : errno;
    if (late)
      return timed_out();
    if (sock.cancelled())
      return cancelled_now();
    if (err != 0) {
      last_error = errno_text(err);
      continue;
    }
    if (target.tls)
      if (auto tls_err = sock.start_tls(target.host, deadline))
        return tls_err;
    return sock;
  }
  return make_error(ec::unavailable, "cannot connect to " + where + ": " + last_error);
}

client_socket::client_socket(client_socket&& other) noexcept
  : fd_{other.fd_}, cancel_{other.cancel_}, ssl_{other.ssl_} {
  other.fd_ = -1;
  other.ssl_ = nullptr;
}

client_socket::~client_socket() {
  if (ssl_ != nullptr)
    SSL_free(static_cast<SSL*>(ssl_)); // no close_notify: the request is over either way
  close_registered(fd_, cancel_);
}

caf::error client_socket::cancelled_error() const {
  return cancelled_now();
}

caf::error client_socket::wait_for(short events, client_clock::time_point deadline) {
  for (;;) {
    auto left = remaining_ms(deadline);
    if (left == 0)
      return timed_out();
    pollfd p{fd_, events, 0};
    auto ready = ::poll(&p, 1, left);
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready < 0)
      return make_error(ec::unavailable, "poll: " + errno_text(errno));
    if (ready > 0)
      return {}; // readable, writable, or hung up: the next read or write tells which
  }
}

caf::error client_socket::start_tls(const std::string& host, client_clock::time_point deadline) {
  auto* ctx = tls_context();
  auto* method = socket_bio_method();
  if (ctx == nullptr || method == nullptr)
    return make_error(ec::unavailable, "TLS is not available: " + openssl_text());
  auto* ssl = SSL_new(ctx);
  if (ssl == nullptr)
    return make_error(ec::unavailable, "TLS: " + openssl_text());
  ssl_ = ssl;
  auto* bio = BIO_new(method);
  if (bio == nullptr)
    return make_error(ec::unavailable, "TLS: " + openssl_text());
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(fd_)));
  SSL_set_bio(ssl, bio, bio);
  // The certificate must name the host we dialled: a DNS name (also sent as SNI) or an IP.
  if (is_ip_literal(host)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) != 1)
      return make_error(ec::unavailable, "TLS: cannot verify against " + host);
  } else if (SSL_set_tlsext_host_name(ssl, host.c_str()) != 1
             || SSL_set1_host(ssl, host.c_str()) != 1) {
    return make_error(ec::unavailable, "TLS: cannot verify against " + host);
  }
  for (;;) {
    ERR_clear_error();
    auto rc = SSL_connect(ssl);
    if (rc == 1)
      break;
    auto again = retry_tls(SSL_get_error(ssl, rc), deadline);
    if (!again)
      return again.error();
    if (*again)
      continue;
    auto verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK)
      return make_error(ec::unavailable, std::string{"TLS: certificate not trusted: "}
                                           + X509_verify_cert_error_string(verify));
    return make_error(ec::unavailable, "TLS handshake failed: " + openssl_text());
  }
  return {};
}

caf::error client_socket::write_all(std::string_view data, client_clock::time_point deadline) {
  auto* ssl = static_cast<SSL*>(ssl_);
  while (!data.empty()) {
    if (ssl != nullptr) {
      size_t written = 0;
      ERR_clear_error();
      if (SSL_write_ex(ssl, data.data(), data.size(), &written) == 1) {
        data.remove_prefix(written);
        continue;
      }
      auto again = retry_tls(SSL_get_error(ssl, 0), deadline);
      if (!again)
        return again.error();
      if (*again)
        continue;
      return make_error(ec::unavailable, "TLS write failed: " + openssl_text());
    }
    auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (auto err = wait_for(POLLOUT, deadline))
        return err;
      continue;
    }
    if (cancelled())
      return cancelled_now();
    return make_error(ec::unavailable, "send: " + errno_text(errno));
  }
  return {};
}

caf::expected<bool> client_socket::retry_tls(int why, client_clock::time_point deadline) {
  if (why == SSL_ERROR_WANT_READ || why == SSL_ERROR_WANT_WRITE) {
    if (auto err = wait_for(why == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
      return err;
    return true;
  }
  if (cancelled())
    return cancelled_now();
  return false;
}

caf::expected<size_t> client_socket::read_some(char* buf, size_t size,
                                               client_clock::time_point deadline) {
  auto* ssl = static_cast<SSL*>(ssl_);
  for (;;) {
    if (ssl != nullptr) {
      size_t got = 0;
      ERR_clear_error();
      if (SSL_read_ex(ssl, buf, size, &got) == 1)
        return got;
      auto why = SSL_get_error(ssl, 0);
      auto again = retry_tls(why, deadline);
      if (!again)
        return again.error();
      if (*again)
        continue;
      if (why == SSL_ERROR_ZERO_RETURN)
        return size_t{0}; // the peer closed the TLS session cleanly
      // A close without close_notify may be a truncation: an error, never an end.
      return make_error(ec::unavailable, "TLS read failed: " + openssl_text());
    }
    auto n = ::recv(fd_, buf, size, 0);
    if (n > 0)
      return static_cast<size_t>(n);
    if (n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
      // A shut down socket reads as closed: it ends nothing, it was cancelled.
      if (cancelled())
        return cancelled_now();
      if (n == 0)
        return size_t{0};
      return make_error(ec::unavailable, "recv: " + errno_text(errno));
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      if (auto err = wait_for(POLLIN, deadline))
        return err;
  }
}

} // namespace tf::net
