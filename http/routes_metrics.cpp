// GET /metrics in the Prometheus text format, outside /api: a loopback scraper needs no
// token. The store's counts, the engine's health as the reconciler knows it, and the
// process's own figures.
#include "http/ask.hpp"
#include "http/route_helpers.hpp"
#include "http/routes.hpp"
#include "http/server.hpp"
#include "http/store_views.hpp"

#include <httplib.h>

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <initializer_list>
#include <set>

#ifndef TINYFORGE_VERSION
#define TINYFORGE_VERSION "unknown"
#endif

namespace tf::http {

namespace {

/// A Prometheus label value: backslash, double quote and newline escaped.
std::string label_value(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

/// Resident memory from /proc/self/statm (pages), in bytes; -1 when unreadable.
int64_t resident_bytes() {
  std::ifstream statm{"/proc/self/statm"};
  int64_t size = 0;
  int64_t resident = 0;
  if (!(statm >> size >> resident) || resident < 0)
    return -1;
  return resident * static_cast<int64_t>(::sysconf(_SC_PAGESIZE));
}

class prom_text {
public:
  void family(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void sample(const std::string& name_and_labels, double value) {
    out_ += name_and_labels;
    out_ += ' ';
    auto whole = static_cast<int64_t>(value);
    out_ += static_cast<double>(whole) == value ? std::to_string(whole) : std::to_string(value);
    out_ += '\n';
  }
  std::string take() { return std::move(out_); }

private:
  std::string out_;
};

/// Every value of a labelled count, with zeros for the known values not counted.
void counts_with_zeros(prom_text& t, const std::string& name, const char* label,
                       const std::vector<labelled_count>& xs,
                       std::initializer_list<const char*> known) {
  std::set<std::string> seen;
  for (const auto& x : xs) {
    seen.insert(x.first);
    t.sample(name + "{" + label + "=\"" + label_value(x.first) + "\"}",
             static_cast<double>(x.count));
  }
  for (const auto* k : known)
    if (seen.count(k) == 0)
      t.sample(name + "{" + label + "=\"" + k + "\"}", 0);
}

void get_metrics(const server_context& ctx, std::chrono::steady_clock::time_point started,
                 req_t, res_t res) {
  auto m = ask<store_metrics>(*ctx.sys, read_through<store_overview_reader_actor>(ctx), ctx.request_timeout,
                              atom::get_v, atom::metrics_v);
  if (!m)
    return render_error(res, m.error());
  auto docker = ask<std::string>(*ctx.sys, ctx.reconciler, ctx.request_timeout, atom::status_v);
  prom_text t;
  t.family("tinyforge_build_info", "gauge", "The running build; the value is always 1.");
  t.sample(std::string{"tinyforge_build_info{version=\""} + label_value(TINYFORGE_VERSION) + "\"}",
           1);
  t.family("tinyforge_uptime_seconds", "gauge", "Seconds since the HTTP server started.");
  auto up = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  t.sample("tinyforge_uptime_seconds", static_cast<double>(static_cast<int64_t>(up)));
  auto rss = resident_bytes();
  if (rss >= 0) {
    t.family("process_resident_memory_bytes", "gauge", "Resident memory of the daemon.");
    t.sample("process_resident_memory_bytes", static_cast<double>(rss));
  }
  t.family("tinyforge_docker_up", "gauge", "1 when the Docker engine answered last, else 0.");
  t.sample("tinyforge_docker_up", docker && *docker == "ok" ? 1 : 0);
  t.family("tinyforge_workloads", "gauge", "Projects, stacks and sites.");
  t.sample("tinyforge_workloads", static_cast<double>(m->workloads));
  t.family("tinyforge_apps", "gauge", "Apps (groups of workloads).");
  t.sample("tinyforge_apps", static_cast<double>(m->apps));
  t.family("tinyforge_containers", "gauge", "Rows of the containers index by kind and state.");
  for (const auto& c : m->containers)
    t.sample("tinyforge_containers{kind=\"" + label_value(c.first) + "\",state=\""
               + label_value(c.second) + "\"}",
             static_cast<double>(c.count));
  t.family("tinyforge_deployments", "gauge", "Deployments kept, by status.");
  counts_with_zeros(t, "tinyforge_deployments", "status", m->deployments,
                    {"queued", "running", "succeeded", "failed", "superseded"});
  t.family("tinyforge_webhook_deliveries", "gauge",
           "Webhook deliveries kept in the log, by result.");
  counts_with_zeros(t, "tinyforge_webhook_deliveries", "result", m->deliveries,
                    {"accepted", "duplicate", "rejected", "ignored", "unchanged"});
  res.status = 200;
  res.set_content(t.take(), "text/plain; version=0.0.4; charset=utf-8");
}

} // namespace

void install_metrics_route(route_table& http, const server_context& ctx) {
  auto started = std::chrono::steady_clock::now();
  http.Get("/metrics", [&ctx, started](req_t req, res_t res) {
    get_metrics(ctx, started, req, res);
  });
}

} // namespace tf::http
