// tributary: the command-line client.
//   tributary command '<text>'     a management command
//   tributary query '<text>'       a query
//   tributary ingest --table T --format csv FILE|-    streaming ingest of a file or stdin
// With several --node addresses, a node that cannot be reached is left for the next one.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <thread>
#include <unordered_map>
#include <iostream>
#include <random>
#include <unistd.h>

#include "client/client.hpp"
#include "client/render.hpp"
#include "client/splitter.hpp"

namespace {

using namespace tributary;

void print_warnings(const std::vector<std::string>& warnings) {
  for (const auto& w : warnings) std::cerr << "warning: " << w << "\n";
}

int print(const model::outcome& o, const std::string& format) {
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

struct ingest_options {
  std::string table;
  std::string format = "csv";
  std::string mapping;
  std::string file = "-";
  size_t in_flight = 4;
  size_t max_request_bytes = 4u << 20;
  int max_attempts = 8;
};

std::string run_id() {
  std::random_device rd;
  std::mt19937_64 rng(rd());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", b, units[u]);
  return buf;
}

// Runs `call` on the first node of `nodes`, and on the next one each time a node cannot be
// reached (ConnectionFailed); the last node's answer is the answer.
template <class Call, class Error>
auto with_failover(const std::vector<std::string>& nodes, Call call, Error error_of) {
  for (size_t i = 0;; ++i) {
    client::connection conn(nodes[i]);
    auto answer = call(conn);
    const model::error* e = error_of(answer);
    if (!e || e->code != "ConnectionFailed" || i + 1 >= nodes.size()) return answer;
    std::cerr << "warning: " << e->message << "; trying " << nodes[i + 1] << "\n";
  }
}

// The delay before sending again after `attempt` failed attempts.
std::chrono::milliseconds backoff(int attempt) {
  return std::chrono::milliseconds(std::min(5000, 100 << std::min(attempt, 6)));
}

int ingest(const std::vector<std::string>& nodes, const std::string& database, const ingest_options& o) {
  auto fmt = client::parse_format(o.format);
  if (!fmt) {
    std::cerr << "error: unknown format '" << o.format
              << "'; use csv, tsv, scsv, sohsv, psv, json or multijson\n";
    return 1;
  }
  std::FILE* in = o.file == "-" ? stdin : std::fopen(o.file.c_str(), "rb");
  if (!in) {
    std::cerr << "error: cannot open '" << o.file << "': " << std::strerror(errno) << "\n";
    return 1;
  }
  client::record_splitter splitter(in, *fmt, o.max_request_bytes);
  const auto id = run_id();
  const bool tty = isatty(2);
  const auto start = std::chrono::steady_clock::now();
  uint64_t requests = 0, acked = 0, rows = 0, bytes = 0, retries = 0, duplicates = 0;
  std::optional<std::string> failure;
  std::unordered_map<std::string, int> attempts;
  // Requests whose node went away before answering: sent again, with the same ids, to the next
  // node, naming the nodes they went to before (tributary.previousNodes): the next node asks
  // those whether they ingested it, and answers a duplicate if one did.
  std::deque<client::ingest_request> resend;
  std::optional<std::string> node_lost;  // why the current node is left
  size_t node = 0;                       // the current node, in `nodes`
  auto progress = [&](bool final) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "%s%s sent, %llu rows, %.0f rows/s, %llu/%llu requests acknowledged%s",
                 final ? "" : "\r", human_bytes(static_cast<double>(bytes)).c_str(),
                 static_cast<unsigned long long>(rows), secs > 0 ? static_cast<double>(rows) / secs : 0.0,
                 static_cast<unsigned long long>(acked), static_cast<unsigned long long>(requests),
                 final ? "\n" : "   ");
  };
  auto next = [&]() -> std::optional<client::ingest_request> {
    if (failure || node_lost) return std::nullopt;
    if (!resend.empty()) {
      auto r = std::move(resend.front());
      resend.pop_front();
      return r;
    }
    auto chunk = splitter.next();
    if (!chunk) return std::nullopt;
    if (chunk->index() == 1) {
      failure = std::get<1>(*chunk) + " (after " + std::to_string(splitter.bytes_read()) + " input bytes)";
      return std::nullopt;
    }
    client::ingest_request r;
    r.database = database;
    r.table = o.table;
    r.fmt = *fmt;
    r.mapping_name = o.mapping;
    r.data = std::move(std::get<0>(*chunk));
    r.request_id = "cli-" + id + "-" + std::to_string(requests++);
    return r;
  };
  auto answered = [&](const client::ingest_request& r,
                      const client::ingest_outcome& out) -> std::optional<std::chrono::milliseconds> {
    if (const auto* e = std::get_if<model::error>(&out)) {
      int& n = attempts[r.request_id];
      if (e->code == "ConnectionFailed" && ++n < o.max_attempts) {
        ++retries;
        if (!node_lost) node_lost = e->message;
        resend.push_back(r);
        client::add_previous_node(resend.back(), nodes[node]);
        return std::nullopt;
      }
      if (!e->permanent && e->code != "ConnectionFailed" && ++n < o.max_attempts) {
        ++retries;
        return backoff(n);
      }
      if (!failure)
        failure = e->code + " (" + (e->permanent ? "permanent" : "transient") + "): " + e->message +
                  " [request " + r.request_id + "]";
      return std::nullopt;
    }
    const auto& ack = std::get<client::ingest_ack>(out);
    attempts.erase(r.request_id);
    ++acked;
    rows += ack.consumed_records;
    bytes += r.data.size();
    duplicates += ack.duplicate ? 1 : 0;
    if (tty) progress(false);
    return std::nullopt;
  };
  // Nodes in a row that could not be reached: past max_attempts rounds of them the ingest fails.
  size_t unreachable = 0;
  for (size_t round = 0;;) {
    client::connection conn(nodes[node]);
    node_lost.reset();
    // Nothing is sent before the node answers, so a node that cannot be reached never saw a
    // request and is not named in previousNodes (which would hold the retry until it is back).
    if (auto e = conn.wait_connected()) {
      node_lost = e->message;
      if (++unreachable >= nodes.size() * static_cast<size_t>(std::max(o.max_attempts, 1)))
        failure = e->code + " (transient): " + e->message + "; no --node address could be reached";
    } else {
      unreachable = 0;
      conn.ingest_pipelined(o.in_flight, next, answered);
    }
    if (!node_lost || failure) break;
    // Every request in flight to the lost node has come back: the next node takes them over.
    node = (node + 1) % nodes.size();
    if (node == 0) std::this_thread::sleep_for(backoff(static_cast<int>(++round)));
    if (tty) std::fputc('\n', stderr);
    std::fprintf(stderr, "warning: %s; sending %zu unanswered request(s) and the rest to %s\n", node_lost->c_str(),
                 resend.size(), nodes[node].c_str());
  }
  if (in != stdin) std::fclose(in);
  if (tty) std::fputc('\n', stderr);
  progress(true);
  if (retries || duplicates)
    std::fprintf(stderr, "%llu retries, %llu answered as duplicates of an earlier attempt\n",
                 static_cast<unsigned long long>(retries), static_cast<unsigned long long>(duplicates));
  if (failure) {
    std::cerr << "error: " << *failure << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> nodes{"127.0.0.1:7400"};
  std::string database;
  std::string format = "table";
  CLI::App app{"tributary: client for tributaryd"};
  app.add_option("--node", nodes,
                 "host:port of a tributaryd RPC endpoint; several (comma-separated or repeated) to go on with "
                 "the next when one cannot be reached")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--database,-d", database, "Database in context");
  app.add_option("--format", format, "Output of command/query: table, csv or json")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();
  app.require_subcommand(1);
  std::string text;
  auto* command = app.add_subcommand("command", "Run a management command, e.g. '.show databases'");
  command->add_option("text", text, "The command")->required();
  auto* query = app.add_subcommand("query", "Run a query, e.g. 'T | count'");
  std::string query_file;
  bool show_stats = false;
  auto* query_text = query->add_option("text", text, "The query");
  query->add_option("-f,--file", query_file, "Read the query from this file (- for stdin): multi-line queries")
      ->excludes(query_text);
  query->add_flag("--stats", show_stats,
                  "Print the query's statistics (rows and extents scanned, extents and blocks pruned, bytes read, CPU "
                  "time, peak memory) on stderr");
  ingest_options io;
  auto* ingest_cmd = app.add_subcommand("ingest", "Stream a file (or - for stdin; gzip is detected) into a table");
  ingest_cmd->add_option("--table,-t", io.table, "Target table")->required();
  ingest_cmd->add_option("--format", io.format, "csv, tsv, scsv, sohsv, psv, json or multijson")
      ->capture_default_str();
  ingest_cmd->add_option("--mapping,-m", io.mapping, "Name of a pre-created ingestion mapping");
  ingest_cmd->add_option("--in-flight", io.in_flight, "Requests kept in flight")->capture_default_str();
  ingest_cmd->add_option("--max-request-bytes", io.max_request_bytes, "Upper bound of one request")
      ->capture_default_str();
  ingest_cmd->add_option("file", io.file, "Input file, or - for stdin")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  if (command->parsed())
    return print(with_failover(
                     nodes, [&](client::connection& c) { return c.command(database, text); },
                     [](const model::outcome& o) { return std::get_if<model::error>(&o); }),
                 format);
  if (query->parsed()) {
    if (query_file.empty() && text.empty()) {
      std::cerr << "tributary query: give the query as an argument, or -f FILE (- for stdin)\n";
      return 1;
    }
    if (!query_file.empty()) {
      std::ifstream file;
      std::istream* in = &std::cin;
      if (query_file != "-") {
        file.open(query_file);
        if (!file) {
          std::cerr << "tributary query: cannot read '" << query_file << "': " << std::strerror(errno) << "\n";
          return 1;
        }
        in = &file;
      }
      text.assign(std::istreambuf_iterator<char>(*in), std::istreambuf_iterator<char>());
    }
    auto answer = with_failover(
        nodes, [&](client::connection& c) { return c.query_with_warnings(database, text); },
        [](const client::query_answer& a) { return std::get_if<model::error>(&a.outcome); });
    print_warnings(answer.warnings);
    if (const auto* t = std::get_if<model::result_table>(&answer.outcome))
      for (const auto& [name, value] : t->properties)
        if (name == "Visualization" || (name == "QueryStats" && show_stats)) std::cerr << name << ": " << value << "\n";
    return print(answer.outcome, format);
  }
  return ingest(nodes, database, io);
}
