// tinyforge: the command line. It only parses arguments and hands them to a verb.
#include "core/errors.hpp"
#include "cli/commands.hpp"
#include "cli/heap.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

int main(int argc, char** argv) {
  tf::keep_heap_small();
  CLI::App app{"Tinyforge: deploys what CI builds onto this Docker host", "tinyforge"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tinyforge " TINYFORGE_VERSION);

  auto* serve = app.add_subcommand("serve", "Run the daemon (stop it with SIGTERM or Ctrl-C)");
  tf::config_sources sources;
  serve->add_option("-c,--config", sources.file,
                    "Config file (JSON with // comments), e.g. config/tinyforge.json");
  // Every config key is also a flag of the same name; empty means "not given".
  std::map<std::string, std::string> flag_values;
  for (const auto& key : tf::config_keys())
    serve->add_option("--" + key.key, flag_values[key.key],
                      key.description + " (env " + key.env + ", default " + key.default_value
                        + ")");

  auto* admin = app.add_subcommand("admin", "Manage users in the daemon's database");
  admin->require_subcommand(1);
  auto* admin_create = admin->add_subcommand("create", "Add an admin; the password is read from stdin");
  std::string username;
  admin_create->add_option("-u,--username", username, "The new admin's name")->required();
  admin_create->add_option("-c,--config", sources.file, "Config file (for data_dir)");
  std::map<std::string, std::string> admin_flag_values;
  for (const auto& key : tf::config_keys())
    admin_create->add_option("--" + key.key, admin_flag_values[key.key], key.description);

  CLI11_PARSE(app, argc, argv);

  auto finish_sources = [&](CLI::App* cmd, std::map<std::string, std::string>& values) {
    if (sources.file.empty())
      if (const char* file = std::getenv("TINYFORGE_CONFIG"))
        sources.file = file;
    for (const auto& key : tf::config_keys())
      if (cmd->count("--" + key.key) > 0)
        sources.flags[key.key] = values[key.key];
    sources.env = tf::tinyforge_environment();
  };
  if (serve->parsed()) {
    finish_sources(serve, flag_values);
    return tf::cli::serve(sources);
  }
  if (admin_create->parsed()) {
    finish_sources(admin_create, admin_flag_values);
    return tf::cli::admin_create(sources, username);
  }
  return 0;
}
