// The data connection commands (docs/data-connections.md): .create/.alter/.drop/.pause/.resume
// database D data connection N, .show database D data connections; stored in the catalog's
// database record (the codec round trip), secrets masked, every mistake named with its fix and
// the catalog left as it was.

#include <gtest/gtest.h>

#include "storage/catalog_codec.hpp"
#include "test_util.hpp"

namespace tributary::testing {
namespace {

constexpr std::string_view create_events =
    ".create database D data connection events kind=kafka with (bootstrapServers='127.0.0.1:9092,b2:9093', "
    "topic='events', consumerGroup='tributary', table='T', format='JSON', mappingName='m', "
    "eventSystemProperties='x-opt-offset, x-opt-enqueued-time')";

model::catalog with_table() {
  model::catalog cat;
  ok(cat, ".create database D");
  ok(cat, ".create table T (a:long, b:string, off:long, at:datetime)", "D");
  ok(cat, R"(.create table T ingestion json mapping "m" '[{"column":"a","Properties":{"Path":"$.a"}}]')", "D");
  ok(cat, R"(.create table T ingestion csv mapping "c" '[{"column":"a","Properties":{"Ordinal":"0"}}]')", "D");
  return cat;
}

TEST(data_connections, create_stores_the_connection_in_its_database_and_shows_it) {
  auto cat = with_table();
  const auto next_id = cat.next_id;
  auto ex = run(cat, create_events);
  EXPECT_EQ(ex.kind, "create_data_connection");
  ASSERT_EQ(ex.changes.size(), 1u);
  EXPECT_EQ(ex.changes[0].what, model::change::kind::put_database);
  auto r = table_of(ex);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_TRUE(well_formed(r));
  EXPECT_EQ(cell(r, 0, "DataConnectionName"), "events");
  EXPECT_EQ(cell(r, 0, "Kind"), "kafka");
  EXPECT_EQ(cell(r, 0, "TableName"), "T");
  EXPECT_EQ(cell(r, 0, "Format"), "json");  // normalized
  EXPECT_EQ(cell(r, 0, "EventSystemProperties"), "x-opt-offset,x-opt-enqueued-time");
  EXPECT_EQ(cell(r, 0, "StartFrom"), "earliest");
  EXPECT_EQ(cell(r, 0, "State"), "Running");
  const auto& c = cat.find_database("D")->data_connections.at("events");
  EXPECT_EQ(c.id, next_id);  // an id of its own, for its stored offsets
  EXPECT_EQ(cat.next_id, next_id + 1);
  EXPECT_EQ(c.bootstrap_servers, "127.0.0.1:9092,b2:9093");
  auto shown = ok(cat, ".show database D data connections");
  ASSERT_EQ(shown.rows.size(), 1u);
  EXPECT_EQ(cell(shown, 0, "Topic"), "events");
}

TEST(data_connections, credentials_are_stored_but_never_shown) {
  auto cat = with_table();
  ok(cat,
     ".create database D data connection hub kind=kafka with (bootstrapServers='ns.servicebus.windows.net:9093', "
     "topic='hub', consumerGroup='$Default', table='T', format='csv', securityProtocol='SASL_SSL', "
     "saslMechanism='plain', saslUsername='$ConnectionString', "
     "saslPassword='Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=s3cr3t')");
  auto r = ok(cat, ".show database D data connections");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(cell(r, 0, "SaslPassword"), "*****");
  EXPECT_EQ(cell(r, 0, "SaslMechanism"), "PLAIN");
  EXPECT_EQ(cell(r, 0, "SecurityProtocol"), "sasl_ssl");
  for (const auto& row : r.rows) {
    for (const auto& v : row) {
      if (const auto* s = std::get_if<std::string>(&v)) {
        EXPECT_EQ(s->find("s3cr3t"), std::string::npos) << *s;
      }
    }
  }
  EXPECT_EQ(cat.find_database("D")->data_connections.at("hub").sasl_password,
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=s3cr3t");
}

TEST(data_connections, the_database_record_round_trips_through_the_codec) {
  auto cat = with_table();
  ok(cat, create_events);
  ok(cat, ".pause database D data connection events");
  const auto& db = *cat.find_database("D");
  auto decoded = storage::codec::decode_database(storage::codec::encode_database(db));
  ASSERT_TRUE(std::holds_alternative<model::database>(decoded)) << std::get<std::string>(decoded);
  EXPECT_EQ(std::get<model::database>(decoded).data_connections, db.data_connections);
  // A record written before data connections existed still reads.
  auto old = storage::codec::decode_database(R"({"id":1,"name":"D","policy":null})");
  ASSERT_TRUE(std::holds_alternative<model::database>(old));
  EXPECT_TRUE(std::get<model::database>(old).data_connections.empty());
}

TEST(data_connections, mistakes_are_named_with_the_fix_and_change_nothing) {
  auto cat = with_table();
  const auto before = snapshot(cat);
  struct bad {
    std::string text;
    std::string code;
    std::string says;
  };
  const std::string head = ".create database D data connection x kind=kafka with (";
  const std::string good = "bootstrapServers='h:9092', topic='t', consumerGroup='g', table='T'";
  const bad cases[] = {
      {".create database Nope data connection x kind=kafka with (" + good + ")", "BadRequest_DatabaseNotExist",
       "Database 'Nope' does not exist"},
      {".create database D data connection x kind=eventgrid with (" + good + ")", "BadRequest_InvalidDataConnection",
       "use kind=kafka"},
      {head + "topic='t', consumerGroup='g')", "BadRequest_InvalidDataConnection",
       "needs bootstrapServers, table: add bootstrapServers='...', table='...'"},
      {head + good + ", colour='red')", "BadRequest_InvalidDataConnection",
       "unknown data connection property 'colour' (line 1, column"},
      {head + good + ", topic='u')", "BadRequest_InvalidDataConnection", "property 'topic' is given twice"},
      {head + "bootstrapServers='h', topic='t', consumerGroup='g', table='T')", "BadRequest_InvalidDataConnection",
       "'h' is not host:port"},
      {head + good + ", format='parquet')", "BadRequest_InvalidDataConnection", "format 'parquet' is not one of"},
      {head + good + ", compression='zstd')", "BadRequest_InvalidDataConnection", "compression 'zstd' is not one of"},
      {head + good + ", eventSystemProperties='x-opt-offset,colour')", "BadRequest_InvalidDataConnection",
       "eventSystemProperties entry 'colour' is not one of"},
      {head + good + ", securityProtocol='sasl_ssl', saslMechanism='PLAIN')", "BadRequest_InvalidDataConnection",
       "needs saslUsername and saslPassword"},
      {head + "bootstrapServers='h:9092', topic='t', consumerGroup='g', table='Nope')", "BadRequest_TableNotExist",
       "table 'Nope', which does not exist in database 'D'"},
      {head + good + ", format='json', mappingName='c')", "BadRequest_MappingReferenceWasNotFound",
       "table 'T' has no Json mapping 'c' for format json"},
      {head + good, "BadRequest_SyntaxError", "expected ')' or ','"},
      {".create database D data connection x kind=kafka", "BadRequest_SyntaxError", "expected 'with'"},
      {".alter database D data connection missing with (topic='t')", "BadRequest_EntityNotFound",
       "data connection 'missing' does not exist in database 'D'"},
      {".drop database D data connection missing", "BadRequest_EntityNotFound", "does not exist"},
      {".pause database D data connection missing", "BadRequest_EntityNotFound", "does not exist"},
  };
  for (const auto& c : cases) {
    auto e = fails(cat, c.text);
    EXPECT_EQ(e.code, c.code) << c.text << "\n" << e.message;
    EXPECT_HAS(e.message, c.says);
    EXPECT_TRUE(e.permanent);
    EXPECT_EQ(snapshot(cat), before) << c.text;
  }
}

TEST(data_connections, alter_pause_resume_and_drop) {
  auto cat = with_table();
  ok(cat, create_events);
  const auto id = cat.find_database("D")->data_connections.at("events").id;
  // A property changed, the rest kept, the id too (same topic: its offsets still apply).
  auto r = ok(cat, ".alter database D data connection events with (consumerGroup='other', format='multijson')");
  EXPECT_EQ(cell(r, 0, "ConsumerGroup"), "other");
  EXPECT_EQ(cell(r, 0, "MappingName"), "m");
  EXPECT_EQ(cat.find_database("D")->data_connections.at("events").id, id);
  // Another topic is read from its start, under a new id.
  ok(cat, ".alter database D data connection events with (topic='events2')");
  EXPECT_NE(cat.find_database("D")->data_connections.at("events").id, id);
  // The .alter database D policy form still works beside it.
  ok(cat, ".alter cluster policy streamingingestion enable");
  ok(cat, ".alter database D policy streamingingestion enable");
  EXPECT_EQ(cell(ok(cat, ".pause database D data connection events"), 0, "State"), "Paused");
  auto again = run(cat, ".pause database D data connection events");
  EXPECT_TRUE(again.changes.empty());  // already paused: nothing to store
  EXPECT_EQ(cell(ok(cat, ".resume database D data connection events"), 0, "State"), "Running");
  // The table it streams into cannot be dropped under it.
  auto e = fails(cat, ".drop table T", "D");
  EXPECT_EQ(e.code, "BadRequest_EntityInUse");
  EXPECT_HAS(e.message, ".drop database D data connection events");
  auto remaining = ok(cat, ".drop database D data connection events");
  EXPECT_TRUE(remaining.rows.empty());
  EXPECT_EQ(remaining.columns.size(), 26u);
  ok(cat, ".drop table T", "D");
}

TEST(data_connections, one_consumer_group_reads_a_topic_for_one_connection) {
  auto cat = with_table();
  ok(cat, create_events);
  ok(cat, ".create database E");
  ok(cat, ".create table U (a:long)", "E");
  auto e = fails(cat,
                 ".create database E data connection copy kind=kafka with (bootstrapServers='127.0.0.1:9092,b2:9093', "
                 "topic='events', consumerGroup='tributary', table='U', format='csv')");
  EXPECT_HAS(e.message, "consumer group 'tributary' already reads topic 'events' for data connection 'events' of "
                        "database 'D'");
  ok(cat,
     ".create database E data connection copy kind=kafka with (bootstrapServers='127.0.0.1:9092,b2:9093', "
     "topic='events', consumerGroup='second', table='U', format='csv')");
}

}  // namespace
}  // namespace tributary::testing
