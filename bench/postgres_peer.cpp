#include "bench/postgres_peer.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <deque>
#include <exception>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/run_process.hpp"

namespace tributary::bench {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// The columns below are table_schema's in PostgreSQL's types; a change there must come here.
static_assert(table_schema == "(ts:datetime, host:string, msg:string, value:real, n:long)",
              "table_schema changed: update the PostgreSQL columns in postgres_peer.cpp");
constexpr std::string_view pg_columns =
    "(ts timestamptz, host text, msg text, value double precision, n bigint)";
constexpr int columns = 5;
constexpr int parameters = rows_per_request * columns;

constexpr auto start_timeout = 30s;
constexpr auto stop_timeout = 30s;
/// A start that loses its port to another process is tried again on a new one.
constexpr int start_attempts = 3;
/// A connection that gets no answer for this long while INSERTs are in flight is broken.
constexpr auto answer_timeout = 30s;

// ---------- processes ----------

/// Who runs initdb and the server: postgres refuses to run as root.
struct server_user {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
};

server_user pick_server_user() {
  if (geteuid() != 0) return {false, geteuid(), getegid(), "the bench's own user"};
  for (const char* name : {"postgres", "nobody"}) {
    passwd entry{}, *found = nullptr;
    std::array<char, 4096> buffer{};
    if (getpwnam_r(name, &entry, buffer.data(), buffer.size(), &found) == 0 && found)
      return {true, entry.pw_uid, entry.pw_gid, name};
  }
  throw std::runtime_error(
      "postgres peer: running as root, and there is neither a 'postgres' nor a 'nobody' user to "
      "run the server as (postgres refuses root); run bench/setup-postgres, which creates "
      "'postgres', or run the bench as an unprivileged user");
}

/// Starts `args` as `user` with stdout and stderr appended to `log`; the child gets
/// `death_signal` when the calling thread ends.
pid_t spawn(const std::vector<std::string>& args, const server_user& user,
            const std::filesystem::path& log, int death_signal) {
  const testing::spawn_identity as{user.uid, user.gid};
  return testing::spawn_logged(args, log, death_signal, "postgres peer", user.switch_user ? &as : nullptr);
}

/// A free loopback port (never 5432, where a system PostgreSQL may listen). Released on
/// return, so another process may take it before the server binds it (then the start is retried).
uint16_t free_port() {
  for (int attempt = 0; attempt < 10; ++attempt)
    if (const auto port = testing::free_ports(1).front(); port != 5432) return port;
  throw std::runtime_error("postgres peer: no free loopback port");
}

/// Fields 3, 4, ... of /proc/<pid>/stat (state, ppid, ...); empty when there is no such process.
std::vector<std::string> stat_fields(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string line;
  std::getline(in, line);
  const auto close = line.rfind(')');
  std::vector<std::string> fields;
  if (close == std::string::npos || close + 2 > line.size()) return fields;
  std::istringstream rest(line.substr(close + 2));
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

// ---------- libpq ----------

struct conn_closer {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using pg_conn = std::unique_ptr<PGconn, conn_closer>;
struct result_clearer {
  void operator()(PGresult* r) const { PQclear(r); }
};
using pg_result = std::unique_ptr<PGresult, result_clearer>;

pg_conn connect(const std::string& conninfo) {
  pg_conn c(PQconnectdb(conninfo.c_str()));
  if (!c || PQstatus(c.get()) != CONNECTION_OK)
    throw std::runtime_error(fmt::format("postgres peer: cannot connect ({}): {}", conninfo,
                                         c ? PQerrorMessage(c.get()) : "out of memory"));
  return c;
}

std::string sqlstate(const PGresult* r) {
  const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  return s ? s : "unknown";
}

/// Throws naming `what` and the server's message unless `r` has status `expected`.
pg_result expect(pg_result r, ExecStatusType expected, PGconn* c, std::string_view what) {
  if (!r || PQresultStatus(r.get()) != expected)
    throw std::runtime_error(fmt::format("postgres peer: {} failed: {}", what,
                                         r ? PQresultErrorMessage(r.get()) : PQerrorMessage(c)));
  return r;
}

std::string quoted(PGconn* c, const std::string& name) {
  char* q = PQescapeIdentifier(c, name.data(), name.size());
  if (!q) throw std::runtime_error("postgres peer: cannot quote table name " + name);
  std::string out = q;
  PQfreemem(q);
  return out;
}

/// `INSERT INTO "T" (ts, host, msg, value, n) VALUES ($1, ..., $5), ..., ($46, ..., $50)`.
std::string insert_sql(PGconn* c, const std::string& table) {
  std::string sql =
      fmt::format("INSERT INTO {} (ts, host, msg, value, n) VALUES ", quoted(c, table));
  for (int row = 0; row < rows_per_request; ++row) {
    sql += row ? ", (" : "(";
    for (int col = 0; col < columns; ++col)
      sql += fmt::format("{}${}", col ? ", " : "", row * columns + col + 1);
    sql += ')';
  }
  return sql;
}

/// One request's CSV body split into the INSERT's parameters, as text: the server parses the
/// values, as the node parses the CSV.
struct insert_parameters {
  std::string fields;  ///< the body with each ',' and '\n' turned into '\0'
  std::array<const char*, parameters> values{};
};

void split_csv(std::string_view csv, insert_parameters& out) {
  out.fields.assign(csv);
  size_t n = 0;
  size_t start = 0;
  for (size_t i = 0; i < out.fields.size(); ++i) {
    char& ch = out.fields[i];
    if (ch != ',' && ch != '\n') continue;
    if (n == parameters) break;
    ch = '\0';
    out.values[n++] = out.fields.data() + start;
    start = i + 1;
  }
  if (n != parameters || start != out.fields.size())
    throw std::runtime_error(fmt::format(
        "postgres peer: a payload does not split into {} rows of {} fields (got {} fields): "
        "payload_generator must make unquoted CSV rows ending in a newline",
        rows_per_request, columns, n));
}

/// Checks an INSERT's answer; empty when it inserted every row, else the error's code.
std::string insert_error(const PGresult* r) {
  const auto status = PQresultStatus(r);
  if (status == PGRES_COMMAND_OK)
    return std::atoi(PQcmdTuples(const_cast<PGresult*>(r))) == rows_per_request ? "" : "row_count";
  if (status == PGRES_FATAL_ERROR) return sqlstate(r);
  return PQresStatus(status);
}

}  // namespace

// ---------- installation ----------

void ensure_postgres_installed() {
  const auto bin = std::filesystem::path(postgres_bin_dir);
  auto present = [&] {
    return access((bin / "postgres").c_str(), X_OK) == 0 &&
           access((bin / "initdb").c_str(), X_OK) == 0;
  };
  if (present()) return;
  const std::string script = TRIBUTARY_BENCH_SETUP_POSTGRES;
  const std::string fix = fmt::format(
      "install it with `{}` (as root or with sudo; Debian 12's postgresql-15), then run the bench "
      "again",
      script);
  if (access(script.c_str(), X_OK) != 0)
    throw std::runtime_error(fmt::format("--peer postgres: {} is missing, and so is {}; {}",
                                         (bin / "postgres").string(), script, fix));
  progress(fmt::format("--peer postgres: {} is missing; running {}", (bin / "postgres").string(),
                       script));
  const auto r = testing::run_process({script});
  if (r.exit_code != 0 || !present())
    throw std::runtime_error(fmt::format("--peer postgres: {} failed (exit {}): {}{}; {}", script,
                                         r.exit_code, r.err, r.out, fix));
}

// ---------- the server ----------

postgres_server::postgres_server(const std::filesystem::path& root, size_t client_connections)
    : dir_(root / "postgres-peer"), log_(dir_ / "postgres.log") {
  ensure_postgres_installed();
  const auto user = pick_server_user();
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  try {
    if (user.switch_user && chown(dir_.c_str(), user.uid, user.gid) != 0)
      throw std::runtime_error("postgres peer: cannot chown " + dir_.string() + " to " + user.name);
    std::filesystem::permissions(dir_, std::filesystem::perms::owner_all);
    // The socket path must fit sockaddr_un (≈107 bytes): "<dir>/.s.PGSQL.<port>".
    if (dir_.string().size() + 16 >= sizeof(sockaddr_un::sun_path))
      throw std::runtime_error(fmt::format(
          "postgres peer: {} is too long for a unix socket path; pass a shorter --data-root",
          dir_.string()));

    const auto bin = std::filesystem::path(postgres_bin_dir);
    // initdb syncs what it wrote (no --no-sync): otherwise the kernel would write its ~40 MB
    // back during the measurement, slowing the node's and the limit's fsyncs as much as ours.
    const pid_t initdb =
        spawn({(bin / "initdb").string(), "-D", (dir_ / "data").string(), "-U", "bench",
               "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions"},
              user, log_, SIGKILL);
    int status = 0;
    waitpid(initdb, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      throw std::runtime_error(fmt::format(
          "postgres peer: initdb in {} as {} failed ({} {}); that user must be able to enter "
          "every parent directory of --data-root. Its output ends:\n{}",
          (dir_ / "data").string(), user.name, WIFEXITED(status) ? "exit" : "signal",
          WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), testing::log_tail(log_)));

    // Superuser-reserved slots (3) and the set-up connection on top of the clients'.
    const size_t max_connections = client_connections + 5;
    std::string last_error;
    for (int attempt = 1; attempt <= start_attempts && pid_ <= 0; ++attempt) {
      port_ = free_port();
      pid_ = spawn(
          {(bin / "postgres").string(), "-D", (dir_ / "data").string(), "-p", std::to_string(port_),
           "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + dir_.string(),
           "-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "shared_buffers=128MB", "-c",
           fmt::format("max_connections={}", max_connections)},
          user, log_, SIGQUIT);
      const auto deadline = steady::now() + start_timeout;
      while (PQping(conninfo().c_str()) != PQPING_OK) {
        int st = 0;
        if (waitpid(pid_, &st, WNOHANG) == pid_) {
          pid_ = -1;
          last_error = fmt::format("exited at start on port {}", port_);
          break;
        }
        if (steady::now() >= deadline) {
          last_error = fmt::format("does not accept connections on port {} within 30 s", port_);
          stop();
          break;
        }
        std::this_thread::sleep_for(20ms);
      }
      const auto log = testing::log_tail(log_);
      const bool port_race = log.find("could not bind") != std::string::npos ||
                             log.find("Address already in use") != std::string::npos;
      if (pid_ <= 0 && !port_race) break;
    }
    if (pid_ <= 0)
      throw std::runtime_error(fmt::format("postgres peer: the server in {} {}. Its log ends:\n{}",
                                           dir_.string(), last_error, testing::log_tail(log_)));

    auto c = connect(conninfo());
    auto version = expect(pg_result(PQexec(c.get(), "SHOW server_version")), PGRES_TUPLES_OK,
                          c.get(), "SHOW server_version");
    description_ = {{"server", fmt::format("PostgreSQL {}", PQgetvalue(version.get(), 0, 0))},
                    {"address", fmt::format("127.0.0.1:{}", port_)},
                    {"runs_as", user.name},
                    {"data_fs", filesystem_of(dir_)}};
    auto settings = expect(
        pg_result(PQexec(c.get(),
                         "SELECT name, setting, coalesce(unit, '') FROM pg_settings WHERE name IN "
                         "('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', "
                         "'commit_delay', 'shared_buffers', 'max_connections', 'wal_level') "
                         "ORDER BY name")),
        PGRES_TUPLES_OK, c.get(), "reading pg_settings");
    json s = json::object();
    for (int row = 0; row < PQntuples(settings.get()); ++row) {
      const std::string unit = PQgetvalue(settings.get(), row, 2);
      s[PQgetvalue(settings.get(), row, 0)] =
          std::string(PQgetvalue(settings.get(), row, 1)) + (unit.empty() ? "" : " x " + unit);
    }
    description_["settings"] = s;
  } catch (...) {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw;
  }
}

postgres_server::~postgres_server() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void postgres_server::stop() {
  // fast shutdown: ends the backends, writes a checkpoint
  testing::stop_process(pid_, SIGINT, stop_timeout);
}

std::string postgres_server::conninfo() const {
  return fmt::format(
      "hostaddr=127.0.0.1 port={} dbname=postgres user=bench connect_timeout=5 "
      "application_name=tributary-bench",
      port_);
}

void postgres_server::create_tables(const std::vector<std::string>& names) const {
  auto c = connect(conninfo());
  // Each CREATE TABLE holds a few locks until its transaction ends; 50 stay far below the lock
  // table's size (max_locks_per_transaction × max_connections).
  constexpr size_t per_transaction = 50;
  for (size_t from = 0; from < names.size(); from += per_transaction) {
    const size_t to = std::min(names.size(), from + per_transaction);
    std::string sql = "BEGIN;";
    for (size_t i = from; i < to; ++i)
      sql += fmt::format("CREATE TABLE {} {};", quoted(c.get(), names[i]), pg_columns);
    sql += "COMMIT;";
    expect(pg_result(PQexec(c.get(), sql.c_str())), PGRES_COMMAND_OK, c.get(),
           fmt::format("creating tables {} to {}", names[from], names[to - 1]));
  }
}

double postgres_server::cpu_seconds() const {
  if (pid_ <= 0) return 0;
  const std::string self = std::to_string(pid_);
  // Indexes into stat_fields: ppid 1, utime 11, stime 12, cutime 13, cstime 14.
  double ticks = 0;
  const auto own = stat_fields(self);
  if (own.size() > 14)
    ticks += std::stod(own[11]) + std::stod(own[12]) + std::stod(own[13]) + std::stod(own[14]);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto f = stat_fields(name);
    if (f.size() > 12 && f[1] == self) ticks += std::stod(f[11]) + std::stod(f[12]);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// ---------- latency's client ----------

struct postgres_sequential_client::impl {
  pg_conn conn;
  insert_parameters parameters;
};

postgres_sequential_client::postgres_sequential_client(const postgres_server& server,
                                                       const std::string& table)
    : impl_(std::make_unique<impl>()) {
  impl_->conn = connect(server.conninfo());
  PGconn* c = impl_->conn.get();
  expect(pg_result(PQprepare(c, "insert", insert_sql(c, table).c_str(), parameters, nullptr)),
         PGRES_COMMAND_OK, c, "PREPARE the INSERT into " + table);
}

postgres_sequential_client::~postgres_sequential_client() = default;

double postgres_sequential_client::insert_us(std::string_view csv) {
  split_csv(csv, impl_->parameters);
  PGconn* c = impl_->conn.get();
  const auto t0 = steady::now();
  // Returns after ReadyForQuery, which the server sends once the implicit transaction committed.
  pg_result r(PQexecPrepared(c, "insert", parameters, impl_->parameters.values.data(), nullptr,
                             nullptr, 0));
  const auto t1 = steady::now();
  if (!r)
    throw std::runtime_error(fmt::format("postgres peer: INSERT failed: {}", PQerrorMessage(c)));
  if (const auto e = insert_error(r.get()); !e.empty())
    throw std::runtime_error(
        fmt::format("postgres peer: INSERT failed ({}): {}", e, PQresultErrorMessage(r.get())));
  return micros(t0, t1);
}

// ---------- many-tables' load ----------

struct postgres_load::connection {
  size_t index = 0;
  pg_conn conn;
  std::vector<std::string> statements;  ///< prepared INSERT per table, by table index
};

postgres_load::postgres_load(const postgres_server& server, const std::vector<std::string>& tables,
                             size_t connections, size_t in_flight_per_connection)
    : in_flight_per_connection_(in_flight_per_connection) {
  if (tables.empty()) throw std::runtime_error("postgres peer: many-tables' load needs tables");
  for (size_t i = 0; i < connections; ++i) {
    auto conn = std::make_unique<connection>();
    conn->index = i;
    conn->conn = connect(server.conninfo());
    PGconn* c = conn->conn.get();
    // All PREPAREs in one pipeline: one round trip instead of one per table.
    if (!PQenterPipelineMode(c))
      throw std::runtime_error(fmt::format("postgres peer: pipeline mode: {}", PQerrorMessage(c)));
    for (size_t t = 0; t < tables.size(); ++t) {
      conn->statements.push_back(fmt::format("insert_{}", t));
      if (!PQsendPrepare(c, conn->statements.back().c_str(), insert_sql(c, tables[t]).c_str(),
                         parameters, nullptr))
        throw std::runtime_error(
            fmt::format("postgres peer: PREPARE for {}: {}", tables[t], PQerrorMessage(c)));
    }
    if (!PQpipelineSync(c))
      throw std::runtime_error(fmt::format("postgres peer: pipeline sync: {}", PQerrorMessage(c)));
    for (size_t t = 0; t < tables.size(); ++t) {
      expect(pg_result(PQgetResult(c)), PGRES_COMMAND_OK, c,
             "PREPARE the INSERT into " + tables[t]);
      pg_result end(PQgetResult(c));  // null: the end of that PREPARE's results
    }
    expect(pg_result(PQgetResult(c)), PGRES_PIPELINE_SYNC, c, "the PREPAREs' sync");
    if (PQsetnonblocking(c, 1) != 0)
      throw std::runtime_error(
          fmt::format("postgres peer: non-blocking mode: {}", PQerrorMessage(c)));
    connections_.push_back(std::move(conn));
  }
}

postgres_load::~postgres_load() = default;

namespace {

/// An INSERT in flight, in send order (answers come back in that order).
struct in_flight_insert {
  steady::time_point sent;
  size_t bytes = 0;
  std::string error;  ///< set by its result; empty = inserted every row
};

void drive_pipeline(PGconn* c, const std::vector<std::string>& statements, size_t index,
                    size_t round, size_t in_flight_limit, steady::time_point until,
                    load_totals& stats) {
  // The seeds of many_tables.cpp's drive(): the same payloads to the same tables in the same order.
  payload_generator generator(100 + index + 1000 * round);
  std::mt19937_64 rng(200 + index + 1000 * round);
  std::uniform_int_distribution<size_t> pick(0, statements.size() - 1);
  insert_parameters params;
  std::deque<in_flight_insert> pending;
  auto fail = [&](std::string_view what) {
    throw std::runtime_error(
        fmt::format("postgres peer: connection {}: {}: {}", index, what, PQerrorMessage(c)));
  };
  auto last_answer = steady::now();
  bool sending = true;
  while (true) {
    while (sending && pending.size() < in_flight_limit) {
      if (steady::now() >= until) {
        sending = false;
        break;
      }
      const auto& statement = statements[pick(rng)];
      const auto body = generator.next();
      split_csv(body, params);
      const auto sent = steady::now();
      // The sync after each INSERT ends its implicit transaction: one commit per request.
      if (!PQsendQueryPrepared(c, statement.c_str(), parameters, params.values.data(), nullptr,
                               nullptr, 0) ||
          !PQpipelineSync(c))
        fail("sending an INSERT");
      pending.push_back({sent, body.size(), {}});
    }
    if (pending.empty()) return;
    const int unsent = PQflush(c);
    if (unsent < 0) fail("sending");
    pollfd p{PQsocket(c), static_cast<short>(POLLIN | (unsent ? POLLOUT : 0)), 0};
    if (poll(&p, 1, 100) < 0 && errno != EINTR) fail("poll");
    if ((p.revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(c)) fail("receiving");
    // One null result ends each INSERT's results (its sync's answer follows); a second in a row
    // means libpq has nothing more until more input arrives.
    for (int nulls = 0; !pending.empty() && !PQisBusy(c) && nulls < 2;) {
      pg_result r(PQgetResult(c));
      if (!r) {
        ++nulls;
        continue;
      }
      nulls = 0;
      auto& front = pending.front();
      if (PQresultStatus(r.get()) != PGRES_PIPELINE_SYNC) {
        front.error = insert_error(r.get());
        continue;
      }
      // ReadyForQuery after the sync: the INSERT's transaction committed (or failed).
      const auto now = steady::now();
      last_answer = now;
      if (front.error.empty()) {
        stats.latencies_us.push_back(micros(front.sent, now));
        stats.rows += rows_per_request;
        stats.bytes += front.bytes;
      } else {
        ++stats.errors[front.error];
      }
      pending.pop_front();
    }
    if (!pending.empty() && steady::now() - last_answer > answer_timeout)
      throw std::runtime_error(
          fmt::format("postgres peer: connection {}: no answer for 30 s with {} INSERTs in flight",
                      index, pending.size()));
  }
}

}  // namespace

double postgres_load::run_slice(steady::time_point until, size_t round, load_totals& into) {
  return run_on_threads(
      connections_.size(),
      [&](size_t i, load_totals& stats) {
        auto& conn = *connections_[i];
        drive_pipeline(conn.conn.get(), conn.statements, conn.index, round, in_flight_per_connection_, until,
                       stats);
      },
      into);
}

}  // namespace tributary::bench
