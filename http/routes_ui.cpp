// The web UI: the files of web/'s build, compiled into the binary (cmake/WebUi.cmake). Every
// GET outside /api that names no file answers the app's index.html, so a shared link such
// as /containers?kind=stack opens that page; files under _app/immutable/ carry a content
// hash in their names and are cached for good.
#include "http/routes.hpp"
#include "web/assets.hpp"

#include <httplib.h>

#include <string>
#include <string_view>

namespace tf::http {

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string content_type_of(std::string_view path) {
  static constexpr std::pair<std::string_view, std::string_view> types[] = {
    {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},   {".json", "application/json"},
    {".svg", "image/svg+xml"},             {".png", "image/png"},
    {".ico", "image/x-icon"},              {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"}, {".webmanifest", "application/manifest+json"}};
  for (const auto& [ext, type] : types)
    if (ends_with(path, ext))
      return std::string{type};
  return "application/octet-stream";
}

void serve(const web::asset& a, bool immutable, httplib::Response& res) {
  res.set_header("Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Referrer-Policy", "same-origin");
  res.set_content(std::string{a.content}, content_type_of(a.path));
}

} // namespace

void install_ui_routes(route_table& http) {
  // Registered last: every route above wins (httplib tries them in order).
  http.Get(R"(/(?!api(?:/|$))(.*))", [](const httplib::Request& req, httplib::Response& res) {
    std::string path = req.matches.size() > 1 ? req.matches[1].str() : std::string{};
    const auto* file = path.empty() || path == "openapi.json" ? nullptr : web::find_asset(path);
    if (file)
      return serve(*file, path.rfind("_app/immutable/", 0) == 0, res);
    const auto* index = web::find_asset("index.html");
    if (!index) {
      res.status = 404;
      return;
    }
    serve(*index, false, res);
  });
}

} // namespace tf::http
