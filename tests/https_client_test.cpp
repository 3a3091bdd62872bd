// http_call over https (notification URLs): the peer's certificate must chain to a trusted
// CA and name the host dialled. A throwaway CA (made with the openssl CLI) is trusted
// through SSL_CERT_FILE, which OpenSSL's default verify paths honour.
#include "expect.hpp"
#include "helpers.hpp"
#include "net.hpp"
#include "net/http_call.hpp"

#include <doctest/doctest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstdlib>
#include <fstream>
#include <future>
#include <thread>

using namespace tf;
using namespace tf::test;
using namespace std::chrono_literals;

namespace {

void run(const std::string& command) {
  INFO(command);
  REQUIRE(std::system((command + " >/dev/null 2>&1").c_str()) == 0);
}

/// A CA, a server certificate it signs for `san` (e.g. "IP:127.0.0.1"); paths in `dir`.
struct test_pki {
  explicit test_pki(const temp_dir& dir) : dir_{dir} {
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
        " -subj /CN=tinyforge-test-ca -addext basicConstraints=critical,CA:TRUE"
        " -addext keyUsage=critical,keyCertSign,cRLSign -keyout "
        + dir.file("ca.key") + " -out " + dir.file("ca.pem"));
  }
  /// Signed by the CA; returns the name prefix of its .pem and .key.
  std::string signed_for(const std::string& name, const std::string& san) const {
    auto base = dir_.file(name);
    run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=" + name
        + " -keyout " + base + ".key -out " + base + ".csr");
    std::ofstream{base + ".ext"} << "subjectAltName=" << san << "\n";
    run("openssl x509 -req -days 2 -in " + base + ".csr -CA " + dir_.file("ca.pem") + " -CAkey "
        + dir_.file("ca.key") + " -CAcreateserial -extfile " + base + ".ext -out " + base
        + ".pem");
    return base;
  }
  /// Signed by itself, naming 127.0.0.1 all the same.
  std::string self_signed(const std::string& name) const {
    auto base = dir_.file(name);
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
        " -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout "
        + base + ".key -out " + base + ".pem");
    return base;
  }
  std::string ca() const { return dir_.file("ca.pem"); }

private:
  const temp_dir& dir_;
};

/// One TLS connection on 127.0.0.1 with the certificate `base`.pem: answers 200 "secure"
/// and records the request, or records that the handshake failed.
class tls_server {
public:
  explicit tls_server(const std::string& base)
    : ctx_{SSL_CTX_new(TLS_server_method())},
      listen_{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)} {
    REQUIRE(ctx_ != nullptr);
    REQUIRE(SSL_CTX_use_certificate_chain_file(ctx_, (base + ".pem").c_str()) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey_file(ctx_, (base + ".key").c_str(), SSL_FILETYPE_PEM) == 1);
    REQUIRE(listen_);
    auto addr = loopback(0);
    REQUIRE(::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    socklen_t len = sizeof(addr);
    REQUIRE(::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    REQUIRE(::listen(listen_.get(), 4) == 0);
    thread_ = std::thread{[this] { serve(); }};
  }
  ~tls_server() {
    ::shutdown(listen_.get(), SHUT_RDWR);
    thread_.join();
    SSL_CTX_free(ctx_);
  }
  tls_server(const tls_server&) = delete;
  tls_server& operator=(const tls_server&) = delete;

  uint16_t port() const { return port_; }
  /// The request, or "handshake failed".
  std::string outcome() { return outcome_.get_future().get(); }

private:
  void serve() {
    socket_fd conn{::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC)};
    if (!conn) {
      outcome_.set_value("no connection");
      return;
    }
    timeval bound{static_cast<time_t>(io_bound.count()), 0}; // a stuck client fails, never hangs
    ::setsockopt(conn.get(), SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof(bound));
    auto* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, conn.get());
    if (SSL_accept(ssl) != 1) {
      ERR_clear_error();
      SSL_free(ssl);
      outcome_.set_value("handshake failed");
      return;
    }
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      auto n = SSL_read(ssl, buf, sizeof(buf));
      if (n <= 0)
        break;
      request.append(buf, static_cast<size_t>(n));
    }
    std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure";
    SSL_write(ssl, answer.data(), static_cast<int>(answer.size()));
    SSL_shutdown(ssl);
    SSL_free(ssl);
    outcome_.set_value(request);
  }

  SSL_CTX* ctx_ = nullptr;
  socket_fd listen_;
  uint16_t port_ = 0;
  std::promise<std::string> outcome_;
  std::thread thread_;
};

caf::expected<net::http_response> post(uint16_t port, const std::string& host = "127.0.0.1") {
  net::http_request req;
  req.method = "POST";
  req.url = "https://" + host + ":" + std::to_string(port) + "/hook";
  req.body = R"({"event":"x"})";
  req.timeout = 10s;
  return net::http_call(req);
}

} // namespace

TEST_CASE("https: a certificate from a trusted CA for the host is accepted, a self-signed or "
          "misnamed one is refused before anything is sent") {
  temp_dir dir;
  test_pki pki{dir};
  // Before the client's first TLS use in this process: its context reads this once.
  REQUIRE(::setenv("SSL_CERT_FILE", pki.ca().c_str(), 1) == 0);

  {
    tls_server good{pki.signed_for("good", "IP:127.0.0.1")};
    auto res = post(good.port());
    REQUIRE_MESSAGE(res, message_of(res));
    CHECK(res->status == 200);
    CHECK(res->body == "secure");
    auto sent = good.outcome();
    CHECK(sent.rfind("POST /hook HTTP/1.1\r\n", 0) == 0);
  }
  {
    tls_server self{pki.self_signed("self")};
    auto res = post(self.port());
    CHECK(code_of(res) == "unavailable");
    CHECK(contains(message_of(res), "certificate"));
    CHECK(self.outcome() == "handshake failed");
  }
  {
    tls_server misnamed{pki.signed_for("other", "DNS:other.example")};
    auto res = post(misnamed.port());
    CHECK(code_of(res) == "unavailable");
    CHECK(misnamed.outcome() == "handshake failed");
  }
  {
    // A DNS name is checked the same way: localhost is not in this certificate.
    tls_server by_ip{pki.signed_for("iponly", "IP:127.0.0.1")};
    auto res = post(by_ip.port(), "localhost");
    CHECK(code_of(res) == "unavailable");
    CHECK(by_ip.outcome() == "handshake failed");
  }
}
