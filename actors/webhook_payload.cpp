#include "actors/webhook_payload.hpp"

#include "core/errors.hpp"
#include "net/json.hpp"
#include "store/deployments.hpp"
#include "store/validate.hpp"

#include <rapidjson/document.h>

namespace tf {

namespace {

const std::string* header(const webhook_headers& h, const char* name) {
  auto i = h.find(name);
  return i == h.end() || i->second.empty() ? nullptr : &i->second;
}

payload_reading refuse(std::string code, std::string message) {
  payload_reading r;
  r.verdict = payload_verdict::refuse;
  r.code = std::move(code);
  r.message = std::move(message);
  return r;
}

payload_reading no_tag(const std::string& why) {
  return refuse("no_tag", "no tag in this event: " + why);
}

/// A well-formed delivery that asks for no deploy: logged as ignored, and answered as a
/// success so the sender does not show the hook as failing.
payload_reading ignore(std::string why) {
  payload_reading r;
  r.verdict = payload_verdict::ignore;
  r.message = std::move(why);
  return r;
}

std::string text(const rapidjson::Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

/// obj[a][b]... when every step is an object member; nullptr otherwise.
const rapidjson::Value* walk(const rapidjson::Value& v, std::initializer_list<const char*> path) {
  const rapidjson::Value* at = &v;
  for (const char* key : path) {
    if (!at->IsObject())
      return nullptr;
    auto m = at->FindMember(key);
    if (m == at->MemberEnd())
      return nullptr;
    at = &m->value;
  }
  return at;
}

const rapidjson::Value* string_at(const rapidjson::Value& v,
                                  std::initializer_list<const char*> path) {
  const auto* x = walk(v, path);
  return x && x->IsString() && x->GetStringLength() > 0 ? x : nullptr;
}

/// A short copy of outside text for a message.
std::string shown(std::string s) {
  if (s.size() > 120)
    s = s.substr(0, 120) + "...";
  return s;
}

std::string lowercase(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return s;
}

/// A registry's version that names no tag: an image pushed by digest, or one platform's
/// manifest of a multi-arch image. Its "version" is the digest.
bool is_digest(const std::string& v) {
  return v.empty() || v.compare(0, 7, "sha256:") == 0 || v.compare(0, 7, "sha512:") == 0;
}

/// A tag found in an event is checked like one given by hand.
payload_reading with_tag(std::string tag, std::string stage, std::string event,
                         std::string image = {}) {
  if (!store::is_image_tag(tag))
    return refuse("invalid_argument",
                  "tag: \"" + tag.substr(0, 80) + "\" is not a valid image tag");
  payload_reading r;
  r.target.tag = std::move(tag);
  r.target.stage = std::move(stage);
  r.target.event = std::move(event);
  r.target.image = std::move(image);
  return r;
}

/// Whether a GitHub package is a container image: package_type or ecosystem says
/// CONTAINER or docker (GitHub's own examples mix the two). One that says neither (an
/// older or a hand-made body) is taken as one; its image must still match the project's.
bool github_container(const rapidjson::Value& pkg) {
  const auto* type = string_at(pkg, {"package_type"});
  const auto* eco = string_at(pkg, {"ecosystem"});
  if (!type && !eco)
    return true;
  for (const auto* v : {type, eco})
    if (v) {
      auto t = lowercase(text(*v));
      if (t == "container" || t == "docker")
        return true;
    }
  return false;
}

/// The image a GitHub package event is about: the package_url of its version
/// ("ghcr.io/owner/name:tag", the reference `docker pull` takes), else ghcr.io/<namespace>/
/// <name>. "" when the event says neither.
std::string github_image(const rapidjson::Value& pkg) {
  if (const auto* url = string_at(pkg, {"package_version", "package_url"}))
    return store::image_repository_key(text(*url));
  const auto* ns = string_at(pkg, {"namespace"});
  const auto* name = string_at(pkg, {"name"});
  if (!ns || !name)
    return {};
  return store::image_repository_key("ghcr.io/" + text(*ns) + "/" + text(*name));
}

/// GitHub's package and registry_package events: the container tag of the version
/// published, if the version has one and the package is the project's image (the store
/// compares the image).
payload_reading github_package(const rapidjson::Value& doc, const std::string& event) {
  const auto* pkg = walk(doc, {event == "registry_package" ? "registry_package" : "package"});
  if (!pkg)
    pkg = walk(doc, {"package"});
  if (!pkg || !pkg->IsObject())
    return ignore("the " + event + " event has no package");
  if (const auto* action = string_at(doc, {"action"})) {
    auto a = text(*action);
    if (a != "published" && a != "updated")
      return ignore("a package was " + shown(a) + ", not published");
  }
  if (!github_container(*pkg))
    return ignore("the package is not a container image");
  auto image = github_image(*pkg);
  if (image.empty())
    return ignore("the event does not say which image it is about "
                  "(no package_version.package_url, no namespace and name)");
  std::string tag;
  const auto* named = walk(*pkg, {"package_version", "container_metadata", "tag", "name"});
  if (named && named->IsString()) {
    tag = text(*named); // container metadata is there: its tag is the one, "" is none
  } else if (const auto* v = string_at(*pkg, {"package_version", "version"})) {
    tag = text(*v);
  }
  if (is_digest(tag))
    return ignore("an untagged version of " + image
                  + " (pushed by digest, or one platform of a multi-arch image)");
  return with_tag(std::move(tag), "", event, std::move(image));
}

/// The host[:port] of an http(s) URL, "" if it is none.
std::string url_host(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos)
    return {};
  auto host = url.substr(scheme + 3);
  host = host.substr(0, host.find_first_of("/?#"));
  if (host.find('@') != std::string::npos)
    return {};
  return host;
}

/// Gitea's package event: a container version created. Gitea serves its registry on its
/// own host, so the image is <host of html_url>/<owner>/<name>.
payload_reading gitea_package(const rapidjson::Value& doc, const std::string& event) {
  const auto* pkg = walk(doc, {"package"});
  if (!pkg || !pkg->IsObject())
    return ignore("the package event has no package");
  if (const auto* action = string_at(doc, {"action"}))
    if (text(*action) != "created")
      return ignore("a package was " + shown(text(*action)) + ", not created");
  const auto* type = string_at(*pkg, {"type"});
  if (!type || lowercase(text(*type)) != "container")
    return ignore("the package is not a container image");
  const auto* owner = string_at(*pkg, {"owner", "login"});
  if (!owner)
    owner = string_at(*pkg, {"owner", "username"});
  const auto* name = string_at(*pkg, {"name"});
  const auto* page = string_at(*pkg, {"html_url"});
  auto host = page ? url_host(text(*page)) : std::string{};
  auto image = owner && name && !host.empty()
                 ? store::image_repository_key(host + "/" + text(*owner) + "/" + text(*name))
                 : std::string{};
  if (image.empty())
    return ignore("the event does not say which image it is about "
                  "(package owner, name and html_url)");
  const auto* version = string_at(*pkg, {"version"});
  auto tag = version ? text(*version) : std::string{};
  if (is_digest(tag))
    return ignore("an untagged version of " + image
                  + " (pushed by digest, or one platform of a multi-arch image)");
  return with_tag(std::move(tag), "", event, std::move(image));
}

/// A push (GitLab "Push Hook"/"Tag Push Hook", Gitea "push"): the tag of refs/tags/<tag>.
payload_reading tag_push(const rapidjson::Value& doc, const std::string& event) {
  const auto* ref = string_at(doc, {"ref"});
  if (!ref)
    return ignore("the push names no ref");
  auto r = text(*ref);
  constexpr std::string_view prefix = "refs/tags/";
  if (r.compare(0, prefix.size(), prefix) != 0)
    return ignore("a push of " + shown(r) + ", not of a tag");
  // A deleted tag arrives as a push whose "after" is all zeros: nothing to deploy.
  if (const auto* after = string_at(doc, {"after"}))
    if (text(*after).find_first_not_of('0') == std::string::npos)
      return ignore("the tag " + shown(r.substr(prefix.size())) + " was deleted");
  return with_tag(r.substr(prefix.size()), "", event);
}

} // namespace

std::string webhook_event(const webhook_headers& h) {
  for (const char* name : {"x-github-event", "x-gitea-event", "x-gitlab-event"})
    if (const auto* v = header(h, name))
      return *v;
  return {};
}

std::string webhook_delivery_id(const webhook_headers& h) {
  for (const char* name :
       {"x-github-delivery", "x-gitea-delivery", "x-gitlab-event-uuid", "x-tinyforge-delivery"})
    if (const auto* v = header(h, name))
      return *v;
  return {};
}

payload_reading read_stack_payload(const webhook_headers& headers, std::string_view body) {
  auto event = webhook_event(headers);
  const bool github = !event.empty() && header(headers, "x-gitea-event") == nullptr
                      && header(headers, "x-gitlab-event") == nullptr;
  if (github && event == "ping")
    return ignore("ping: GitHub checks that the hook answers");
  payload_reading r;
  r.target.event = event;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return r; // a plain trigger: redeploy
  auto doc = net::parse_object(body);
  if (!doc)
    return refuse("invalid_argument", error_message(doc.error()));
  // A sender's push (any event but a ping) redeploys; only Tinyforge's body names a tag.
  if (!event.empty() || !doc->HasMember("tag"))
    return r;
  const auto& tag = (*doc)["tag"];
  if (!tag.IsString())
    return refuse("invalid_argument", "tag: must be a string");
  r.target.tag = text(tag);
  return r;
}

payload_reading read_project_payload(const webhook_headers& headers, std::string_view body) {
  auto event = webhook_event(headers);
  const bool gitea = header(headers, "x-gitea-event") != nullptr;
  const bool gitlab = header(headers, "x-gitlab-event") != nullptr;
  const bool github = !event.empty() && !gitea && !gitlab;
  if (github && event == "ping") // sent once when a hook is made, and by "Redeliver"
    return ignore("ping: GitHub checks that the hook answers");
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return event.empty() ? no_tag("the body is empty") : ignore("the body is empty");
  auto doc = net::parse_object(body);
  if (!doc)
    return refuse("invalid_argument", error_message(doc.error()));
  // A sender's events that carry nothing to deploy are logged as ignored and answered as a
  // success: a hook that answers 4xx to every branch push is shown as failing by its sender.
  if (github) {
    if (event == "package" || event == "registry_package")
      return github_package(*doc, event);
    return ignore("GitHub's " + shown(event)
                  + " event does not deploy (Tinyforge deploys on registry_package events)");
  }
  if (gitlab) {
    if (event == "Push Hook" || event == "Tag Push Hook")
      return tag_push(*doc, event);
    return ignore("GitLab's " + shown(event) + " does not deploy (only tag pushes do)");
  }
  if (gitea) {
    if (event == "push")
      return tag_push(*doc, event);
    if (event == "package")
      return gitea_package(*doc, event);
    if (event == "create") { // a tag or branch created: ref is the bare name
      const auto* kind = string_at(*doc, {"ref_type"});
      const auto* ref = string_at(*doc, {"ref"});
      if (!kind || text(*kind) != "tag" || !ref)
        return ignore("a branch was created, not a tag");
      return with_tag(text(*ref), "", event);
    }
    return ignore("Gitea's " + shown(event)
                  + " event does not deploy (only tag pushes and container packages do)");
  }
  // Tinyforge's own body.
  std::string stage;
  if (doc->HasMember("stage")) {
    const auto& s = (*doc)["stage"];
    if (!s.IsString())
      return refuse("invalid_argument", "stage: must be a string");
    stage = text(s);
    if (stage.size() > 128)
      return refuse("invalid_argument", "stage: longer than 128 characters");
  }
  bool force = false;
  if (doc->HasMember("force")) {
    const auto& f = (*doc)["force"];
    if (!f.IsBool())
      return refuse("invalid_argument", "force: must be true or false");
    force = f.GetBool();
  }
  if (!doc->HasMember("tag"))
    return no_tag("the body has no \"tag\"");
  const auto& tag = (*doc)["tag"];
  if (!tag.IsString())
    return refuse("invalid_argument", "tag: must be a string");
  auto r = with_tag(text(tag), std::move(stage), "");
  r.target.force = force;
  return r;
}

} // namespace tf
