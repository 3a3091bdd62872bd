// A load generator for the zero-downtime checks: N threads, each with one keep-alive
// HTTP/1.1 client, sending GET <path> with a Host header to a proxy on 127.0.0.1 without
// pause, and counting what comes back: responses by status, bodies of the 2xx ones, and
// transport errors (connect, read, write, timeout) by kind. No doctest in here, so the bench
// programs use it too.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tf::test {

/// What a load run saw.
struct load_counts {
  int64_t ok = 0;                             // 2xx responses
  int64_t non_2xx = 0;                        // every other status
  int64_t transport_errors = 0;               // no response at all
  std::map<int, int64_t> by_status;           // every status seen
  std::map<std::string, int64_t> by_body;     // bodies of the 2xx responses ("v1", "v2")
  std::map<std::string, int64_t> by_error;    // httplib::to_string(error) of transport errors
  int64_t failed() const { return non_2xx + transport_errors; }
  int64_t total() const { return ok + failed(); }

  void add(const load_counts& o) {
    ok += o.ok;
    non_2xx += o.non_2xx;
    transport_errors += o.transport_errors;
    for (const auto& [k, v] : o.by_status)
      by_status[k] += v;
    for (const auto& [k, v] : o.by_body)
      by_body[k] += v;
    for (const auto& [k, v] : o.by_error)
      by_error[k] += v;
  }

  /// "ok=1234 non2xx=0 transport_errors=0 statuses={200:1234} bodies={v1:600,v2:634}
  /// errors={}": for a MESSAGE or a bench line.
  std::string describe() const {
    std::ostringstream out;
    out << "ok=" << ok << " non2xx=" << non_2xx << " transport_errors=" << transport_errors
        << " statuses={";
    const char* sep = "";
    for (const auto& [k, v] : by_status) {
      out << sep << k << ":" << v;
      sep = ",";
    }
    out << "} bodies={";
    sep = "";
    for (const auto& [k, v] : by_body) {
      out << sep << (k.size() > 16 ? k.substr(0, 16) + "..." : k) << ":" << v;
      sep = ",";
    }
    out << "} errors={";
    sep = "";
    for (const auto& [k, v] : by_error) {
      out << sep << k << ":" << v;
      sep = ",";
    }
    out << "}";
    return out.str();
  }
};

/// Runs from construction until stop() (or destruction): `threads` clients hammering
/// http://127.0.0.1:<port><path> with `Host: <host>`.
class load_generator {
public:
  load_generator(uint16_t port, std::string host, std::string path = "/version", int threads = 8)
    : port_{port}, host_{std::move(host)}, path_{std::move(path)} {
    per_thread_.resize(static_cast<size_t>(threads));
    for (int i = 0; i < threads; ++i)
      workers_.emplace_back([this, i] { run(per_thread_[static_cast<size_t>(i)]); });
  }
  load_generator(const load_generator&) = delete;
  load_generator& operator=(const load_generator&) = delete;
  ~load_generator() { stop(); }

  /// Stops every thread (each finishes the request it is in) and returns the sum.
  load_counts stop() {
    stop_.store(true);
    for (auto& t : workers_)
      if (t.joinable())
        t.join();
    load_counts sum;
    for (const auto& c : per_thread_)
      sum.add(c);
    return sum;
  }

  /// Responses counted so far (any status) by all threads: to wait until the load runs.
  int64_t answered() const { return answered_.load(); }

private:
  void run(load_counts& counts) {
    httplib::Client client{"127.0.0.1", port_};
    client.set_keep_alive(true);
    // Bounds well above what a healthy proxy takes, so a slow machine is not a failure but a
    // hang is.
    client.set_connection_timeout(std::chrono::seconds{5});
    client.set_read_timeout(std::chrono::seconds{10});
    client.set_write_timeout(std::chrono::seconds{5});
    const httplib::Headers headers{{"Host", host_}};
    while (!stop_.load()) {
      auto res = client.Get(path_.c_str(), headers);
      if (!res) {
        ++counts.transport_errors;
        ++counts.by_error[httplib::to_string(res.error())];
        continue;
      }
      answered_.fetch_add(1);
      ++counts.by_status[res->status];
      if (res->status >= 200 && res->status < 300) {
        ++counts.ok;
        ++counts.by_body[res->body];
      } else {
        ++counts.non_2xx;
      }
    }
  }

  uint16_t port_;
  std::string host_;
  std::string path_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> answered_{0};
  std::vector<load_counts> per_thread_;
  std::vector<std::thread> workers_;
};

} // namespace tf::test
