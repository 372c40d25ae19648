#include "connectors/data_connections.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <set>
#include <thread>

#include "actors/gateway.hpp"
#include "ingest/event_properties.hpp"
#include "ingest/ingest.hpp"
#include "monitoring/metrics.hpp"
#include "storage/rowstore.hpp"

namespace tributary::connectors {
namespace {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// A connection to run, as the catalog has it.
struct target {
  std::string database;
  model::data_connection connection;
  /// The same consumer serves both: only pausing (or the time of a change) differs.
  bool same_consumer(const target& o) const {
    auto a = connection, b = o.connection;
    a.paused = b.paused = false;
    a.updated_ticks = b.updated_ticks = 0;
    return database == o.database && a == b;
  }
};

/// Where the gateway's answers go: shared with the callbacks, so that an answer arriving after
/// its consumer is gone lands here harmlessly.
struct mailbox {
  struct answer {
    int32_t partition = 0;
    uint64_t generation = 0;
    actors::ingest_outcome outcome;
  };
  std::mutex mutex;
  std::condition_variable arrived;
  std::deque<answer> answers;
  /// The consumer's librdkafka queue while it runs: an answer ends the consumer's wait for
  /// messages at once (rd_kafka_queue_yield), so the thread neither polls nor waits out a timeout.
  rd_kafka_queue_t* queue = nullptr;
  void post(answer a) {
    {
      std::lock_guard lock(mutex);
      answers.push_back(std::move(a));
      if (queue) rd_kafka_queue_yield(queue);
    }
    arrived.notify_all();
  }
};

// Errors that say the table cannot take anything now, whatever the data: the partition waits
// (nothing is dropped) and tries again each second.
bool holds(const model::error& e) {
  static const std::set<std::string, std::less<>> codes = {
      "StreamingIngestionFunctionalityDisabled", "BadRequest_StreamingIngestionPolicyNotEnabled",
      "BadRequest_TableNotExist", "BadRequest_DatabaseNotExist", "BadRequest_MappingReferenceWasNotFound",
      "DiskBudgetExceeded", "ShuttingDown"};
  return codes.contains(e.code);
}

// Event Hub's system properties of a message that the connection puts into its records, in
// Kusto's order (a CSV mapping's first ordinals are theirs in this order, whatever the order the
// connection lists them in). Kafka has one position per message: offset and sequence number are
// both the partition offset.
std::vector<ingest::event_property> system_properties(const std::vector<std::string>& wanted, const RdKafka::Message& m) {
  std::vector<ingest::event_property> out;
  auto want = [&](std::string_view name) { return std::find(wanted.begin(), wanted.end(), name) != wanted.end(); };
  if (want("x-opt-enqueued-time")) {
    std::optional<std::string> at;
    if (const auto ts = m.timestamp(); ts.type != RdKafka::MessageTimestamp::MSG_TIMESTAMP_NOT_AVAILABLE) {
      const std::time_t seconds = static_cast<std::time_t>(ts.timestamp / 1000);
      std::tm utc{};
      gmtime_r(&seconds, &utc);
      at = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                       utc.tm_hour, utc.tm_min, utc.tm_sec, ts.timestamp % 1000);
    }
    out.push_back({"x-opt-enqueued-time", at, true});
  }
  if (want("x-opt-sequence-number")) out.push_back({"x-opt-sequence-number", std::to_string(m.offset()), false});
  if (want("x-opt-offset")) out.push_back({"x-opt-offset", std::to_string(m.offset()), false});
  if (want("x-opt-partition")) out.push_back({"x-opt-partition", std::to_string(m.partition()), false});
  if (want("x-opt-partition-key")) {
    const std::string* key = m.key();
    out.push_back({"x-opt-partition-key", key ? std::optional<std::string>(*key) : std::nullopt, true});
  }
  return out;
}

// What a node's partition record says (docs/data-connections.md "Across the cluster"): the offset
// it released the partition at (OFFSET_INVALID: it stored none), or nothing when it holds it. A
// record that cannot be read counts as held: waiting is what keeps exactly once.
std::optional<int64_t> released_at(std::string_view value) {
  if (value == "released") return RdKafka::Topic::OFFSET_INVALID;
  if (!value.starts_with("released ")) return std::nullopt;
  int64_t offset = 0;
  const auto digits = value.substr(9);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), offset);
  if (ec != std::errc{} || end != digits.data() + digits.size() || offset < 0) return std::nullopt;
  return offset;
}

// A message of format json is one JSON object, which producers often pretty-print over several
// lines: read as multijson (objects one after another, however laid out), the same mapping.
ingest::format reading_format(const std::string& name) {
  const auto f = ingest::parse_format(name).value_or(ingest::format::json);
  return f == ingest::format::json ? ingest::format::multijson : f;
}

class consumer final : public RdKafka::RebalanceCb, public RdKafka::EventCb {
 public:
  consumer(target t, const actors::gateway& gateway, storage::store& store, const settings& s,
           const cluster_link* cluster)
      : target_(std::move(t)), gateway_(gateway), store_(store), settings_(s), cluster_(cluster),
        format_(reading_format(target_.connection.format)),
        metrics_(s.probe ? s.probe->open(target_.database, target_.connection.name) : nullptr) {
    status_.database = target_.database;
    status_.name = target_.connection.name;
    status_.state = "Starting";
    thread_ = std::thread([this] { run(); });
  }

  ~consumer() override {
    stop_ = true;
    mail_->arrived.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  const target& what() const { return target_; }

  /// `.pause`: the consumer keeps its partitions (no rebalance) and stops fetching and sending,
  /// as Kafka Connect pauses a task; `.resume` goes on from where it was.
  void set_paused(bool paused) { paused_wanted_ = paused; }

  connection_status status() const {
    std::lock_guard lock(status_mutex_);
    return status_;
  }

 private:
  // Where a message goes when its headers say otherwise than the connection (Event Hub's event
  // properties Table, Format, IngestionMappingReference, which reach Kafka as headers).
  struct route {
    std::string table;
    ingest::format format = ingest::format::csv;
    std::string mapping;
    bool operator==(const route&) const = default;
  };
  struct message {
    int64_t offset = 0;
    std::string data;   ///< one or more records; empty for a message passed over (a failure)
    int64_t timestamp_ms = -1;  ///< when produced (or appended, by the topic's setting); -1 unknown
    /// Why it was passed over (its data is then empty): stored with the offset past it.
    std::optional<model::ingestion_failure> failure;
    std::optional<route> routed;  ///< its own table, format or mapping; nullopt: the connection's
  };
  struct partition_state {
    std::deque<message> queued;  ///< read, not yet sent
    size_t queued_bytes = 0;
    std::vector<message> in_flight;  ///< sent, not yet answered
    int64_t one_by_one_through = -1;  ///< after a batch a message of which failed: singly up to here
    /// The next offset to read: where the partition starts, then past the last message taken.
    /// A message below it (fetched again after a re-assignment) is one already taken.
    int64_t position = RdKafka::Topic::OFFSET_INVALID;
    clock::time_point retry_at{};
    int attempts = 0;
    bool paused = false;  ///< fetching paused for this partition's sake: its queue is full, or the node throttles
    bool throttled = false;  ///< the node answered Throttling: fetching stays paused until a batch is stored
    /// Bytes of messages per batch now: halved at each Throttling (down to one message, so that a
    /// batch always fits what the node can take), doubled back at each batch stored.
    size_t batch_limit = 0;
  };

  const model::data_connection& c() const { return target_.connection; }

  void set_state(std::string state, std::string reason) {
    std::lock_guard lock(status_mutex_);
    status_.state = std::move(state);
    status_.reason = std::move(reason);
  }

  bool set(RdKafka::Conf& conf, const std::string& name, const std::string& value) {
    std::string error;
    if (conf.set(name, value, error) == RdKafka::Conf::CONF_OK) return true;
    set_state("Failed", fmt::format("librdkafka property {}: {}", name, error));
    return false;
  }

  std::unique_ptr<RdKafka::KafkaConsumer> create() {
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    const auto& dc = c();
    const std::map<std::string, std::string> properties = {
        {"bootstrap.servers", dc.bootstrap_servers},
        {"group.id", dc.consumer_group},
        {"client.id", fmt::format("tributary-{}-{}", target_.database, dc.name)},
        // Offsets are ours (stored with the rows); Kafka's are written after, for monitoring only.
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", dc.start_from == "latest" ? "latest" : "earliest"},
        {"queued.max.messages.kbytes", std::to_string(settings_.fetch_buffer_kbytes)},
        // A broker holds a fetch with nothing to return this long (Kafka's default, 500 ms, is
        // what a new message may wait for): part of produce-to-queryable.
        {"fetch.wait.max.ms", "50"},
        {"security.protocol", dc.security_protocol},
    };
    for (const auto& [k, v] : properties)
      if (!set(*conf, k, v)) return nullptr;
    if (dc.security_protocol.starts_with("sasl")) {
      if (!set(*conf, "sasl.mechanisms", dc.sasl_mechanism) || !set(*conf, "sasl.username", dc.sasl_username) ||
          !set(*conf, "sasl.password", dc.sasl_password))
        return nullptr;
    }
    for (const auto& [k, v] : settings_.consumer_properties)
      if (!set(*conf, k, v)) return nullptr;
    std::string error;
    if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(this), error) != RdKafka::Conf::CONF_OK ||
        conf->set("event_cb", static_cast<RdKafka::EventCb*>(this), error) != RdKafka::Conf::CONF_OK) {
      set_state("Failed", "librdkafka callbacks: " + error);
      return nullptr;
    }
    std::unique_ptr<RdKafka::KafkaConsumer> k(RdKafka::KafkaConsumer::create(conf.get(), error));
    if (!k) set_state("Failed", "cannot create the Kafka consumer: " + error);
    return k;
  }

  // The thread's body: whatever goes wrong in one connection (an exception of librdkafka's C++
  // wrapper, memory) fails that connection, with the reason in .show, never the node.
  void run() {
    try {
      consume();
    } catch (const std::exception& e) {
      spdlog::error("data connection '{}' of database '{}' failed: {}", c().name, target_.database, e.what());
      set_state("Failed", fmt::format("{}; restart the node to start it again (its stored offsets are kept)", e.what()));
      if (kafka_) watch_queue(false);  // the queue's handle goes before its consumer
      std::unique_lock lock(mail_->mutex);
      mail_->arrived.wait(lock, [this] { return stop_.load(); });
    }
  }

  void consume() {
    // After a restart (a kill -9 too) this node holds no partition yet: what it stored is final
    // until the group gives it partitions again, and other nodes need not wait for it.
    if (cluster_) release_all_stored();
    kafka_ = create();
    if (!kafka_) {
      std::unique_lock lock(mail_->mutex);
      mail_->arrived.wait(lock, [this] { return stop_.load(); });
      return;
    }
    if (auto e = kafka_->subscribe({c().topic}); e != RdKafka::ERR_NO_ERROR) {
      set_state("Failed", fmt::format("cannot subscribe to topic '{}': {}", c().topic, RdKafka::err2str(e)));
    } else {
      set_state("Running", "");
    }
    // The thread waits in librdkafka until a message or an answer arrives (at most 50 ms, for
    // timers: retries, the lag), not in short polls: many connections stay cheap.
    watch_queue(true);
    bool busy = false;
    while (!stop_) {
      if (paused_wanted_ != paused_) apply_pause(paused_wanted_);
      if (clock::now() >= next_lag_) measure_lag();
      if (cluster_) {
        if (!waiting_.empty() && clock::now() >= next_resolve_ && resolve_waiting()) assign_owned(*kafka_);
        if ((!unreleased_.empty() || holds_unknown_) && clock::now() >= next_release_) write_releases();
      }
      take_answers();
      if (!uncommitted_.empty() && clock::now() >= next_commit_) commit_to_kafka();
      if (!paused_) send_ready();
      // While messages keep coming, none is waited for; otherwise up to 50 ms, cut short by a
      // message or an answer (watch_queue).
      std::unique_ptr<RdKafka::Message> m(kafka_->consume(busy ? 0 : 50));
      busy = false;
      switch (m->err()) {
        case RdKafka::ERR_NO_ERROR:
          take(*m);
          busy = true;
          break;
        case RdKafka::ERR__TIMED_OUT:
        case RdKafka::ERR__PARTITION_EOF:
          break;
        default: {
          std::lock_guard lock(status_mutex_);
          status_.last_error = m->errstr();
        }
      }
    }
    // Batches in flight finish (their rows and offsets stored together), then the group is left.
    wait_in_flight(30s);
    commit_to_kafka();
    kafka_->close();
    watch_queue(false);
    kafka_.reset();
  }

  // librdkafka's errors that belong to no message (every broker down, authentication refused)
  // show in .show as LastError and go to the node's log once each; its own log lines go to the
  // node's debug log. Called on this consumer's thread, from consume().
  void event_cb(RdKafka::Event& e) override {
    if (e.type() == RdKafka::Event::EVENT_LOG) {
      spdlog::debug("data connection '{}' of database '{}': librdkafka {}: {}", c().name, target_.database, e.fac(),
                    e.str());
      return;
    }
    if (e.type() != RdKafka::Event::EVENT_ERROR) return;
    const auto text = fmt::format("{}: {}", RdKafka::err2str(e.err()), e.str());
    {
      std::lock_guard lock(status_mutex_);
      if (status_.last_error == text) return;
      status_.last_error = text;
    }
    spdlog::warn("data connection '{}' of database '{}': {}", c().name, target_.database, text);
  }

  // Lets answers end this thread's wait in librdkafka (on), or no longer (off: before the
  // consumer goes; an answer arriving later only lands in the mailbox).
  void watch_queue(bool on) {
    rd_kafka_queue_t* queue = on ? rd_kafka_queue_get_consumer(kafka_->c_ptr()) : nullptr;
    {
      std::lock_guard lock(mail_->mutex);
      std::swap(queue, mail_->queue);
    }
    if (queue) rd_kafka_queue_destroy(queue);
  }

  // `.pause` stops fetching every partition; `.resume` restarts those not held back by their
  // own state (a full queue, a throttling node).
  void apply_pause(bool pause) {
    if (pause) {
      std::vector<RdKafka::TopicPartition*> assigned;
      kafka_->assignment(assigned);
      kafka_->pause(assigned);
      RdKafka::TopicPartition::destroy(assigned);
    } else {
      std::vector<RdKafka::TopicPartition*> list;
      for (const auto& [p, ps] : partitions_)
        if (!ps.paused) list.push_back(RdKafka::TopicPartition::create(c().topic, p));
      kafka_->resume(list);
      RdKafka::TopicPartition::destroy(list);
    }
    paused_ = pause;
    if (pause) {
      set_state("Paused", fmt::format(".pause database {} data connection {}", target_.database, c().name));
    } else {
      set_state("Running", "");
      show_waiting();  // partitions still waiting for another node say so again
    }
  }

  // Kafka's own committed offsets, for monitoring tools only (never read back): at most once a
  // second, as Kafka Connect's sinks do (every 60 s there), and when partitions go. One commit
  // per batch was a request to the group's coordinator for each stored batch.
  void commit_to_kafka() {
    next_commit_ = clock::now() + 1s;
    if (uncommitted_.empty()) return;
    std::vector<RdKafka::TopicPartition*> list;
    for (const auto& [p, next] : uncommitted_) list.push_back(RdKafka::TopicPartition::create(c().topic, p, next));
    kafka_->commitAsync(list);
    RdKafka::TopicPartition::destroy(list);
    uncommitted_.clear();
  }

  bool in_flight() const {
    return std::any_of(partitions_.begin(), partitions_.end(), [](const auto& p) { return !p.second.in_flight.empty(); });
  }

  // A message's bytes, with room for the newline that ends its last record (appending it
  // otherwise copied every message once more).
  static std::string payload_with_room(const RdKafka::Message& m) {
    std::string data;
    if (m.len() == 0) return data;
    data.reserve(m.len() + 1);
    data.assign(static_cast<const char*>(m.payload()), m.len());
    return data;
  }

  // A message's own table, format or mapping from its headers (case-sensitive, as Event Hub's
  // properties): nullopt when it has none; an error (the message is a failure) for a format
  // that is not one.
  std::variant<std::optional<route>, model::error> route_of(RdKafka::Message& m) const {
    const RdKafka::Headers* headers = m.headers();
    if (headers == nullptr || headers->size() == 0) return std::optional<route>{};
    auto header = [&](const std::string& name) -> std::optional<std::string> {
      const auto h = headers->get_last(name);
      if (h.err() != RdKafka::ERR_NO_ERROR || h.value() == nullptr) return std::nullopt;
      return std::string(static_cast<const char*>(h.value()), h.value_size());
    };
    const auto table = header("Table"), format = header("Format"), mapping = header("IngestionMappingReference");
    if (!table && !format && !mapping) return std::optional<route>{};
    // Kusto's names are at most 1,024 characters: a longer header is no name (and is not kept).
    constexpr size_t longest_name = 1024;
    for (const auto& [name, value] : {std::pair{"Table", &table}, {"Format", &format}, {"IngestionMappingReference", &mapping}})
      if (*value && (*value)->size() > longest_name)
        return model::error{"BadRequest_InvalidArgument",
                            fmt::format("the message's {} header is {} bytes; a name is at most {} characters", name,
                                        (*value)->size(), longest_name),
                            true};
    route r{table.value_or(c().table), format_, mapping.value_or(c().mapping_name)};
    if (format) {
      const auto f = ingest::parse_format(*format);
      if (!f)
        return model::error{"BadRequest_InvalidFormat",
                            fmt::format("the message's Format header '{}' is not a format: csv, tsv, scsv, sohsv, "
                                        "psv, json or multijson",
                                        *format),
                            true};
      r.format = *f == ingest::format::json ? ingest::format::multijson : *f;
      // Another format takes another mapping kind: the connection's mapping goes with its own.
      if (!mapping && ingest::mapping_kind_for(r.format) != ingest::mapping_kind_for(format_)) r.mapping.clear();
    }
    if (r == route{c().table, format_, c().mapping_name}) return std::optional<route>{};
    return std::optional<route>{std::move(r)};
  }

  void take(RdKafka::Message& m) {
    auto it = partitions_.find(m.partition());
    if (it == partitions_.end()) return;  // not (or no longer) ours
    auto& ps = it->second;
    if (m.offset() < ps.position) return;  // taken already, fetched again after a re-assignment
    ps.position = m.offset() + 1;
    message msg{m.offset(), payload_with_room(m),
                m.timestamp().type != RdKafka::MessageTimestamp::MSG_TIMESTAMP_NOT_AVAILABLE ? m.timestamp().timestamp
                                                                                           : -1,
                std::nullopt, std::nullopt};
    {
      std::lock_guard lock(status_mutex_);
      ++status_.messages;
    }
    if (metrics_) metrics_->consumed(1, m.len());
    auto routed = route_of(m);
    if (auto* e = std::get_if<model::error>(&routed)) {
      msg.failure = record_failure(m.partition(), msg.offset, *e);
      msg.data.clear();
      ps.queued.push_back(std::move(msg));
      return;
    }
    msg.routed = std::get<std::optional<route>>(std::move(routed));
    const auto format = msg.routed ? msg.routed->format : format_;
    // Gzip is recognised by its first bytes (a message says nothing else about itself); one
    // over what an ingest holds, unpacked or not, or with its system properties, is a failure.
    auto ready = ingest::decompress(std::move(msg.data));
    if (auto* plain = std::get_if<std::string>(&ready); plain && !plain->empty() && !c().event_system_properties.empty())
      ready = ingest::with_event_properties(format, *plain, system_properties(c().event_system_properties, m));
    if (auto* e = std::get_if<model::error>(&ready)) {
      msg.failure = record_failure(m.partition(), msg.offset, *e, msg.routed ? &msg.routed->table : nullptr);
      msg.data.clear();
      msg.routed.reset();  // only its offset goes on, with the connection's own table
    } else {
      msg.data = std::move(std::get<std::string>(ready));
    }
    if (!msg.data.empty() && msg.data.back() != '\n') msg.data.push_back('\n');
    ps.queued_bytes += msg.data.size();
    ps.queued.push_back(std::move(msg));
    if (!ps.paused && ps.queued_bytes >= 4 * settings_.max_batch_bytes) pause_fetching(m.partition(), ps, true);
  }

  // Stops or restarts fetching one partition (librdkafka keeps its position meanwhile).
  void pause_fetching(int32_t p, partition_state& ps, bool pause) {
    std::unique_ptr<RdKafka::TopicPartition> tp(RdKafka::TopicPartition::create(c().topic, p));
    std::vector<RdKafka::TopicPartition*> list{tp.get()};
    if (pause) kafka_->pause(list);
    else if (!paused_) kafka_->resume(list);
    ps.paused = pause;
  }

  void send_ready() {
    // The group took the partitions away without a revocation seen yet (this consumer missed its
    // session timeout): another node may be reading them, so nothing more is stored here.
    if (cluster_ && kafka_->assignment_lost()) return;
    const auto now = clock::now();
    for (auto& [p, ps] : partitions_)
      if (ps.in_flight.empty() && !ps.queued.empty() && now >= ps.retry_at) send(p, ps);
  }

  void send(int32_t p, partition_state& ps) {
    if (ps.batch_limit == 0) ps.batch_limit = settings_.max_batch_bytes;
    const bool singly = ps.queued.front().offset <= ps.one_by_one_through;
    // Which messages go (at least one; at most batch_limit bytes; one alone while bisecting),
    // then their data in one allocation.
    // A batch goes to one table: it ends where a message is routed elsewhere than the first.
    const auto routed = ps.queued.front().routed;
    size_t count = 0, bytes = 0;
    for (const auto& next : ps.queued) {
      if (count > 0 && (singly || next.offset <= ps.one_by_one_through || bytes + next.data.size() > ps.batch_limit ||
                        (next.routed != routed && !next.data.empty())))
        break;
      bytes += next.data.size();
      ++count;
    }
    actors::ingest_call call;
    call.data.reserve(bytes);
    for (; count > 0; --count) {
      auto& next = ps.queued.front();
      call.data += next.data;
      ps.queued_bytes -= next.data.size();
      ps.in_flight.push_back(std::move(next));
      ps.queued.pop_front();
    }
    if (ps.paused && !ps.throttled && ps.queued_bytes < settings_.max_batch_bytes) pause_fetching(p, ps, false);
    const int64_t first = ps.in_flight.front().offset, last = ps.in_flight.back().offset;
    call.database = target_.database;
    call.table = routed ? routed->table : c().table;
    call.format = routed ? routed->format : format_;
    call.mapping_name = routed ? routed->mapping : c().mapping_name;
    // The same messages are always the same request: a retry after an unknown outcome (a
    // restart, a lost answer) is answered as a duplicate instead of storing the rows twice.
    call.request_id = fmt::format("dc{}:{}:{}-{}", c().id, p, first, last);
    call.source = model::source_position{c().id, p, last + 1, {}};
    for (const auto& m : ps.in_flight)
      if (m.failure) call.source->failures.push_back(*m.failure);
    gateway_.ingest(std::move(call), [mail = mail_, p, generation = generation_](actors::ingest_outcome o) {
      mail->post({p, generation, std::move(o)});
    });
  }

  void take_answers() {
    std::deque<mailbox::answer> answers;
    {
      std::lock_guard lock(mail_->mutex);
      answers.swap(mail_->answers);
    }
    for (auto& a : answers) {
      if (a.generation != generation_) continue;  // for partitions revoked meanwhile
      auto it = partitions_.find(a.partition);
      if (it == partitions_.end() || it->second.in_flight.empty()) continue;
      finish(a.partition, it->second, std::move(a.outcome));
    }
  }

  void finish(int32_t p, partition_state& ps, actors::ingest_outcome outcome) {
    if (auto* ack = std::get_if<actors::ingest_ack>(&outcome)) {
      const int64_t next = ps.in_flight.back().offset + 1;
      if (metrics_) {
        const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        std::vector<double> delivery;
        for (const auto& m : ps.in_flight)
          if (m.timestamp_ms >= 0 && !m.data.empty()) delivery.push_back(std::max<int64_t>(0, now_ms - m.timestamp_ms) / 1e3);
        metrics_->stored(ack->consumed_records, delivery);
      }
      ps.in_flight.clear();
      ps.attempts = 0;
      ps.batch_limit = std::min(settings_.max_batch_bytes, std::max<size_t>(ps.batch_limit, 1) * 2);
      if (ps.throttled) {  // the node takes rows again: fetch again
        ps.throttled = false;
        if (ps.paused && ps.queued_bytes < settings_.max_batch_bytes) pause_fetching(p, ps, false);
      }
      {
        std::lock_guard lock(status_mutex_);
        status_.records += ack->consumed_records;
        status_.stored[p] = next;
        if (status_.state == "Paused" && !paused_ && waiting_.empty()) {  // a hold is over (a `.pause` is not)
          status_.state = "Running";
          status_.reason.clear();
        }
      }
      uncommitted_[p] = next;
      return;
    }
    const auto& e = std::get<model::error>(outcome);
    // A message routed (by its headers) to a table or mapping that does not exist is that
    // message's failure, listed and passed over (both errors are permanent): only the
    // connection's own target holds.
    const bool routed_away =
        std::any_of(ps.in_flight.begin(), ps.in_flight.end(), [](const auto& m) { return m.routed.has_value(); });
    const bool passed_over =
        routed_away && (e.code == "BadRequest_TableNotExist" || e.code == "BadRequest_MappingReferenceWasNotFound");
    auto again = [&](clock::duration after) {
      for (auto it = ps.in_flight.rbegin(); it != ps.in_flight.rend(); ++it) {
        ps.queued_bytes += it->data.size();
        ps.queued.push_front(std::move(*it));
      }
      ps.in_flight.clear();
      ps.retry_at = clock::now() + after;
    };
    {
      std::lock_guard lock(status_mutex_);
      status_.last_error = e.code + ": " + e.message;
    }
    if (holds(e) && !passed_over) {
      set_state("Paused", e.message);
      return again(1s);
    }
    if (e.code == "Throttling") {
      // The node is full (rowstore reserve, memory, queued writes): this partition stops fetching
      // until a batch of it is stored again, so what waits stays in Kafka, not in memory; the
      // lag shows it.
      ps.throttled = true;
      ps.batch_limit = std::max<size_t>(1, ps.batch_limit / 2);
      if (!ps.paused) pause_fetching(p, ps, true);
      if (!paused_)
        set_state("Paused",
                  "the node throttles ingest (" + e.message + "); fetching resumes by itself once it takes rows again");
    }
    if (!e.permanent) {
      // Throttling, a node restarting: the same batch again, backing off to at most 5 s.
      const auto backoff = std::min<clock::duration>(5s, 10ms * (1 << std::min(ps.attempts++, 9)));
      return again(backoff);
    }
    if (ps.in_flight.size() > 1) {
      // Some message of the batch cannot go in: each again on its own, to pass over only it.
      ps.one_by_one_through = ps.in_flight.back().offset;
      return again(0s);
    }
    // This message cannot go in: recorded, and passed over — its offset goes with the next
    // batch (or on its own: an empty message stores only the position).
    auto& bad = ps.in_flight.front();
    bad.failure = record_failure(p, bad.offset, e, bad.routed ? &bad.routed->table : nullptr);
    bad.data.clear();
    bad.routed.reset();  // only its offset goes on, with the connection's own table
    again(0s);
  }

  // A message that cannot go in: logged and counted now; stored (`.show ingestion failures`)
  // with the offset that moves past it.
  // `table`: the one the message was routed to by its headers, if not the connection's.
  model::ingestion_failure record_failure(int32_t partition, int64_t offset, const model::error& e,
                                          const std::string* table = nullptr) {
    spdlog::warn("data connection '{}' of database '{}': message {} of partition {} of topic '{}' not ingested: {}: {}",
                 c().name, target_.database, offset, partition, c().topic, e.code, e.message);
    if (metrics_) metrics_->failed(e.code);
    {
      std::lock_guard lock(status_mutex_);
      ++status_.failures;
    }
    return {model::now_ticks(), target_.database, table ? *table : c().table, c().name, c().id, c().topic, partition,
            offset, e.code, e.message};
  }

  // Each partition read here: how many messages are not stored yet (the partition's end as the
  // last fetch saw it, less the stored offset), for .show and tributary_connection_lag.
  void measure_lag() {
    next_lag_ = clock::now() + 1s;
    std::map<int32_t, int64_t> lag;
    for (const auto& [p, ps] : partitions_) {
      int64_t low = -1, high = -1;
      if (kafka_->get_watermark_offsets(c().topic, p, &low, &high) != RdKafka::ERR_NO_ERROR || high < 0) continue;
      int64_t from = low;
      {
        std::lock_guard lock(status_mutex_);
        if (auto it = status_.stored.find(p); it != status_.stored.end()) from = it->second;
      }
      lag[p] = std::max<int64_t>(0, high - from);
    }
    std::lock_guard lock(status_mutex_);
    if (metrics_) {
      for (const auto& [p, n] : status_.lag)
        if (!lag.contains(p)) metrics_->lag(p, -1);  // no longer read here
      for (const auto& [p, n] : lag) metrics_->lag(p, n);
    }
    status_.lag = std::move(lag);
  }

  // Waits (at most `limit`) until every batch in flight is answered, so that the rows and
  // offsets of a partition about to go elsewhere are stored first.
  void wait_in_flight(clock::duration limit) {
    const auto until = clock::now() + limit;
    while (in_flight() && clock::now() < until) {
      {
        std::unique_lock lock(mail_->mutex);
        mail_->arrived.wait_until(lock, std::min(until, clock::now() + 100ms),
                                  [this] { return !mail_->answers.empty(); });
      }
      // Only answers count now: no new batch starts (a failed one stays queued, to be re-read
      // from the stored offset by whoever takes the partition).
      std::deque<mailbox::answer> answers;
      {
        std::lock_guard lock(mail_->mutex);
        answers.swap(mail_->answers);
      }
      for (auto& a : answers) {
        auto it = partitions_.find(a.partition);
        if (a.generation != generation_ || it == partitions_.end() || it->second.in_flight.empty()) continue;
        finish(a.partition, it->second, std::move(a.outcome));
      }
    }
  }

  void rebalance_cb(RdKafka::KafkaConsumer* k, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      if (cluster_) {
        // Each partition resumes where the node that stored its last rows stopped, which may be
        // another node: those whose place is known are read at once, the others wait.
        for (auto* tp : partitions) waiting_[tp->partition()] = {};
        resolve_waiting();
        assign_owned(*k);
        return;
      }
      // Resume where the rows stored with their offsets say, never where Kafka says.
      auto stored = storage::read_source_positions(store_, c().id);
      if (auto* e = std::get_if<model::error>(&stored)) {
        set_state("Failed", "cannot read the stored offsets: " + e->message);
        k->unassign();
        return;
      }
      const auto& offsets = std::get<std::map<int32_t, int64_t>>(stored);
      for (auto* tp : partitions) {
        auto it = offsets.find(tp->partition());
        partitions_[tp->partition()].position = it != offsets.end() ? it->second : RdKafka::Topic::OFFSET_INVALID;
      }
      {
        std::lock_guard lock(status_mutex_);
        for (const auto& [p, o] : offsets) status_.stored[p] = o;
      }
      assign_owned(*k);
      return;
    }
    // Revoked (or an error): what is in flight is stored before the partitions go.
    wait_in_flight(30s);
    commit_to_kafka();
    ++generation_;
    if (cluster_) release(partitions);
    partitions_.clear();
    waiting_.clear();
    k->unassign();
  }

  // Assigns the partitions this consumer reads, each from its position (the whole set each time:
  // an assignment replaces the previous one).
  void assign_owned(RdKafka::KafkaConsumer& k) {
    std::vector<RdKafka::TopicPartition*> list;
    for (const auto& [p, ps] : partitions_) list.push_back(RdKafka::TopicPartition::create(c().topic, p, ps.position));
    k.assign(list);
    std::vector<RdKafka::TopicPartition*> held;
    for (auto* tp : list)
      if (paused_ || partitions_[tp->partition()].paused) held.push_back(tp);
    if (!held.empty()) k.pause(held);
    RdKafka::TopicPartition::destroy(list);
  }

  // --- Cluster: partitions changing nodes (docs/data-connections.md "Across the cluster") ---

  struct waiting_partition {
    bool held = false;  ///< this node's "held" record is written
    std::string why;    ///< why it does not read yet
  };

  // One pass over the partitions waiting for their place (at assignment, then each second):
  // records this node's hold, reads every node's records, and moves each partition no other
  // node holds into partitions_, at the largest offset released and stored here. Returns
  // whether one moved.
  bool resolve_waiting() {
    next_resolve_ = clock::now() + 1s;
    auto wait_all = [&](const std::string& why) {
      for (auto& [p, w] : waiting_) w.why = why;
      show_waiting();
      return false;
    };
    std::map<std::string, std::string> holds;
    for (const auto& [p, w] : waiting_)
      if (!w.held) holds[std::to_string(p)] = "held";
    // The hold is recorded before any row of the partition is stored here, so that a node
    // taking it after a crash of this one knows to wait for this one's offsets.
    if (auto e = cluster_->write(c().id, holds))
      return wait_all("cannot record in the cluster's metadata store that this node reads them: " + e->message);
    for (auto& [p, w] : waiting_) w.held = true;
    auto records = cluster_->read(c().id);
    if (auto* e = std::get_if<model::error>(&records))
      return wait_all("cannot read the partitions' records in the cluster's metadata store: " + e->message);
    auto local = storage::read_source_positions(store_, c().id);
    if (auto* e = std::get_if<model::error>(&local)) return wait_all("cannot read the stored offsets: " + e->message);
    const auto& stored = std::get<std::map<int32_t, int64_t>>(local);
    const auto nodes = cluster_->nodes();
    bool moved = false;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      const int32_t p = it->first;
      int64_t at = RdKafka::Topic::OFFSET_INVALID;
      if (auto s = stored.find(p); s != stored.end()) at = s->second;
      std::vector<std::string> holders;
      for (const auto& [key, value] : std::get<std::map<std::string, std::string>>(records)) {
        const auto slash = key.find('/');
        if (slash == std::string::npos || key.substr(0, slash) != std::to_string(p)) continue;
        const auto node = key.substr(slash + 1);
        if (node == cluster_->self || !nodes.contains(node)) continue;
        if (const auto released = released_at(value)) at = std::max(at, *released);
        else holders.push_back(node);
      }
      if (!holders.empty()) {
        it->second.why = fmt::format(
            "partition {} waits for node {}, which holds it and may have stored rows of it past what the other "
            "nodes have: it goes on once that node releases it (it is back, or stopped cleanly) or is dropped "
            "from the cluster (.drop cluster node)",
            p, fmt::join(holders, ", "));
        ++it;
        continue;
      }
      partitions_[p].position = at;
      {
        std::lock_guard lock(status_mutex_);
        if (at >= 0) status_.stored[p] = at;
      }
      it = waiting_.erase(it);
      moved = true;
    }
    show_waiting();
    return moved;
  }

  void show_waiting() {
    if (paused_) return;  // `.pause` says so first
    std::lock_guard lock(status_mutex_);
    if (waiting_.empty()) {
      if (status_.reason.find("waits for node") != std::string::npos ||
          status_.reason.find("metadata store") != std::string::npos) {
        status_.state = "Running";
        status_.reason.clear();
      }
      return;
    }
    std::vector<std::string> whys;
    for (const auto& [p, w] : waiting_)
      if (std::find(whys.begin(), whys.end(), w.why) == whys.end()) whys.push_back(w.why);
    status_.state = "Paused";
    status_.reason = fmt::format("{}", fmt::join(whys, "; "));
  }

  // This node's stored offsets, to release partitions at; none (logged) when they cannot be read.
  std::optional<std::map<int32_t, int64_t>> stored_to_release() {
    auto local = storage::read_source_positions(store_, c().id);
    if (auto* e = std::get_if<model::error>(&local)) {
      spdlog::error("data connection '{}' of database '{}': cannot read the stored offsets to release its partitions "
                    "({}); other nodes wait for them until this node restarts",
                    c().name, target_.database, e->message);
      return std::nullopt;
    }
    return std::get<std::map<int32_t, int64_t>>(std::move(local));
  }

  // The partitions go (revoked, or the consumer closes): each whose rows are all stored is
  // released at its stored offset. One with a batch still unanswered stays held: whoever takes
  // it waits until this node restarts and releases what it then has.
  void release(const std::vector<RdKafka::TopicPartition*>& partitions) {
    const auto local = stored_to_release();
    if (!local) return;
    const auto& stored = *local;
    for (auto* tp : partitions) {
      const int32_t p = tp->partition();
      if (auto ps = partitions_.find(p); ps != partitions_.end() && !ps->second.in_flight.empty()) {
        spdlog::warn("data connection '{}' of database '{}': partition {} goes with a batch unanswered; it stays "
                     "held by this node until it restarts",
                     c().name, target_.database, p);
        continue;
      }
      auto s = stored.find(p);
      unreleased_[std::to_string(p)] = s != stored.end() ? fmt::format("released {}", s->second) : "released";
    }
    write_releases();
  }

  // At start: every partition this node stored or held is released at what it stored.
  void release_all_stored() {
    const auto local = stored_to_release();
    if (!local) return;
    for (const auto& [p, next] : *local)
      unreleased_[std::to_string(p)] = fmt::format("released {}", next);
    holds_unknown_ = true;  // those held with nothing stored yet are found in the records
    write_releases();
  }

  // Writes the releases not written yet (the metadata store may be unreachable: each second
  // again, meanwhile other nodes wait for these partitions).
  void write_releases() {
    next_release_ = clock::now() + 1s;
    if (holds_unknown_) {
      auto records = cluster_->read(c().id);
      auto* all = std::get_if<std::map<std::string, std::string>>(&records);
      if (!all) return;
      for (const auto& [key, value] : *all) {
        const auto slash = key.find('/');
        if (slash != std::string::npos && key.substr(slash + 1) == cluster_->self && value == "held")
          unreleased_.try_emplace(key.substr(0, slash), "released");
      }
      holds_unknown_ = false;
    }
    if (unreleased_.empty()) return;
    if (auto e = cluster_->write(c().id, unreleased_)) {
      if (!release_failing_)  // once per outage, not each second
        spdlog::warn("data connection '{}' of database '{}': cannot release partitions in the cluster's metadata "
                     "store ({}); other nodes wait for them meanwhile; trying again each second",
                     c().name, target_.database, e->message);
      release_failing_ = true;
      return;
    }
    release_failing_ = false;
    unreleased_.clear();
  }

  target target_;
  const actors::gateway& gateway_;
  storage::store& store_;
  const settings& settings_;
  const cluster_link* cluster_;  ///< null on a node alone
  ingest::format format_;
  std::unique_ptr<RdKafka::KafkaConsumer> kafka_;
  std::map<int32_t, partition_state> partitions_;  ///< consumer thread only: the partitions it reads
  std::map<int32_t, waiting_partition> waiting_;   ///< cluster: assigned, place not known yet
  clock::time_point next_lag_{};
  std::map<int32_t, int64_t> uncommitted_;  ///< stored offsets not committed to Kafka yet
  clock::time_point next_commit_{};
  clock::time_point next_resolve_{};
  std::map<std::string, std::string> unreleased_;  ///< cluster: releases not written yet
  clock::time_point next_release_{};
  bool holds_unknown_ = false;    ///< cluster: this node's holds are to be read from the records
  bool release_failing_ = false;  ///< the last write of releases failed (logged once)
  uint64_t generation_ = 0;                        ///< bumped at each revocation
  std::shared_ptr<mailbox> mail_ = std::make_shared<mailbox>();
  mutable std::mutex status_mutex_;
  connection_status status_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_wanted_{false};
  bool paused_ = false;  ///< consumer thread: fetching and sending stopped (`.pause`)
  std::unique_ptr<monitoring::connection_probe::series> metrics_;  ///< null without a probe
  std::thread thread_;
};

}  // namespace

struct manager::impl {
  impl(storage::store& store, settings s) : store(store), options(std::move(s)) {
    thread = std::thread([this] { run(); });
  }
  ~impl() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    thread.join();
  }

  // Ingestion failures are kept 14 days, as Kusto keeps them.
  void prune_failures() {
    constexpr int64_t ticks_per_day = int64_t{86'400} * 10'000'000;
    if (auto e = storage::prune_ingestion_failures(store, model::now_ticks() - 14 * ticks_per_day))
      spdlog::warn("data connections: {}", e->message);
  }

  void run() {
    std::unique_lock lock(mutex);
    auto next_prune = clock::time_point{};
    while (true) {
      if (clock::now() >= next_prune) {
        lock.unlock();
        prune_failures();
        lock.lock();
        next_prune = clock::now() + 1h;
      }
      wake.wait_until(lock, next_prune, [this] { return stopping || dirty; });
      if (stopping) break;
      if (!dirty) continue;
      dirty = false;
      const uint64_t generation = requested;
      if (gateway) {
        auto want = desired;
        // A node stopping retires every consumer; only a connection gone from the catalog is dropped.
        const bool catalog_says = !stopped;
        lock.unlock();
        try {
          reconcile(want, catalog_says);
        } catch (const std::exception& e) {
          // E.g. no thread could be started: the next catalog change tries again.
          spdlog::error("data connections: cannot start or stop consumers: {}", e.what());
        }
        lock.lock();
      }
      reconciled = generation;
      done.notify_all();
    }
    lock.unlock();
    std::map<uint64_t, std::unique_ptr<consumer>> last;
    {
      std::lock_guard running_lock(running_mutex);
      last.swap(running);
    }
    last.clear();  // each finishes its batches in flight
  }

  // `dropping`: what `want` leaves out is dropped (not so when the node stops).
  void reconcile(const std::map<uint64_t, target>& want, bool dropping) {
    std::vector<std::unique_ptr<consumer>> retired;
    std::vector<uint64_t> dropped;
    {
      std::lock_guard lock(running_mutex);
      for (auto it = running.begin(); it != running.end();) {
        auto w = want.find(it->first);
        if (w == want.end() || !w->second.same_consumer(it->second->what())) {
          if (w == want.end() && dropping) dropped.push_back(it->first);
          retired.push_back(std::move(it->second));
          it = running.erase(it);
        } else {
          ++it;
        }
      }
    }
    retired.clear();  // stops them (outside the lock: status() goes on meanwhile)
    // A dropped connection's partition records are of no use to anyone (its id is never reused).
    if (cluster && cluster->forget)
      for (auto id : dropped)
        if (auto e = cluster->forget(id))
          spdlog::warn("data connection {}: its partition records stay in the cluster's metadata store: {}", id,
                       e->message);
    for (const auto& [id, t] : want) {
      std::lock_guard lock(running_mutex);
      auto it = running.find(id);
      if (it == running.end())
        it = running.emplace(id, std::make_unique<consumer>(t, *gateway, store, options,
                                                            cluster ? &*cluster : nullptr))
                 .first;
      it->second->set_paused(t.connection.paused);
    }
  }

  storage::store& store;
  settings options;
  std::optional<cluster_link> cluster;  ///< set before start()
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  bool stopped = false;  ///< stop() was called: apply() changes nothing
  bool dirty = false;
  uint64_t requested = 0;   ///< bumped by each apply/start/stop
  uint64_t reconciled = 0;  ///< the last `requested` the consumers were matched to
  std::condition_variable done;
  const actors::gateway* gateway = nullptr;
  std::map<uint64_t, target> desired;  ///< the connections the catalog has, paused ones too
  mutable std::mutex running_mutex;
  std::map<uint64_t, std::unique_ptr<consumer>> running;
  std::thread thread;
};

manager::manager(storage::store& store, settings s) : impl_(std::make_unique<impl>(store, std::move(s))) {}
manager::~manager() = default;

void manager::apply(const model::catalog& cat) {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopped) return;  // the node is stopping: nothing starts again
  }
  std::map<uint64_t, target> want;
  for (const auto& [db_name, db] : cat.databases)
    for (const auto& [name, c] : db.data_connections) want.emplace(c.id, target{db_name, c});
  {
    std::lock_guard lock(impl_->mutex);
    impl_->desired = std::move(want);
    impl_->dirty = true;
    ++impl_->requested;
  }
  impl_->wake.notify_all();
}

void manager::join_cluster(cluster_link link) {
  std::lock_guard lock(impl_->mutex);
  impl_->cluster = std::move(link);
}

void manager::start(const actors::gateway& gateway) {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->gateway = &gateway;
    impl_->dirty = true;
    ++impl_->requested;
  }
  impl_->wake.notify_all();
}

void manager::stop() {
  std::unique_lock lock(impl_->mutex);
  impl_->stopped = true;
  impl_->desired.clear();
  impl_->dirty = true;
  const uint64_t generation = ++impl_->requested;
  impl_->wake.notify_all();
  // Until every consumer is gone: each has stored its batches in flight and, in a cluster,
  // released its partitions (through the cluster member, which goes after this).
  impl_->done.wait(lock, [&] { return impl_->reconciled >= generation || impl_->stopping; });
}

std::vector<connection_status> manager::status() const {
  std::vector<connection_status> out;
  std::lock_guard lock(impl_->running_mutex);
  for (const auto& [id, c] : impl_->running) out.push_back(c->status());
  return out;
}


void manager::complete(model::result_table& shown) const {
  auto column = [&](std::string_view name) -> int {
    for (size_t i = 0; i < shown.columns.size(); ++i)
      if (shown.columns[i].name == name) return static_cast<int>(i);
    return -1;
  };
  const int db = column("DatabaseName"), name = column("DataConnectionName"), state = column("State"),
            reason = column("Reason"), messages = column("Messages"), records = column("Records"),
            failed = column("Failures"), offsets = column("Offsets"), lag = column("Lag"),
            last_error = column("LastError");
  if (db < 0 || name < 0 || state < 0 || reason < 0 || messages < 0 || records < 0 || failed < 0 || offsets < 0 ||
      lag < 0 || last_error < 0)
    return;
  const auto running = status();
  for (auto& row : shown.rows) {
    const auto* d = std::get_if<std::string>(&row[static_cast<size_t>(db)]);
    const auto* n = std::get_if<std::string>(&row[static_cast<size_t>(name)]);
    if (!d || !n) continue;
    auto it = std::find_if(running.begin(), running.end(),
                           [&](const connection_status& s) { return s.database == *d && s.name == *n; });
    if (it == running.end()) continue;
    row[static_cast<size_t>(state)] = it->state;
    row[static_cast<size_t>(reason)] = it->reason;
    row[static_cast<size_t>(messages)] = static_cast<int64_t>(it->messages);
    row[static_cast<size_t>(records)] = static_cast<int64_t>(it->records);
    row[static_cast<size_t>(failed)] = static_cast<int64_t>(it->failures);
    auto by_partition = [](const std::map<int32_t, int64_t>& values) {
      std::string json = "{";
      for (const auto& [p, v] : values) json += fmt::format("{}\"{}\":{}", json.size() > 1 ? "," : "", p, v);
      return json + "}";
    };
    row[static_cast<size_t>(offsets)] = by_partition(it->stored);
    row[static_cast<size_t>(lag)] = by_partition(it->lag);
    row[static_cast<size_t>(last_error)] = it->last_error;
  }
}

model::outcome manager::failures_table(size_t limit) const {
  using model::column_type;
  model::result_table t;
  t.columns = {{"FailedOn", column_type::datetime},    {"Database", column_type::string},
               {"Table", column_type::string},         {"DataConnection", column_type::string},
               {"IngestionSourcePath", column_type::string}, {"Topic", column_type::string},
               {"Partition", column_type::int_},       {"Offset", column_type::long_},
               {"FailureKind", column_type::string},   {"ErrorCode", column_type::string},
               {"Details", column_type::string},       {"OperationKind", column_type::string}};
  auto stored = storage::read_ingestion_failures(impl_->store, limit);
  if (auto* e = std::get_if<model::error>(&stored)) return *e;
  for (const auto& f : std::get<std::vector<model::ingestion_failure>>(stored))
    t.rows.push_back({f.at_ticks, f.database, f.table, f.connection,
                      fmt::format("kafka://{}/{}/{}", f.topic, f.partition, f.offset), f.topic,
                      static_cast<int64_t>(f.partition), f.offset, std::string("Permanent"), f.code, f.message,
                      std::string("DataIngestPull")});
  return t;
}

}  // namespace tributary::connectors
