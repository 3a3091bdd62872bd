// The compose program and a stack's files, against the real compose binary of the host
// (Debian 12: docker-compose 1.29; `config` reads files only and needs no engine).
#include "expect.hpp"
#include "helpers.hpp"
#include "core/run_command.hpp"
#include "docker/compose.hpp"
#include "docker/compose_policy.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <map>
#include <filesystem>
#include <string>
#include <vector>

using namespace tf;
using namespace tf::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// A directory of its own under the temp dir, removed at the end.
struct scratch_dir {
  fs::path path;
  scratch_dir() {
    auto tmpl = (fs::temp_directory_path() / "tf-compose-test-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~scratch_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

docker::compose_runner host_compose() {
  docker::compose_runner c;
  c.tool = docker::detect_compose();
  REQUIRE_MESSAGE(c.tool.found(), "no docker compose on this host: .ci/setup installs it");
  c.timeout = 60s;
  return c;
}

size_t count_of(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size()))
    ++n;
  return n;
}

int mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return static_cast<int>(st.st_mode & 0777);
}

} // namespace

TEST_CASE("run_command: lines arrive as they are written, in the given directory and environment") {
  scratch_dir d;
  std::vector<std::string> lines;
  command_options o;
  o.cwd = d.path.string();
  o.replace_env = true;
  o.env = {"ONLY=this", "PATH=/usr/bin:/bin"};
  o.on_line = [&](std::string_view l) { lines.emplace_back(l); };
  ::setenv("TF_COMPOSE_TEST_LEAK", "leaked", 1);
  auto r = MUST(run_command({"sh", "-c", "pwd; echo \"$ONLY\"; echo \"[$TF_COMPOSE_TEST_LEAK]\"; "
                                         "printf 'no newline'"},
                            o));
  CHECK(r.exit_code == 0);
  REQUIRE(lines.size() == 4);
  CHECK(fs::equivalent(lines[0], d.path));
  CHECK(lines[1] == "this");
  CHECK(lines[2] == "[]"); // the daemon's environment did not reach the program
  CHECK(lines[3] == "no newline");
}

TEST_CASE("run_command: a cancelled run kills the program and says why") {
  std::atomic<bool> stop{false};
  command_options o;
  o.timeout = 60s;
  o.cancelled = [&] { return stop.load(); };
  o.on_line = [&](std::string_view l) {
    if (l == "started")
      stop = true; // the shutdown comes while the program runs
  };
  auto r = run_command({"sh", "-c", "echo started; exec sleep 60"}, o);
  CHECK(code_of(r) == "unavailable");
  CHECK(contains(message_of(r), "shutting down"));
}

TEST_CASE("compose: the host's compose is found, and a missing one is reported as none") {
  auto tool = docker::detect_compose();
  REQUIRE(tool.found());
  CHECK((tool.flavor == "v1" || tool.flavor == "v2"));
  CHECK(!tool.version.empty());
  CHECK(std::isdigit(static_cast<unsigned char>(tool.version.front())));
  auto none = docker::detect_compose("/nonexistent/docker", "/nonexistent/docker-compose");
  CHECK(!none.found());
  CHECK(none.flavor.empty());
  docker::compose_runner runner;
  runner.tool = none;
  docker::compose_project p{"tf-x", "/tmp", false};
  CHECK(code_of(runner.run(p, {"config"}, {})) == "unavailable");
}

TEST_CASE("compose: argv names the engine, project, directory and files, never through a shell") {
  docker::compose_runner v1;
  v1.tool.command = {"docker-compose"};
  v1.tool.flavor = "v1";
  v1.docker_host = "unix:///run/x.sock";
  docker::compose_project p{"tf-abc", "/data/stacks/abc", true};
  CHECK(v1.argv(p, {"up", "-d"})
        == std::vector<std::string>{"docker-compose", "--host", "unix:///run/x.sock",
                                    "--project-name", "tf-abc", "--project-directory",
                                    "/data/stacks/abc", "--file", "/data/stacks/abc/compose.yml",
                                    "--file", "/data/stacks/abc/override.yml", "up", "-d"});
  docker::compose_runner v2;
  v2.tool.command = {"docker", "compose"};
  v2.tool.flavor = "v2";
  v2.docker_host = "unix:///run/x.sock";
  p.with_override = false;
  CHECK(v2.argv(p, {"down"})
        == std::vector<std::string>{"docker", "--host", "unix:///run/x.sock", "compose",
                                    "--project-name", "tf-abc", "--project-directory",
                                    "/data/stacks/abc", "--file", "/data/stacks/abc/compose.yml",
                                    "down"});
}

TEST_CASE("compose: a stack's files are private, and the override labels every service") {
  auto compose = host_compose();
  scratch_dir d;
  auto dir = (d.path / "stack").string();
  REQUIRE(!docker::write_private_file(dir, docker::compose_file_name,
                                      "version: \"3.8\"\n"
                                      "services:\n"
                                      "  web:\n"
                                      "    image: busybox\n"
                                      "    environment:\n"
                                      "      GREETING: \"${GREETING}\"\n"
                                      "      LEAK: \"${TF_COMPOSE_TEST_LEAK:-absent}\"\n"
                                      "  db.primary:\n"
                                      "    image: busybox\n"));
  CHECK(mode_of(dir) == 0700);
  CHECK(mode_of(fs::path{dir} / docker::compose_file_name) == 0600);
  CHECK(!fs::exists(fs::path{dir} / ".compose.yml.tmp"));

  ::setenv("TF_COMPOSE_TEST_LEAK", "the daemon's secret", 1);
  // A value with shell and YAML syntax in it stays one literal value.
  std::map<std::string, std::string> env{{"GREETING", "$(touch /tmp/tf-pwned); \"hi\" # x"}};
  docker::compose_project p{"tf-composetest", dir, true};
  auto services = MUST(docker::compose_services(compose, p, env));
  CHECK(services == std::vector<std::string>{"db.primary", "web"});

  std::map<std::string, std::string> labels{{"tinyforge.managed", "true"},
                                            {"tinyforge.workload.id", "w-1"},
                                            {"tinyforge.note", "quote \" and \\ and \n"}};
  auto override_yaml = docker::label_override(services, labels, "tinyforge.role");
  REQUIRE(!docker::write_private_file(dir, docker::override_file_name, override_yaml));
  auto merged = MUST(compose.run(p, {"config"}, env));
  INFO(merged.output);
  REQUIRE(merged.exit_code == 0);
  // Both services carry every label; the values survive quoting.
  CHECK(count_of(merged.output, "tinyforge.workload.id: w-1") == 2);
  CHECK(count_of(merged.output, "tinyforge.managed: 'true'") + count_of(merged.output, "tinyforge.managed: \"true\"") == 2);
  // Each service's role is its own name.
  CHECK(contains(merged.output, "tinyforge.role: db.primary"));
  CHECK(contains(merged.output, "tinyforge.role: web"));
  CHECK(contains(merged.output, "$(touch /tmp/tf-pwned)"));
  CHECK(contains(merged.output, "LEAK: absent"));
  CHECK(!contains(merged.output, "the daemon's secret"));
  CHECK(!fs::exists("/tmp/tf-pwned"));
}

TEST_CASE("compose: a file that does not parse is invalid_argument with compose's own message") {
  auto compose = host_compose();
  scratch_dir d;
  auto dir = d.path.string();
  docker::compose_project p{"tf-composetest", dir, false};

  REQUIRE(!docker::write_private_file(dir, docker::compose_file_name, "services:\n  web: [\n"));
  auto broken = docker::compose_services(compose, p, {});
  CHECK(code_of(broken) == "invalid_argument");
  CHECK(contains(message_of(broken), "does not parse"));
  CHECK(contains(message_of(broken), "line 3")); // compose's parser names the place

  REQUIRE(!docker::write_private_file(dir, docker::compose_file_name,
                                      "services:\n  web:\n    image: busybox\n    bogus_key: 1\n"));
  auto unknown = docker::compose_services(compose, p, {});
  CHECK(code_of(unknown) == "invalid_argument");
  CHECK(contains(message_of(unknown), "bogus_key"));
}

TEST_CASE("compose policy: what a service may not ask for is refused, read after compose resolved it") {
  auto compose = host_compose();
  scratch_dir d;
  auto data_dir = d.path.string();
  auto dir = (d.path / "stacks" / "s1").string();
  std::filesystem::create_directories(d.path / "stacks");
  docker::compose_project p{"tf-policytest", dir, false};
  // The verdict on one service's extra lines (and any top-level YAML after them).
  auto verdict = [&](const std::string& lines, std::map<std::string, std::string> env = {},
                     const std::string& tail = {}) {
    REQUIRE(!docker::write_private_file(dir, docker::compose_file_name,
                                        "version: \"3.8\"\nservices:\n  web:\n    image: busybox\n"
                                          + lines + tail));
    auto config = docker::compose_config(compose, p, env);
    REQUIRE_MESSAGE(config, message_of(config));
    auto got = docker::checked_services(*config, data_dir, dir);
    return got ? std::string{"allowed"} : message_of(got);
  };
  CHECK(verdict("") == "allowed");
  CHECK(contains(verdict("    privileged: true\n"), "privileged: true"));
  // Interpolated first: a variable cannot hide it.
  CHECK(contains(verdict("    privileged: ${PRIV}\n", {{"PRIV", "true"}}), "privileged"));
  CHECK(contains(verdict("    pid: host\n"), "pid: host"));
  CHECK(contains(verdict("    network_mode: host\n"), "network_mode: host"));
  CHECK(contains(verdict("    devices:\n      - /dev/sda:/dev/sda\n"), "devices"));
  CHECK(contains(verdict("    cap_add:\n      - SYS_ADMIN\n"), "SYS_ADMIN"));
  CHECK(contains(verdict("    cap_add:\n      - CAP_SYS_MODULE\n"), "SYS_MODULE"));
  CHECK(verdict("    cap_add:\n      - NET_ADMIN\n") == "allowed");
  CHECK(contains(verdict("    security_opt:\n      - seccomp:unconfined\n"), "unconfined"));
  CHECK(contains(verdict("    volumes:\n      - /:/host\n"), "host's root"));
  CHECK(contains(verdict("    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n"),
                 "Docker socket"));
  CHECK(contains(verdict("    volumes:\n      - /etc:/host-etc:ro\n"), "/etc"));
  CHECK(contains(verdict("    volumes:\n      - type: bind\n        source: /proc\n        target: /p\n"),
                 "/proc"));
  // Tinyforge's data directory (its database and key), and any directory holding it.
  CHECK(contains(verdict("    volumes:\n      - ../..:/tf\n"), "data directory"));
  CHECK(contains(verdict("    volumes:\n      - " + d.path.parent_path().string() + ":/up\n"),
                 "data directory"));
  // A symlink to the root is the root.
  std::filesystem::create_directory_symlink("/", d.path / "rootlink");
  CHECK(contains(verdict("    volumes:\n      - " + (d.path / "rootlink").string() + ":/r\n"),
                 "host's root"));
  // The stack's own directory, named volumes and other host paths are fine.
  CHECK(verdict("    volumes:\n      - ./data:/data\n      - cache:/cache\n",
                {}, "volumes:\n  cache: {}\n") == "allowed");
  CHECK(verdict("    volumes:\n      - /srv/tf-policy-test:/srv\n") == "allowed");
  // A local volume bound to a host path is a bind mount by another name.
  CHECK(contains(verdict("    volumes:\n      - root:/r\n", {},
                         "volumes:\n  root:\n    driver_opts:\n      type: none\n"
                         "      o: bind\n      device: /\n"),
                 "host's root"));
  // A YAML merge key resolved by compose.
  REQUIRE(!docker::write_private_file(dir, docker::compose_file_name,
                                      "version: \"3.8\"\n"
                                      "x-base: &base\n  privileged: true\n"
                                      "services:\n  web:\n    <<: *base\n    image: busybox\n"));
  auto merged = docker::compose_config(compose, p, {});
  REQUIRE(merged);
  CHECK(contains(message_of(docker::checked_services(*merged, data_dir, dir)), "privileged"));
}

TEST_CASE("compose policy: text that is no compose document is refused, not trusted") {
  CHECK(code_of(docker::checked_services("services: [", "/data", "/data/stacks/x"))
        == "invalid_argument");
  CHECK(code_of(docker::checked_services("just a string", "/data", "/data/stacks/x"))
        == "invalid_argument");
  CHECK(code_of(docker::checked_services("services: {}", "/data", "/data/stacks/x"))
        == "invalid_argument");
  CHECK(code_of(docker::checked_services(std::string(9 * 1024 * 1024, 'a'), "/data", "/d"))
        == "invalid_argument");
  // An alias-heavy document loads as references (no expansion) and is read once.
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'k'; ++c)
    bomb += std::string{c} + ": &" + c + " [*" + static_cast<char>(c - 1) + ", *"
            + static_cast<char>(c - 1) + ", *" + static_cast<char>(c - 1) + "]\n";
  bomb += "services:\n  web:\n    image: x\n    volumes: *k\n";
  CHECK(code_of(docker::checked_services(bomb, "/data", "/data/stacks/x")) == "ok");
}
