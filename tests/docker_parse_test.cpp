// The Engine API parsers (docker/parse.hpp) on answers recorded from a real engine (Debian
// docker.io 20.10, API 1.41; see tests/data/engine/README.md), and on broken answers: malformed
// JSON, wrong types, truncated input, mutated bytes and huge nesting must each give an error
// value (ec::unavailable) and never crash. Also engine_error's status mapping, the log
// demultiplexer, url_encode, filters_json and endpoint::parse.
//
// The huge-nesting cases are last in the file: if one crashes the process, every other case has
// already run (doctest runs cases in file order; CTest runs each one in its own process anyway).
#include <doctest/doctest.h>

#include "expect.hpp"

#include "core/errors.hpp"
#include "docker/client.hpp"
#include "docker/parse.hpp"
#include "docker/transport.hpp"
#include "docker/types.hpp"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

using namespace std::string_literals;
namespace docker = tf::docker;

namespace {

/// The bytes of tests/data/engine/<name>.
std::string recorded(const std::string& name) {
  auto path = std::string{TINYFORGE_SOURCE_DIR} + "/tests/data/engine/" + name;
  std::ifstream in{path, std::ios::binary};
  REQUIRE_MESSAGE(in.good(), "cannot open ", path);
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// `s` without trailing whitespace (the engine ends its JSON answers with a newline).
std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.remove_suffix(1);
  return s;
}

std::string shown(std::string_view s) {
  return s.size() <= 200 ? std::string{s} : std::string{s.substr(0, 200)} + "...";
}

/// An error value with ec::unavailable and a message.
template <class T>
void check_refused(const caf::expected<T>& result, std::string_view input) {
  INFO("input: ", shown(input));
  REQUIRE_FALSE(result);
  CHECK(tf::error_code(result.error()) == tf::ec::unavailable);
  CHECK_FALSE(tf::error_message(result.error()).empty());
}

/// Every parser behind one signature, for the sweeps over all of them.
struct named_parser {
  const char* name;
  std::function<bool(std::string_view, caf::error&)> parse; // true: a value
};

template <class F>
named_parser wrap(const char* name, F f) {
  return {name, [f](std::string_view json, caf::error& err) {
            auto r = f(json);
            if (r)
              return true;
            err = r.error();
            return false;
          }};
}

std::vector<named_parser> all_parsers() {
  return {
    wrap("parse_version", [](std::string_view s) { return docker::parse_version(s); }),
    wrap("parse_container_list", [](std::string_view s) { return docker::parse_container_list(s); }),
    wrap("parse_container_details",
         [](std::string_view s) { return docker::parse_container_details(s); }),
    wrap("parse_image_list", [](std::string_view s) { return docker::parse_image_list(s); }),
    wrap("parse_image_details", [](std::string_view s) { return docker::parse_image_details(s); }),
    wrap("parse_network_list", [](std::string_view s) { return docker::parse_network_list(s); }),
    wrap("parse_event", [](std::string_view s) { return docker::parse_event(s); }),
    wrap("parse_created_id", [](std::string_view s) { return docker::parse_created_id(s); }),
  };
}

named_parser parser_named(const std::string& name) {
  for (auto& p : all_parsers())
    if (name == p.name)
      return p;
  FAIL("no parser ", name);
  return {};
}

/// Each recorded JSON answer with the parser it is the input of.
struct recorded_case {
  std::string file;
  std::string parser;
};

std::vector<recorded_case> recorded_cases() {
  return {
    {"version.json", "parse_version"},
    {"containers.json", "parse_container_list"},
    {"container_inspect.json", "parse_container_details"},
    {"container_inspect_exited.json", "parse_container_details"},
    {"images.json", "parse_image_list"},
    {"image_inspect.json", "parse_image_details"},
    {"networks.json", "parse_network_list"},
    {"networks_filtered.json", "parse_network_list"},
    {"created.json", "parse_created_id"},
  };
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    if (!line.empty())
      out.push_back(line);
  return out;
}

/// `depth` nested arrays: [[[...]]].
std::string nested_arrays(size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

constexpr const char* web_id = "f008d1528d6d8653f8c754975faf063c862c5ac3da94fd2408831f7e0bb67de2";
constexpr const char* web_image_id =
  "sha256:98f78bf103b10ce16e54428cdf0d99433acd2c229347d030b40303501d6e0487";

} // namespace

// --- recorded answers ------------------------------------------------------------------

TEST_CASE("parse_version: a recorded /version") {
  auto v = docker::parse_version(recorded("version.json"));
  REQUIRE(v);
  CHECK(v->version == "20.10.24+dfsg1");
  CHECK(v->api_version == "1.41");
  CHECK(v->min_api_version == "1.12");
  CHECK(v->os == "linux");
  CHECK(v->arch == "amd64");
}

TEST_CASE("parse_container_list: a recorded list with a labelled running container") {
  auto list = docker::parse_container_list(recorded("containers.json"));
  REQUIRE(list);
  REQUIRE(list->size() == 1);
  const auto& c = list->front();
  CHECK(c.id == web_id);
  CHECK(c.names == std::vector<std::string>{"/tf-record-web"});
  CHECK(c.image == "tinyforge-test/web:v1");
  CHECK(c.image_id == web_image_id);
  CHECK(c.state == "running");
  CHECK(c.status.rfind("Up ", 0) == 0);
  CHECK(c.created == 1795741775);
  CHECK(c.labels.at("tinyforge.test") == "true");
  CHECK(c.labels.at("tinyforge.test.run") == "record");
  CHECK(c.labels.at("tinyforge.test.variant") == "v1");
  CHECK(c.labels.size() == 4);
  REQUIRE(c.ports.size() == 1);
  CHECK(c.ports[0].private_port == 8080);
  CHECK(c.ports[0].public_port == 32772);
  CHECK(c.ports[0].type == "tcp");
  CHECK(c.ports[0].ip == "127.0.0.1");
}

TEST_CASE("parse_container_list: an empty list") {
  auto list = docker::parse_container_list("[]");
  REQUIRE(list);
  CHECK(list->empty());
  list = docker::parse_container_list(" [ ]\n");
  REQUIRE(list);
  CHECK(list->empty());
}

TEST_CASE("parse_container_details: a recorded inspect of a running container") {
  auto c = docker::parse_container_details(recorded("container_inspect.json"));
  REQUIRE(c);
  CHECK(c->id == web_id);
  CHECK(c->name == "tf-record-web"); // the engine's leading '/' is dropped
  CHECK(c->image == "tinyforge-test/web:v1");
  CHECK(c->image_id == web_image_id);
  CHECK(c->state == "running");
  CHECK(c->running);
  CHECK(c->exit_code == 0);
  CHECK(c->health.empty());
  CHECK(c->started_at == "2026-11-27T01:09:36.000737423Z");
  CHECK(c->finished_at == "0001-01-01T00:00:00Z");
  CHECK(c->restart_count == 0);
  CHECK(c->labels.at("tinyforge.test.run") == "record");
  CHECK(c->labels.size() == 4);
  CHECK(std::count(c->env.begin(), c->env.end(), "GREETING=hello") == 1);
  CHECK(c->env.size() == 2);
  REQUIRE(c->ports.size() == 1);
  CHECK(c->ports[0].private_port == 8080);
  CHECK(c->ports[0].public_port == 32772);
  CHECK(c->ports[0].type == "tcp");
  CHECK(c->ports[0].ip == "127.0.0.1");
}

TEST_CASE("parse_container_details: a recorded inspect of a stopped container") {
  auto c = docker::parse_container_details(recorded("container_inspect_exited.json"));
  REQUIRE(c);
  CHECK(c->id == web_id);
  CHECK(c->state == "exited");
  CHECK_FALSE(c->running);
  CHECK(c->exit_code == 0);
  CHECK(c->finished_at == "2026-11-27T01:09:43.885170206Z");
  CHECK(c->ports.empty()); // NetworkSettings.Ports is {} once stopped
}

TEST_CASE("parse_container_details: health / exposed-only ports / udp / several bindings") {
  auto c = docker::parse_container_details(R"({
    "Id": "abc", "Name": "no-slash", "Image": "sha256:1", "RestartCount": 3,
    "State": {"Status": "running", "Running": true, "ExitCode": 137,
              "Health": {"Status": "unhealthy", "FailingStreak": 4, "Log": []}},
    "Config": {"Image": "x:1", "Labels": null, "Env": null},
    "NetworkSettings": {"Ports": {
      "9000/tcp": null,
      "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
      "8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49153"}, {"HostIp": "::", "HostPort": "49153"}]
    }}})");
  REQUIRE(c);
  CHECK(c->name == "no-slash");
  CHECK(c->restart_count == 3);
  CHECK(c->exit_code == 137);
  CHECK(c->health == "unhealthy");
  CHECK(c->labels.empty());
  CHECK(c->env.empty());
  REQUIRE(c->ports.size() == 4);
  auto find = [&](int64_t priv, const std::string& ip) -> const docker::port_binding* {
    for (const auto& p : c->ports)
      if (p.private_port == priv && p.ip == ip)
        return &p;
    return nullptr;
  };
  auto exposed = find(9000, "");
  REQUIRE(exposed != nullptr);
  CHECK(exposed->public_port == 0);
  CHECK(exposed->type == "tcp");
  auto udp = find(53, "0.0.0.0");
  REQUIRE(udp != nullptr);
  CHECK(udp->type == "udp");
  CHECK(udp->public_port == 5353);
  auto v4 = find(8080, "0.0.0.0");
  auto v6 = find(8080, "::");
  REQUIRE(v4 != nullptr);
  REQUIRE(v6 != nullptr);
  CHECK(v4->public_port == 49153);
  CHECK(v6->public_port == 49153);
}

TEST_CASE("parse_container_details: only an Id") {
  auto c = docker::parse_container_details(R"({"Id":"abc"})");
  REQUIRE(c);
  CHECK(c->id == "abc");
  CHECK(c->state.empty());
  CHECK_FALSE(c->running);
  CHECK(c->ports.empty());
}

TEST_CASE("parse_image_list: a recorded list") {
  auto list = docker::parse_image_list(recorded("images.json"));
  REQUIRE(list);
  REQUIRE(list->size() == 3);
  std::vector<std::string> variants;
  for (const auto& img : *list) {
    CHECK(img.id.rfind("sha256:", 0) == 0);
    REQUIRE(img.repo_tags.size() == 1);
    CHECK(img.size > 0);
    CHECK(img.created > 0);
    CHECK(img.labels.at("tinyforge.test") == "true");
    CHECK(img.repo_tags[0] == "tinyforge-test/web:" + img.labels.at("tinyforge.test.variant"));
    variants.push_back(img.labels.at("tinyforge.test.variant"));
  }
  std::sort(variants.begin(), variants.end());
  CHECK(variants == std::vector<std::string>{"broken", "v1", "v2"});
  auto v1 = std::find_if(list->begin(), list->end(), [](const auto& i) {
    return i.repo_tags == std::vector<std::string>{"tinyforge-test/web:v1"};
  });
  REQUIRE(v1 != list->end());
  CHECK(v1->id == web_image_id);
  CHECK(v1->size == 1982384);
  CHECK(v1->created == 1795741746);
}

TEST_CASE("parse_image_list: an untagged image (RepoTags null)") {
  auto list = docker::parse_image_list(R"([{"Id":"sha256:1","RepoTags":null,"Created":5,"Size":7}])");
  REQUIRE(list);
  REQUIRE(list->size() == 1);
  CHECK(list->front().repo_tags.empty());
  CHECK(list->front().created == 5);
}

TEST_CASE("parse_image_details: a recorded inspect") {
  auto img = docker::parse_image_details(recorded("image_inspect.json"));
  REQUIRE(img);
  CHECK(img->id == web_image_id);
  CHECK(img->repo_tags == std::vector<std::string>{"tinyforge-test/web:v1"});
  CHECK(img->size == 1982384);
  // Inspect keeps the labels under Config.
  CHECK(img->labels.at("tinyforge.test") == "true");
  CHECK(img->labels.at("tinyforge.test.variant") == "v1");
  CHECK(img->labels.size() == 3);
}

TEST_CASE("parse_network_list: the recorded default networks and a labelled one") {
  auto list = docker::parse_network_list(recorded("networks.json"));
  REQUIRE(list);
  REQUIRE(list->size() == 3);
  std::map<std::string, std::string> drivers;
  for (const auto& n : *list) {
    CHECK(n.id.size() == 64);
    CHECK(n.labels.empty());
    drivers[n.name] = n.driver;
  }
  CHECK(drivers == std::map<std::string, std::string>{
                     {"bridge", "bridge"}, {"host", "host"}, {"none", "null"}});

  auto labelled = docker::parse_network_list(recorded("networks_filtered.json"));
  REQUIRE(labelled);
  REQUIRE(labelled->size() == 1);
  const auto& n = labelled->front();
  CHECK(n.id == "5eee5eb9468b9d87af8a1c2dd469582d3ccca46aeaa6903a4c563444eff297fd");
  CHECK(n.name == "tf-record-net");
  CHECK(n.driver == "bridge");
  CHECK(n.labels == docker::label_map{{"tinyforge.test", "true"},
                                      {"tinyforge.test.run", "record"}});
}

TEST_CASE("parse_event: recorded /events lines") {
  auto lines = lines_of(recorded("events.jsonl"));
  REQUIRE(lines.size() == 6);
  std::vector<docker::engine_event> events;
  for (const auto& line : lines) {
    INFO("line: ", shown(line));
    auto e = docker::parse_event(line);
    REQUIRE(e);
    CHECK_FALSE(e->type.empty());
    CHECK_FALSE(e->action.empty());
    CHECK(e->id.size() == 64);
    CHECK(e->time_nano > 0);
    events.push_back(*e);
  }
  const auto& create = events.front();
  CHECK(create.type == "container");
  CHECK(create.action == "create");
  CHECK(create.id == web_id);
  CHECK(create.time_nano == 1795741775599115073);
  CHECK(create.attributes.at("name") == "tf-record-web");
  CHECK(create.attributes.at("image") == "tinyforge-test/web:v1");
  CHECK(create.attributes.at("tinyforge.test.run") == "record");
  CHECK(events[1].action == "start");
  CHECK(events[1].id == web_id);
  CHECK(events[2].action == "die");
  CHECK(events[2].attributes.at("exitCode") == "0");
  CHECK(events[3].action == "kill");
  CHECK(events[3].attributes.at("signal") == "15");
  const auto& net = events.back();
  CHECK(net.type == "network");
  CHECK(net.action == "create");
  CHECK(net.attributes == docker::label_map{{"name", "tf-record-net"}, {"type", "bridge"}});
}

TEST_CASE("parse_created_id: a recorded create answer") {
  auto id = docker::parse_created_id(recorded("created.json"));
  REQUIRE(id);
  CHECK(*id == "6c5f11e826d0681b19dff5719573f631acfadf467e38440f43ea552be22ee2d2");
}

TEST_CASE("parsers ignore unknown fields") {
  auto v = docker::parse_version(R"({"ApiVersion":"1.43","Future":{"x":[1,2,{"y":null}]},"Os":"linux"})");
  REQUIRE(v);
  CHECK(v->api_version == "1.43");
  auto e = docker::parse_event(R"({"Type":"container","Action":"start","Actor":{"ID":"a","Attributes":{},"New":1},"scope":"local"})");
  REQUIRE(e);
  CHECK(e->id == "a");
}

// --- engine_error --------------------------------------------------------------------------

TEST_CASE("engine_error: recorded error bodies map onto our codes with the engine's message") {
  struct row {
    long status;
    const char* file;
    tf::ec code;
    const char* engine_says;
  };
  for (const auto& r : {
         row{400, "error_400.json", tf::ec::invalid_argument, "Invalid container name (bad name)"},
         row{404, "error_404.json", tf::ec::not_found, "No such container: no-such-container-tf"},
         row{409, "error_409.json", tf::ec::conflict,
             "Conflict. The container name \"/tf-record-web\" is already in use"},
         row{500, "error_500.json", tf::ec::unavailable, "port is already allocated"},
       }) {
    CAPTURE(r.status);
    auto err = docker::engine_error(r.status, recorded(r.file), "do the thing");
    REQUIRE(err);
    CHECK(tf::error_code(err) == r.code);
    auto msg = tf::error_message(err);
    INFO("message: ", msg);
    CHECK(msg.find(r.engine_says) != std::string::npos);
    CHECK(msg.find("do the thing") != std::string::npos);
    CHECK(msg.find(std::to_string(r.status)) != std::string::npos);
    CHECK(msg.find("{\"message\"") == std::string::npos); // the message, not the JSON
  }
}

TEST_CASE("engine_error: other statuses and bodies that are not the engine's JSON") {
  for (long status : {401L, 403L, 405L, 500L, 502L, 503L})
    CHECK(tf::error_code(docker::engine_error(status, R"({"message":"x"})", "w"))
          == tf::ec::unavailable);

  SUBCASE("plain text is quoted") {
    auto err = docker::engine_error(404, "page not found\n", "inspect");
    CHECK(tf::error_code(err) == tf::ec::not_found);
    CHECK(tf::error_message(err).find("page not found") != std::string::npos);
  }
  SUBCASE("a long body is cut at 200 bytes") {
    auto body = std::string(200, 'a') + std::string(300, 'b');
    auto msg = tf::error_message(docker::engine_error(500, body, "w"));
    CHECK(msg.find(std::string(200, 'a')) != std::string::npos);
    CHECK(msg.find('b') == std::string::npos);
  }
  SUBCASE("message of the wrong type, malformed JSON, an array, empty") {
    for (std::string body : {R"({"message":5})", R"({"message":)", "[1,2]", "", "null"}) {
      CAPTURE(body);
      auto err = docker::engine_error(409, body, "w");
      CHECK(tf::error_code(err) == tf::ec::conflict);
      CHECK_FALSE(tf::error_message(err).empty());
    }
  }
}

// --- api_version_number ----------------------------------------------------------------------

TEST_CASE("api_version_number") {
  CHECK(docker::api_version_number("1.41") == 1041);
  CHECK(docker::api_version_number("1.24") == 1024);
  CHECK(docker::api_version_number("1.12") == 1012);
  CHECK(docker::api_version_number("1.9") == 1009);
  CHECK(docker::api_version_number("2.0") == 2000);
  CHECK(docker::api_version_number("10.5") == 10005);
  CHECK(docker::api_version_number("1.9") < docker::api_version_number("1.10"));
  CHECK(docker::api_version_number("1.41") < docker::api_version_number("1.43"));
  CHECK(docker::api_version_number("1.43") < docker::api_version_number("2.0"));
  for (std::string bad : {"", "1", "1.", ".1", ".", "a.b", "1.4a", "v1.41", "1.2.3", "-1.2",
                          " 1.41", "1.41 ", "1,41", "1234567.12", "1.41\n"}) {
    CAPTURE(bad);
    CHECK(docker::api_version_number(bad) == -1);
  }
}

// --- demultiplex_logs ----------------------------------------------------------------------

TEST_CASE("demultiplex_logs: a recorded multiplexed body and a recorded TTY body") {
  auto framed = recorded("logs_multiplexed.bin");
  REQUIRE(framed.size() == 54);
  CHECK(docker::demultiplex_logs(framed) == "to stderr\nline one\nline three\n");
  CHECK(docker::demultiplex_logs(recorded("logs_tty.bin")) == "tty line\r\n");
}

TEST_CASE("demultiplex_logs: edge cases") {
  auto frame = [](char stream, std::string_view text) {
    std::string h{stream, 0, 0, 0};
    auto n = static_cast<uint32_t>(text.size());
    h += static_cast<char>(n >> 24);
    h += static_cast<char>((n >> 16) & 0xff);
    h += static_cast<char>((n >> 8) & 0xff);
    h += static_cast<char>(n & 0xff);
    return h + std::string{text};
  };
  CHECK(docker::demultiplex_logs("").empty());
  CHECK(docker::demultiplex_logs("short") == "short");
  CHECK(docker::demultiplex_logs("plain text, no frames\n") == "plain text, no frames\n");
  CHECK(docker::demultiplex_logs(frame(1, "")).empty());
  CHECK(docker::demultiplex_logs(frame(0, "in") + frame(1, "out") + frame(2, "err")) == "inouterr");
  // A frame of 300 bytes (length over several header bytes).
  std::string big(300, 'x');
  CHECK(docker::demultiplex_logs(frame(1, big) + frame(2, "!")) == big + "!");
  // Truncated: the last frame claims more than there is, or its header is cut.
  auto cut = frame(1, "hello world");
  CHECK(docker::demultiplex_logs(cut.substr(0, cut.size() - 6)) == "hello");
  CHECK(docker::demultiplex_logs(frame(1, "a") + std::string{"\x01\0\0", 3}) == "a");
  // A header claiming 4 GiB on a few bytes.
  CHECK(docker::demultiplex_logs(std::string{"\x01\0\0\0\xff\xff\xff\xff", 8} + "abc") == "abc");
  // Frames followed by something that is not a frame: the frames' text.
  CHECK(docker::demultiplex_logs(frame(1, "a") + "trailing junk") == "a");
}

// --- url_encode, filters_json --------------------------------------------------------------

TEST_CASE("url_encode") {
  CHECK(docker::url_encode("").empty());
  CHECK(docker::url_encode("AZaz09-_.~") == "AZaz09-_.~");
  CHECK(docker::url_encode(" ") == "%20");
  CHECK(docker::url_encode("a/b:c@d") == "a%2Fb%3Ac%40d");
  CHECK(docker::url_encode("x=1&y=2?#") == "x%3D1%26y%3D2%3F%23");
  CHECK(docker::url_encode("100%") == "100%25");
  CHECK(docker::url_encode("+") == "%2B");
  CHECK(docker::url_encode("\xc3\xa9") == "%C3%A9");
  CHECK(docker::url_encode(std::string_view{"\0\xff", 2}) == "%00%FF");
  CHECK(docker::url_encode(R"({"label":["a=b"]})") == "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D");
}

TEST_CASE("filters_json") {
  CHECK(docker::filters_json({}) == "{}");
  CHECK(docker::filters_json({{"label", {"tinyforge.test.run=abc"}}})
        == R"({"label":["tinyforge.test.run=abc"]})");
  CHECK(docker::filters_json({{"status", {"running"}}, {"label", {"a=b", "c"}}})
        == R"({"label":["a=b","c"],"status":["running"]})");
  CHECK(docker::filters_json({{"name", {}}}) == R"({"name":[]})");
  CHECK(docker::filters_json({{"label", {"q\"uote\\back\nline"}}})
        == R"({"label":["q\"uote\\back\nline"]})");
}

// --- endpoint::parse -----------------------------------------------------------------------

TEST_CASE("endpoint::parse: unix and tcp") {
  auto unix_ep = docker::endpoint::parse("unix:///var/run/docker.sock");
  REQUIRE(unix_ep);
  CHECK(unix_ep->unix_path == "/var/run/docker.sock");
  CHECK(unix_ep->base_url == "http://localhost");

  auto tcp_ep = docker::endpoint::parse("tcp://127.0.0.1:2375");
  REQUIRE(tcp_ep);
  CHECK(tcp_ep->unix_path.empty());
  CHECK(tcp_ep->base_url == "http://127.0.0.1:2375");

  auto named = docker::endpoint::parse("tcp://docker.internal:2376");
  REQUIRE(named);
  CHECK(named->base_url == "http://docker.internal:2376");
}

TEST_CASE("endpoint::parse: bad forms are bad_config") {
  for (std::string bad : {"", "unix://", "unix://var/run/docker.sock", "unix:/var/run/docker.sock",
                          "/var/run/docker.sock", "tcp://", "tcp://127.0.0.1:2375/",
                          "tcp://127.0.0.1:2375/v1.41", "http://127.0.0.1:2375",
                          "npipe:////./pipe/docker_engine", "ssh://user@host", "docker.sock"}) {
    CAPTURE(bad);
    tf::test::check_failed(docker::endpoint::parse(bad), tf::ec::bad_config, "docker_host");
  }
}

TEST_CASE("endpoint::parse: tcp without a host or a port is bad_config") {
  // The documented form is tcp://host:port (and config/config.cpp's valid_docker_host refuses
  // these); without a port a client would silently dial port 80.
  for (std::string bad : {"tcp://127.0.0.1", "tcp://docker.internal", "tcp://:2375"}) {
    CAPTURE(bad);
    auto ep = docker::endpoint::parse(bad);
    CHECK_FALSE(ep);
    if (!ep)
      CHECK(tf::error_code(ep.error()) == tf::ec::bad_config);
  }
}

// --- bad answers -----------------------------------------------------------------------------

TEST_CASE("bad answers: malformed JSON / wrong top-level shape / truncated / empty") {
  for (const auto& p : all_parsers()) {
    CAPTURE(p.name);
    const std::vector<std::string> inputs{
          "", " ", "\n", "{", "[", "}", "]", "{\"Id\":", "{\"Id\":\"abc\"", "[{\"Id\":\"a\"}",
          "{'Id':'a'}", "{Id:\"a\"}", "{\"Id\":\"a\",}", "[{\"Id\":\"a\"},]", "nul", "tru",
          "{\"Id\":\"a\"} trailing", "{\"Id\":\"a\"}{\"Id\":\"b\"}", "<html>502 Bad Gateway</html>",
          "\"just a string\"", "42", "null", "true", std::string{"{\"Id\":\"a\0\"}", 10},
          std::string{"\0", 1}, nested_arrays(2000)};
    for (const auto& input : inputs) {
      caf::error err;
      INFO("input: ", shown(input));
      if (!p.parse(input, err)) {
        CHECK(tf::error_code(err) == tf::ec::unavailable);
        continue;
      }
      // Only a lone top-level value of the right kind may pass: none of these is one.
      FAIL_CHECK("accepted");
    }
  }
}

TEST_CASE("bad answers: a list where an object belongs and an object where a list belongs") {
  for (const char* list : {"{}", R"({"Id":"a"})", R"({"0":{"Id":"a"}})"}) {
    check_refused(docker::parse_container_list(list), list);
    check_refused(docker::parse_image_list(list), list);
    check_refused(docker::parse_network_list(list), list);
  }
  for (const char* obj : {"[]", R"([{"Id":"a"}])"}) {
    check_refused(docker::parse_version(obj), obj);
    check_refused(docker::parse_container_details(obj), obj);
    check_refused(docker::parse_image_details(obj), obj);
    check_refused(docker::parse_event(obj), obj);
    check_refused(docker::parse_created_id(obj), obj);
  }
  // List entries that are not objects.
  for (const char* entries : {"[5]", "[null]", "[\"x\"]", "[[]]", R"([{"Id":"a"},7])"}) {
    check_refused(docker::parse_container_list(entries), entries);
    check_refused(docker::parse_image_list(entries), entries);
    check_refused(docker::parse_network_list(entries), entries);
  }
}

TEST_CASE("bad answers: fields of the wrong type") {
  SUBCASE("container list") {
    for (const char* in : {
           R"([{"Id":5}])", R"([{"Id":true}])", R"([{"Id":["a"]}])", R"([{"Id":"a","Labels":5}])",
           R"([{"Id":"a","Labels":"k=v"}])", R"([{"Id":"a","Labels":["k=v"]}])",
           R"([{"Id":"a","Labels":{"k":1}}])", R"([{"Id":"a","Labels":{"k":null}}])",
           R"([{"Id":"a","Ports":"x"}])", R"([{"Id":"a","Ports":{}}])", R"([{"Id":"a","Ports":[5]}])",
           R"([{"Id":"a","Ports":[{"PrivatePort":"8080"}]}])",
           R"([{"Id":"a","Ports":[{"PublicPort":1.5}]}])", R"([{"Id":"a","Ports":[{"Type":6}]}])",
           R"([{"Id":"a","Ports":[{"IP":[]}]}])", R"([{"Id":"a","Names":"/x"}])",
           R"([{"Id":"a","Names":[1]}])", R"([{"Id":"a","Image":{}}])", R"([{"Id":"a","State":1}])",
           R"([{"Id":"a","Status":false}])", R"([{"Id":"a","Created":"yesterday"}])",
           R"([{"Id":"a","Created":1.5}])", R"([{"Id":"a","Created":18446744073709551615}])",
           R"([{"Id":""}])", R"([{}])", R"([{"Id":null}])"})
      check_refused(docker::parse_container_list(in), in);
  }
  SUBCASE("container details") {
    for (const char* in : {
           R"({"Id":5})", R"({})", R"({"Id":"a","Name":7})", R"({"Id":"a","Image":7})",
           R"({"Id":"a","RestartCount":"0"})", R"({"Id":"a","State":"running"})",
           R"({"Id":"a","State":[]})", R"({"Id":"a","State":{"Status":1}})",
           R"({"Id":"a","State":{"Running":"yes"}})", R"({"Id":"a","State":{"Running":1}})",
           R"({"Id":"a","State":{"ExitCode":"0"}})", R"({"Id":"a","State":{"StartedAt":0}})",
           R"({"Id":"a","State":{"Health":"healthy"}})",
           R"({"Id":"a","State":{"Health":{"Status":1}}})", R"({"Id":"a","Config":"x"})",
           R"({"Id":"a","Config":{"Image":1}})", R"({"Id":"a","Config":{"Labels":5}})",
           R"({"Id":"a","Config":{"Labels":{"k":false}}})", R"({"Id":"a","Config":{"Env":"A=b"}})",
           R"({"Id":"a","Config":{"Env":[1]}})", R"({"Id":"a","NetworkSettings":5})",
           R"({"Id":"a","NetworkSettings":{"Ports":"x"}})",
           R"({"Id":"a","NetworkSettings":{"Ports":[]}})",
           R"({"Id":"a","NetworkSettings":{"Ports":{"80/tcp":"x"}}})",
           R"({"Id":"a","NetworkSettings":{"Ports":{"80/tcp":{}}}})",
           R"({"Id":"a","NetworkSettings":{"Ports":{"80/tcp":[5]}}})",
           R"({"Id":"a","NetworkSettings":{"Ports":{"80/tcp":[{"HostPort":80}]}}})",
           R"({"Id":"a","NetworkSettings":{"Ports":{"80/tcp":[{"HostIp":[]}]}}})"})
      check_refused(docker::parse_container_details(in), in);
  }
  SUBCASE("image list and details") {
    for (const char* in : {R"([{"Id":7}])", R"([{}])", R"([{"Id":"a","RepoTags":"x:1"}])",
                           R"([{"Id":"a","RepoTags":[null]}])", R"([{"Id":"a","Labels":5}])",
                           R"([{"Id":"a","Size":"big"}])", R"([{"Id":"a","Size":1e3}])"})
      check_refused(docker::parse_image_list(in), in);
    for (const char* in : {R"({"Id":7})", R"({})", R"({"Id":"a","RepoTags":5})",
                           R"({"Id":"a","Config":5})", R"({"Id":"a","Config":{"Labels":[]}})",
                           R"({"Id":"a","Config":{"Labels":{"k":1}}})", R"({"Id":"a","Size":"1"})"})
      check_refused(docker::parse_image_details(in), in);
  }
  SUBCASE("network list") {
    for (const char* in : {R"([{"Id":5}])", R"([{"Id":"a","Name":5}])", R"([{"Id":"a","Driver":{}}])",
                           R"([{"Id":"a","Labels":5}])", R"([{"Id":"a","Labels":{"k":[]}}])"})
      check_refused(docker::parse_network_list(in), in);
  }
  SUBCASE("event") {
    for (const char* in : {R"({"Type":5})", R"({"Action":[]})", R"({"timeNano":"1"})",
                           R"({"timeNano":1.5})", R"({"Actor":"x"})", R"({"Actor":[]})",
                           R"({"Actor":{"ID":5}})", R"({"Actor":{"Attributes":"x"}})",
                           R"({"Actor":{"Attributes":{"name":1}}})"})
      check_refused(docker::parse_event(in), in);
  }
  SUBCASE("created id") {
    for (const char* in : {R"({"Id":5})", R"({})", R"({"Id":""})", R"({"Id":null})",
                           R"({"id":"lowercase"})", R"({"Id":{"x":"y"}})"})
      check_refused(docker::parse_created_id(in), in);
  }
  SUBCASE("version") {
    for (const char* in : {R"({})", R"({"ApiVersion":1.41})", R"({"ApiVersion":"1"})",
                           R"({"ApiVersion":"latest"})", R"({"ApiVersion":"1.41","Version":5})",
                           R"({"ApiVersion":"1.41","Os":null,"Arch":7})"})
      check_refused(docker::parse_version(in), in);
  }
}

TEST_CASE("bad answers: every truncation of every recorded answer is refused") {
  struct input {
    std::string label;
    std::string text;
    std::string parser;
  };
  std::vector<input> inputs;
  for (const auto& c : recorded_cases())
    inputs.push_back({c.file, recorded(c.file), c.parser});
  int n = 0;
  for (const auto& line : lines_of(recorded("events.jsonl")))
    inputs.push_back({"events.jsonl line " + std::to_string(++n), line, "parse_event"});
  for (const auto& in : inputs) {
    CAPTURE(in.label);
    auto full = trimmed(in.text);
    auto p = parser_named(in.parser);
    caf::error err;
    REQUIRE(p.parse(full, err)); // the whole answer is fine
    size_t accepted = 0;
    size_t wrong_code = 0;
    for (size_t len = 0; len < full.size(); ++len) {
      caf::error e;
      if (p.parse(full.substr(0, len), e))
        ++accepted;
      else if (tf::error_code(e) != tf::ec::unavailable)
        ++wrong_code;
    }
    CHECK(accepted == 0);
    CHECK(wrong_code == 0);
  }
}

TEST_CASE("bad answers: mutated recorded answers give a value or an error and never crash") {
  std::mt19937 rng{20251127}; // fixed: the same mutations every run
  std::string summary;
  const char replacements[] = {'"', '{', '}', '[', ']', ':', ',', '0', 'x', '\\', '\0', '\n'};
  for (const auto& c : recorded_cases()) {
    CAPTURE(c.file);
    auto text = recorded(c.file);
    auto p = parser_named(c.parser);
    size_t errors = 0;
    for (int i = 0; i < 500; ++i) {
      auto mutated = text;
      int edits = 1 + static_cast<int>(rng() % 3);
      for (int k = 0; k < edits; ++k) {
        auto pos = rng() % mutated.size();
        switch (rng() % 3) {
          case 0: mutated[pos] = replacements[rng() % sizeof(replacements)]; break;
          case 1: mutated.erase(pos, 1 + rng() % 8); break;
          default: mutated.insert(pos, 1, replacements[rng() % sizeof(replacements)]); break;
        }
        if (mutated.empty())
          mutated = "x";
      }
      caf::error err;
      if (!p.parse(mutated, err)) {
        ++errors;
        INFO("input: ", shown(mutated));
        CHECK(tf::error_code(err) == tf::ec::unavailable);
      }
    }
    summary += " " + c.file + " " + std::to_string(errors) + "/500";
  }
  MESSAGE("mutations refused (the rest parsed to a value):", summary);
}

// --- undefined behaviour (near the end: under UBSan it aborts the process) -----------------

TEST_CASE("api_version_number: a huge major does not overflow") {
  // 9 characters pass the length check; 4294968 * 1000 does not fit an int (signed overflow,
  // undefined behaviour; in practice it wraps to 704, an "older" version than 1.41).
  auto n = docker::api_version_number("4294968.0");
  CAPTURE(n);
  CHECK((n == -1 || n > docker::api_version_number("1.41")));
  auto m = docker::api_version_number("9999999.9");
  CAPTURE(m);
  CHECK((m == -1 || m > docker::api_version_number("1.41")));
}

// --- huge nesting (last: a stack overflow would end the process) ---------------------------
//
// An answer of a few megabytes (well under transport::call's 64 MiB limit) nesting a million
// arrays must be refused like any other malformed answer, not overflow the stack.

namespace {

constexpr size_t huge_depth = 1000 * 1000;

void check_huge_nesting(const char* parser) {
  auto input = nested_arrays(huge_depth);
  auto p = parser_named(parser);
  caf::error err;
  CHECK_FALSE(p.parse(input, err));
  CHECK(tf::error_code(err) == tf::ec::unavailable);
}

} // namespace

TEST_CASE("huge nesting: parse_container_list") {
  check_huge_nesting("parse_container_list");
}

TEST_CASE("huge nesting: parse_container_details") {
  check_huge_nesting("parse_container_details");
}

TEST_CASE("huge nesting: parse_image_list") {
  check_huge_nesting("parse_image_list");
}

TEST_CASE("huge nesting: parse_image_details") {
  check_huge_nesting("parse_image_details");
}

TEST_CASE("huge nesting: parse_network_list") {
  check_huge_nesting("parse_network_list");
}

TEST_CASE("huge nesting: parse_version") {
  check_huge_nesting("parse_version");
}

TEST_CASE("huge nesting: parse_event") {
  check_huge_nesting("parse_event");
}

TEST_CASE("huge nesting: parse_created_id") {
  check_huge_nesting("parse_created_id");
}

TEST_CASE("huge nesting: engine_error quotes the body") {
  auto err = docker::engine_error(500, nested_arrays(huge_depth), "w");
  CHECK(tf::error_code(err) == tf::ec::unavailable);
  CHECK(tf::error_message(err).find("[[[[") != std::string::npos);
}
