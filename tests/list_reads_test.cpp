// GET /api/containers as a polling UI uses it (issue 14): keyset pages that walk the whole
// index once while rows are added, bad cursors refused, pages up to 5,000 rows, an ETag
// that answers 304 while the index is unchanged and changes with every commit to it
// (including a cascade from a deleted project), and filters that still select what they
// say. In-process: the real store actors on a temporary database and tf::http::server on an
// ephemeral port, driven through httplib's client.
#include <doctest/doctest.h>

#include "actors/system.hpp"
#include "api_client.hpp"
#include "api_fixture.hpp"
#include "api_server.hpp"
#include "config/config.hpp"
#include "core/errors.hpp"
#include "core/ids.hpp"
#include "core/list_cursor.hpp"
#include "expect.hpp"
#include "helpers.hpp"
#include "http/ask.hpp"
#include "json_checks.hpp"
#include "core/body_pool.hpp"
#include "net/container_json.hpp"

#include <httplib.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using namespace tf::test;

namespace {

constexpr const char* json = "application/json";

struct list_fixture : store_fixture {
  api_server server;
  uint16_t port = 0;
  std::string token = api_token("list-reads");
  int rows_made = 0;

  list_fixture() : store_fixture{2} {
    tf::config cfg;
    cfg.http_threads = 4;
    port = server.start(server_context(5s), cfg);
    auto warm = client().Get("/healthz");
    CHECK_MESSAGE(warm, "the server did not answer its first request");
  }
  ~list_fixture() { server.stop(); }

  httplib::Client client() const { return bearer_client(port, token); }
  httplib::Result get(const std::string& path, const httplib::Headers& headers = {}) {
    return client().Get(path.c_str(), headers);
  }

  /// An app (the apps feature turned on first); its parsed answer.
  rapidjson::Document make_app(const std::string& name) {
    check_json(client().Patch("/api/settings", R"({"features.apps_grouping":true})", json), 200);
    return check_json(client().Post("/api/apps", R"({"name":")" + name + R"("})", json), 201);
  }

  /// A project with one stage "production"; its parsed answer.
  rapidjson::Document make_project(const std::string& name) {
    return check_json(client().Post("/api/projects",
                                    R"({"name":")" + name
                                      + R"(","image":"tinyforge-test/web","stages":[{"name":)"
                                        R"("production","port":8080,"subdomain":")"
                                      + name + R"("}]})",
                                    json),
                      201);
  }

  /// A container row of the project's stage, written as the deployer writes it.
  tf::container_row add_row(const rapidjson::Value& project, const std::string& state) {
    tf::container_row row;
    row.workload_id = str(project, "workload_id");
    row.role = "production";
    row.stage_id = str(project["stages"][0], "id");
    row.subdomain = str(project, "name");
    row.image_tag = "v" + std::to_string(++rows_made);
    row.container_id = tf::new_id() + tf::new_id();
    row.state = state;
    row.port = 20000 + rows_made;
    auto r = tf::http::ask<tf::container_row>(sys, store.writer, 5s, tf::atom::upsert_v, row);
    REQUIRE_MESSAGE(r, tf::error_message(r.error()));
    return *r;
  }
};

/// The ids of a page's items, in order.
std::vector<std::string> ids_of(const rapidjson::Value& page) {
  std::vector<std::string> ids;
  for (const auto& item : page["items"].GetArray())
    ids.push_back(str(item, "id"));
  return ids;
}

/// Every page of `query` by keyset (`after=` the previous page's next_after); the ids in
/// the order seen. `between` runs after each page.
template <class Between>
std::vector<std::string> walk(list_fixture& f, const std::string& query, Between between) {
  std::vector<std::string> seen;
  std::string after;
  for (int pages = 0; pages < 1000; ++pages) {
    auto page = check_json(f.get("/api/containers?" + query + (after.empty() ? "" : "&after=" + after)),
                           200);
    for (auto& id : ids_of(page))
      seen.push_back(std::move(id));
    if (page["next_after"].IsNull())
      return seen;
    after = str(page, "next_after");
    between();
  }
  FAIL("the walk did not end");
  return seen;
}

} // namespace

TEST_CASE_FIXTURE(list_fixture, "keyset pages walk the whole index once while rows are added") {
  auto a = make_project("alpha");
  auto b = make_project("beta");
  std::vector<std::string> before;
  for (int i = 0; i < 60; ++i)
    before.push_back(add_row(i % 2 ? a : b, i % 3 ? "running" : "stopped").id);

  // Offset pages of an unchanged index: the order every walk follows.
  std::vector<std::string> by_offset;
  for (int offset = 0; offset < 60; offset += 7) {
    auto page = check_json(get("/api/containers?limit=7&offset=" + std::to_string(offset)), 200);
    CHECK(num(page, "total") == 60);
    for (auto& id : ids_of(page))
      by_offset.push_back(std::move(id));
  }
  REQUIRE(by_offset.size() == 60);
  CHECK(std::set<std::string>(by_offset.begin(), by_offset.end())
        == std::set<std::string>(before.begin(), before.end()));

  // A walk while each page adds two rows: every row there at the start is seen exactly
  // once, in the same order, and nothing is seen twice.
  std::vector<std::string> added;
  auto seen = walk(*this, "limit=7", [&] {
    added.push_back(add_row(a, "running").id);
    added.push_back(add_row(b, "created").id);
  });
  std::set<std::string> distinct(seen.begin(), seen.end());
  CHECK(distinct.size() == seen.size());
  std::vector<std::string> old_seen;
  for (const auto& id : seen)
    if (std::find(by_offset.begin(), by_offset.end(), id) != by_offset.end())
      old_seen.push_back(id);
  CHECK(old_seen == by_offset);
  // Rows added after the walk passed by come at the end of the order: the walk sees them.
  for (const auto& id : added)
    CHECK(distinct.count(id) == 1);

  // The same walk of one filter: only its rows, each once.
  auto running = walk(*this, "limit=5&state=running&workload_id=" + str(a, "workload_id"), [] {});
  auto expected = check_json(get("/api/containers?limit=5000&state=running&workload_id="
                                 + str(a, "workload_id")),
                             200);
  CHECK(running == ids_of(expected));
  CHECK(static_cast<int64_t>(running.size()) == num(expected, "total"));
}

TEST_CASE_FIXTURE(list_fixture, "a cursor that is not one of ours gets 400") {
  auto p = make_project("gamma");
  add_row(p, "running");
  auto good = tf::encode_cursor("2026-01-02T03:04:05.678Z", "some-id");
  CHECK(check_json(get("/api/containers?after=" + good), 200).IsObject());
  for (std::string bad :
       {std::string{"not-a-cursor!"}, std::string{"%27%3B--"}, std::string(300, 'A'),
        tf::encode_cursor("yesterday", "some-id"), tf::encode_cursor("2026-01-02T03:04:05.678Z", ""),
        tf::encode_cursor("2026-01-02T03:04:05.678Z", "a b"), good.substr(0, good.size() - 1),
        std::string{"QQ"}}) {
    CAPTURE(bad);
    check_error(get("/api/containers?after=" + bad), 400, "invalid_argument", "after");
  }
}

TEST_CASE_FIXTURE(list_fixture, "the containers index takes pages of up to 5000 rows") {
  auto p = make_project("delta");
  for (int i = 0; i < 3; ++i)
    add_row(p, "running");
  auto all = check_json(get("/api/containers?limit=5000"), 200);
  CHECK(all["items"].Size() == 3);
  CHECK(num(all, "total") == 3);
  CHECK(all["next_after"].IsNull());
  check_error(get("/api/containers?limit=5001"), 400, "invalid_argument", "limit");
  // The other lists keep 500.
  check_error(get("/api/projects?limit=501"), 400, "invalid_argument", "limit");
}

TEST_CASE_FIXTURE(list_fixture, "the ETag answers 304 while the index is unchanged, and changes with it") {
  auto p = make_project("epsilon");
  add_row(p, "running");
  auto first = get("/api/containers");
  REQUIRE(first);
  REQUIRE(first->status == 200);
  auto etag = first->get_header_value("ETag");
  REQUIRE_FALSE(etag.empty());
  CHECK(first->get_header_value("Cache-Control").find("no-cache") != std::string::npos);

  auto same = get("/api/containers", {{"If-None-Match", etag}});
  REQUIRE(same);
  CHECK(same->status == 304);
  CHECK(same->body.empty());
  CHECK(same->get_header_value("ETag") == etag);
  // A weak tag, and a list that holds ours, match too; another tag does not.
  CHECK(get("/api/containers", {{"If-None-Match", "W/" + etag}})->status == 304);
  CHECK(get("/api/containers", {{"If-None-Match", "\"x\", " + etag}})->status == 304);
  CHECK(get("/api/containers", {{"If-None-Match", "\"x\""}})->status == 200);
  // Asked again without a tag: the same bytes.
  CHECK(get("/api/containers")->body == first->body);

  // A row written: 200 with the row and a new tag, then 304 for the new one.
  auto row = add_row(p, "created");
  auto changed = get("/api/containers", {{"If-None-Match", etag}});
  REQUIRE(changed);
  CHECK(changed->status == 200);
  auto new_etag = changed->get_header_value("ETag");
  CHECK(new_etag != etag);
  CHECK(changed->body.find(row.id) != std::string::npos);
  CHECK(get("/api/containers", {{"If-None-Match", new_etag}})->status == 304);

  // A row's state changed by the reconciler's kind of write: a new tag.
  row.state = "running";
  REQUIRE(tf::http::ask<tf::container_row>(sys, store.writer, 5s, tf::atom::upsert_v, row));
  auto after_update = get("/api/containers", {{"If-None-Match", new_etag}});
  CHECK(after_update->status == 200);
  auto update_etag = after_update->get_header_value("ETag");

  // The project deleted: its rows go by the foreign key's cascade, and the tag changes.
  auto gone = client().Delete(("/api/projects/" + str(p, "id")).c_str());
  REQUIRE(gone);
  REQUIRE(gone->status == 204);
  CHECK(num(check_json(get("/api/containers", {{"If-None-Match", update_etag}}), 200), "total")
        == 0);

  // A workload joining an app changes what ?app_id= selects: a new tag too.
  auto q = make_project("zeta");
  add_row(q, "running");
  auto app = make_app("shop");
  auto by_app = "/api/containers?app_id=" + str(app, "id");
  auto none = get(by_app);
  CHECK(num(check_json(none, 200), "total") == 0);
  check_json(client().Patch(("/api/workloads/" + str(q, "workload_id")).c_str(),
                            R"({"app_id":")" + str(app, "id") + R"("})", json),
             200);
  auto some = get(by_app, {{"If-None-Match", none->get_header_value("ETag")}});
  CHECK(num(check_json(some, 200), "total") == 1);
}

TEST_CASE("a body buffer handed back is reused empty, and the pool stays bounded") {
  // An empty pool answers a new string (its inline capacity only).
  auto from_pool = [] { return tf::body_pool::take().capacity() >= 4096; };
  while (from_pool()) {
  } // what other tests left
  std::string big(512 * 1024, 'x');
  auto capacity = big.capacity();
  tf::body_pool::give(std::move(big));
  auto reused = tf::body_pool::take();
  CHECK(reused.empty());
  CHECK(reused.capacity() == capacity);
  CHECK_FALSE(from_pool()); // one given, one taken

  // Small buffers (cheap to make again) and huge ones (the RSS budget) are not kept.
  tf::body_pool::give(std::string(4 * 1024, 'x'));
  tf::body_pool::give(std::string(8 * 1024 * 1024, 'x'));
  CHECK_FALSE(from_pool());

  // At most two are kept.
  for (int i = 0; i < 3; ++i)
    tf::body_pool::give(std::string(256 * 1024, 'x'));
  CHECK(from_pool());
  CHECK(from_pool());
  CHECK_FALSE(from_pool());

  // A shared body goes back when its last owner lets go, not before.
  auto shared = tf::body_pool::share(std::string(300 * 1024, 'y'));
  auto copy = shared;
  shared.reset();
  CHECK_FALSE(from_pool());
  CHECK(copy->size() == 300 * 1024);
  copy.reset();
  CHECK(tf::body_pool::take().capacity() >= 300 * 1024);
}

TEST_CASE_FIXTURE(list_fixture, "bodies written into reused buffers hold their own rows only") {
  auto p = make_project("reuse");
  // Enough rows for a whole-index body the pool keeps (over 128 KB).
  for (int i = 0; i < 400; ++i)
    add_row(p, i % 4 == 0 ? "created" : "running");
  const httplib::Headers read_through{{"Cache-Control", "no-cache"}};
  auto whole = get("/api/containers?limit=5000", read_through);
  auto created = get("/api/containers?limit=5000&state=created", read_through);
  REQUIRE(whole);
  REQUIRE(created);
  REQUIRE(whole->body.size() > 128 * 1024);
  CHECK(check_json(whole, 200)["items"].Size() == 400);
  CHECK(check_json(created, 200)["items"].Size() == 100);
  // The smaller body after the larger, again and again, from the store each time: a buffer
  // that held the whole index must not lend its tail to the filtered one.
  for (int i = 0; i < 6; ++i) {
    CHECK(get("/api/containers?limit=5000", read_through)->body == whole->body);
    CHECK(get("/api/containers?limit=5000&state=created", read_through)->body == created->body);
  }
}

TEST_CASE_FIXTURE(list_fixture, "filters select the rows they name, alone and together") {
  auto a = make_project("eta");
  auto b = make_project("theta");
  auto c = make_project("iota");
  auto app = make_app("pair");
  for (const auto* p : {&a, &b})
    check_json(client().Patch(("/api/workloads/" + str(*p, "workload_id")).c_str(),
                              R"({"app_id":")" + str(app, "id") + R"("})", json),
               200);
  const char* states[] = {"running", "stopped", "failed"};
  for (int i = 0; i < 30; ++i)
    add_row(i % 3 == 0 ? a : i % 3 == 1 ? b : c, states[(i / 3) % 3]);

  // The whole index, and each filter checked against it.
  auto all = check_json(get("/api/containers?limit=5000"), 200);
  REQUIRE(all["items"].Size() == 30);
  std::vector<std::string> all_ids = ids_of(all);
  auto expect = [&](const std::string& query, auto keep) {
    CAPTURE(query);
    std::vector<std::string> wanted;
    for (const auto& item : all["items"].GetArray())
      if (keep(item))
        wanted.push_back(str(item, "id"));
    // A small page size: the app filter merges its workloads' rows across pages.
    auto seen = walk(*this, "limit=4&" + query, [] {});
    CHECK(seen == wanted);
    auto one = check_json(get("/api/containers?limit=4&" + query), 200);
    CHECK(num(one, "total") == static_cast<int64_t>(wanted.size()));
  };
  auto wl = [](const rapidjson::Value& p) { return str(p, "workload_id"); };
  auto a_wl = wl(a), b_wl = wl(b), c_wl = wl(c);
  auto a_stage = str(a["stages"][0], "id");
  expect("workload_id=" + a_wl, [&](const auto& i) { return str(i, "workload_id") == a_wl; });
  expect("stage_id=" + a_stage, [&](const auto& i) { return str(i, "stage_id") == a_stage; });
  expect("state=stopped", [&](const auto& i) { return str(i, "state") == "stopped"; });
  expect("kind=project", [&](const auto&) { return true; });
  expect("kind=stack", [&](const auto&) { return false; });
  expect("app_id=" + str(app, "id"), [&](const auto& i) {
    return str(i, "workload_id") == a_wl || str(i, "workload_id") == b_wl;
  });
  expect("app_id=" + str(app, "id") + "&state=failed", [&](const auto& i) {
    return (str(i, "workload_id") == a_wl || str(i, "workload_id") == b_wl)
           && str(i, "state") == "failed";
  });
  expect("app_id=" + str(app, "id") + "&workload_id=" + c_wl, [&](const auto&) { return false; });
  expect("workload_id=" + b_wl + "&state=running&kind=project", [&](const auto& i) {
    return str(i, "workload_id") == b_wl && str(i, "state") == "running";
  });
  expect("stage_id=" + a_stage + "&workload_id=" + b_wl, [&](const auto&) { return false; });
  // Offset paging of a merged app page: the second page of 4 is rows 5 to 8.
  auto second = check_json(get("/api/containers?limit=4&offset=4&app_id=" + str(app, "id")), 200);
  std::vector<std::string> app_rows;
  for (const auto& item : all["items"].GetArray())
    if (str(item, "workload_id") != c_wl)
      app_rows.push_back(str(item, "id"));
  CHECK(ids_of(second) == std::vector<std::string>(app_rows.begin() + 4, app_rows.begin() + 8));
}

TEST_CASE_FIXTURE(list_fixture, "a token the guard resolved before is refused from its revocation on") {
  auto made = check_json(client().Post("/api/tokens", R"({"name":"poller"})", json), 201);
  auto poller = bearer_client(port, str(made, "token"));
  for (int i = 0; i < 3; ++i) // resolved once, then answered from the guard's cache
    CHECK(poller.Get("/api/containers")->status == 200);
  auto revoked = client().Delete(("/api/tokens/" + str(made, "id")).c_str());
  REQUIRE(revoked);
  CHECK(revoked->status == 204);
  CHECK(poller.Get("/api/containers")->status == 401);
  CHECK(client().Get("/api/containers")->status == 200); // another token is unaffected
}

TEST_CASE("a list row is the JSON RapidJSON writes, escapes included") {
  // The list appends its rows itself (net/container_json.hpp); every byte must be what a
  // RapidJSON writer gives for the same values.
  const std::string odd = std::string{"q\"b\\s/n\nt\tr\rf\fb\b c\x01\x1f\x7f"} + "\xc3\xa9";
  tf::container_view c;
  c.id = odd;
  c.workload_id = "w";
  c.workload_kind = "project";
  c.role = odd;
  c.subdomain = odd;
  c.state = "running";
  c.host = "local";
  c.port = -42;
  c.created_at = "2026-01-02T03:04:05.678Z";
  c.updated_at = odd;
  std::string appended;
  tf::net::append_container_json(appended, c);
  auto written = tf::net::make_json([&](tf::net::json_writer& w) {
    w.StartObject();
    for (auto [key, value] : {std::pair{"id", c.id}, {"workload_id", c.workload_id},
                              {"workload_kind", c.workload_kind}, {"role", c.role}})
      tf::net::field(w, key, value);
    for (auto [key, value] : {std::pair{"stage_id", c.stage_id}, {"subdomain", c.subdomain},
                              {"image_tag", c.image_tag}, {"container_id", c.container_id}})
      tf::net::nullable(w, key, value);
    tf::net::field(w, "state", c.state);
    tf::net::nullable(w, "image_ref", c.image_ref);
    tf::net::field(w, "host", c.host);
    tf::net::field(w, "port", c.port);
    tf::net::nullable(w, "last_seen_at", c.last_seen_at);
    tf::net::field(w, "created_at", c.created_at);
    tf::net::field(w, "updated_at", c.updated_at);
    w.EndObject();
  });
  CHECK(appended == written);
}

TEST_CASE("a string is escaped as RapidJSON does wherever its special byte sits") {
  // append_json_string skips eight plain bytes at a time: every byte that needs escaping,
  // and its neighbours that do not, at every offset of a word and across word boundaries.
  std::vector<unsigned char> bytes{' ', '!', '#', '[', ']', 0x7f, 0x80, 0xc3, 0xff, '"', '\\'};
  for (unsigned char c = 0; c < 0x20; ++c)
    bytes.push_back(c);
  for (auto b : bytes) {
    for (size_t at = 0; at < 20; ++at) {
      std::string s(20, 'a');
      s[at] = static_cast<char>(b);
      std::string appended;
      tf::net::append_json_string(appended, s);
      auto written = tf::net::make_json([&](tf::net::json_writer& w) {
        w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
      });
      INFO("byte ", static_cast<int>(b), " at ", at);
      CHECK(appended == written);
    }
  }
}
