// tributary: the command-line client. `tributary command '<text>'`, `tributary query '<text>'`.

#include <CLI/CLI.hpp>
#include <iostream>

#include "client/client.hpp"
#include "client/render.hpp"

namespace {

int print(const tributary::model::outcome& o, const std::string& format) {
  using namespace tributary;
  if (const auto* e = std::get_if<model::error>(&o)) {
    std::cerr << "error: " << e->code << " (" << (e->permanent ? "permanent" : "transient")
              << "): " << e->message << "\n";
    return e->permanent ? 1 : 2;
  }
  const auto& t = std::get<model::result_table>(o);
  if (format == "csv") std::cout << client::render_csv(t);
  else if (format == "json") std::cout << client::render_json(t);
  else std::cout << client::render_table(t);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string node = "127.0.0.1:7400";
  std::string database;
  std::string format = "table";
  CLI::App app{"tributary: client for tributaryd"};
  app.add_option("--node", node, "host:port of a tributaryd RPC endpoint")->capture_default_str();
  app.add_option("--database,-d", database, "Database in context");
  app.add_option("--format,-f", format, "Output: table, csv or json")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();
  app.require_subcommand(1);
  std::string text;
  auto* command = app.add_subcommand("command", "Run a management command, e.g. '.show databases'");
  command->add_option("text", text, "The command")->required();
  auto* query = app.add_subcommand("query", "Run a query, e.g. 'T | count'");
  query->add_option("text", text, "The query")->required();
  CLI11_PARSE(app, argc, argv);

  tributary::client::connection conn(node);
  if (command->parsed()) return print(conn.command(database, text), format);
  return print(conn.query(database, text), format);
}
