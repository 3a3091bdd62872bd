#include "actors/webhook_payload.hpp"

#include "actors/errors.hpp"
#include "http/json.hpp"
#include "store/deployments.hpp"

#include <rapidjson/document.h>

namespace tf {

namespace {

const std::string* header(const webhook_headers& h, const char* name) {
  auto i = h.find(name);
  return i == h.end() || i->second.empty() ? nullptr : &i->second;
}

payload_reading refuse(int64_t status, std::string code, std::string message) {
  payload_reading r;
  r.status = status;
  r.code = std::move(code);
  r.message = std::move(message);
  return r;
}

payload_reading no_tag(const std::string& why) {
  return refuse(422, "no_tag", "no tag in this event: " + why);
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

/// A tag found in an event is checked like one given by hand.
payload_reading with_tag(std::string tag, std::string stage, std::string event) {
  if (!store::is_image_tag(tag))
    return refuse(400, "invalid_argument",
                  "tag: \"" + tag.substr(0, 80) + "\" is not a valid image tag");
  payload_reading r;
  r.target = {std::move(tag), std::move(stage), std::move(event)};
  return r;
}

/// GitHub's package and registry_package events: the container tag of the version
/// published, or the version's name.
payload_reading github_package(const rapidjson::Value& doc, const std::string& event) {
  const auto* pkg = walk(doc, {event == "registry_package" ? "registry_package" : "package"});
  if (!pkg)
    pkg = walk(doc, {"package"});
  if (!pkg || !pkg->IsObject())
    return no_tag("the " + event + " event has no package");
  if (const auto* t = string_at(*pkg, {"package_version", "container_metadata", "tag", "name"}))
    return with_tag(text(*t), "", event);
  if (const auto* v = string_at(*pkg, {"package_version", "version"}))
    return with_tag(text(*v), "", event);
  return no_tag("the package version names no tag");
}

/// A push (GitLab "Push Hook"/"Tag Push Hook", Gitea "push"): the tag of refs/tags/<tag>.
payload_reading tag_push(const rapidjson::Value& doc, const std::string& event) {
  const auto* ref = string_at(doc, {"ref"});
  if (!ref)
    return no_tag("the push names no ref");
  auto r = text(*ref);
  constexpr std::string_view prefix = "refs/tags/";
  if (r.compare(0, prefix.size(), prefix) != 0)
    return no_tag("a push of " + r.substr(0, 80) + ", not of a tag");
  // A deleted tag arrives as a push whose "after" is all zeros: nothing to deploy.
  if (const auto* after = string_at(doc, {"after"}))
    if (text(*after).find_first_not_of('0') == std::string::npos)
      return no_tag("the tag was deleted");
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

payload_reading read_project_payload(const webhook_headers& headers, std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return no_tag("the body is empty");
  auto doc = http::parse_object(body);
  if (!doc)
    return refuse(400, "invalid_argument", error_message(doc.error()));
  auto event = webhook_event(headers);
  const bool gitea = header(headers, "x-gitea-event") != nullptr;
  const bool gitlab = header(headers, "x-gitlab-event") != nullptr;
  if (!event.empty() && !gitea && !gitlab) { // GitHub
    if (event == "package" || event == "registry_package")
      return github_package(*doc, event);
    return no_tag("GitHub's " + event.substr(0, 40) + " event is not a package event");
  }
  if (gitlab) {
    if (event == "Push Hook" || event == "Tag Push Hook")
      return tag_push(*doc, event);
    return no_tag("GitLab's " + event.substr(0, 40) + " is not a push");
  }
  if (gitea) {
    if (event == "push")
      return tag_push(*doc, event);
    if (event == "create") { // a tag or branch created: ref is the bare name
      const auto* kind = string_at(*doc, {"ref_type"});
      const auto* ref = string_at(*doc, {"ref"});
      if (!kind || text(*kind) != "tag" || !ref)
        return no_tag("a branch was created, not a tag");
      return with_tag(text(*ref), "", event);
    }
    return no_tag("Gitea's " + event.substr(0, 40) + " event is not a push");
  }
  // Tinyforge's own body.
  std::string stage;
  if (doc->HasMember("stage")) {
    const auto& s = (*doc)["stage"];
    if (!s.IsString())
      return refuse(400, "invalid_argument", "stage: must be a string");
    stage = text(s);
    if (stage.size() > 128)
      return refuse(400, "invalid_argument", "stage: longer than 128 characters");
  }
  if (!doc->HasMember("tag"))
    return no_tag("the body has no \"tag\"");
  const auto& tag = (*doc)["tag"];
  if (!tag.IsString())
    return refuse(400, "invalid_argument", "tag: must be a string");
  return with_tag(text(tag), std::move(stage), "");
}

} // namespace tf
