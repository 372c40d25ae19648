@0xae52e2bd006bb17c;
# Tributary's client contract. Every node serves the `Tributary` interface as its bootstrap
# capability on its RPC port (default 7400). Compatibility rule: fields and methods are only
# ever added with new ordinals, never renumbered or retyped.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("tributary::wire");

# Kusto's scalar types. A column's type says which `Value` field its cells use.
enum ColumnType {
  bool @0;       # Value.bool
  int @1;        # Value.long (32-bit range)
  long @2;       # Value.long
  real @3;       # Value.real
  decimal @4;    # Value.text, decimal digits as Kusto prints them
  string @5;     # Value.text
  datetime @6;   # Value.long, 100-ns ticks since 1970-01-01T00:00:00Z (UTC)
  timespan @7;   # Value.long, 100-ns ticks
  guid @8;       # Value.text, 8-4-4-4-12 lower-case hex
  dynamic @9;    # Value.text, JSON
}

struct Column {
  name @0 :Text;
  type @1 :ColumnType;
}

# One cell. `null` is Kusto's null for every type.
struct Value {
  union {
    null @0 :Void;
    bool @1 :Bool;
    long @2 :Int64;
    real @3 :Float64;
    text @4 :Text;
  }
}

struct Row {
  values @0 :List(Value);   # one per column, in column order
}

# A typed result: what commands and queries return.
struct ResultTable {
  columns @0 :List(Column);
  rows @1 :List(Row);
  # Kusto's extended properties of a query result, each a name and a JSON value:
  # "Visualization" (what `render` asked for, e.g. {"Visualization":"timechart"}) and
  # "QueryStats" (rows and extents scanned, extents and blocks pruned, bytes read, CPU time,
  # peak memory). Empty for commands.
  properties @2 :List(Property);
}

# An error as a value. `code` is stable (Kusto's code where Kusto has one, e.g.
# "BadRequest_EntityNotFound", "Throttling"); `message` names the object, the position in the
# request and the fix; `permanent` is false only when retrying the same request may succeed.
struct Error {
  code @0 :Text;
  message @1 :Text;
  permanent @2 :Bool;
}

struct Result {
  union {
    table @0 :ResultTable;
    error @1 :Error;
  }
}

# Data formats of the ingest call (Kusto's streamFormat values).
enum Format {
  csv @0;
  tsv @1;
  scsv @2;
  sohsv @3;
  psv @4;
  json @5;        # one JSON object per line
  multijson @6;   # objects one after another or in an array, across lines
}

# One streaming ingest request. At most 4 MiB of `data`, and at most 4 MiB once decompressed.
struct IngestRequest {
  database @0 :Text;
  table @1 :Text;
  format @2 :Format;
  mappingName @3 :Text;      # a pre-created mapping of the table; empty = none (map by order
                             # for CSV-like formats, by column name for JSON)
  data @4 :Data;             # raw records, UTF-8; gzip is recognised by its magic bytes
  requestId @5 :Text;        # client-chosen id; a retry with the same id for the same table
                             # within the dedup window returns the first answer, ingests nothing
  properties @6 :List(Property);  # further ingestion properties; unsupported ones are refused
                                  # by name (e.g. ignoreFirstRecord, tags), never ignored.
                                  # `tributary.previousNodes` = "host:port,...": a retry sent
                                  # to another node names the nodes it went to before, so that
                                  # a request one of them acked is a duplicate here too
                                  # (cluster/README.md "Retries across nodes")
}

struct Property {
  name @0 :Text;
  value @1 :Text;
}

# The acknowledgement of a durable, queryable ingest.
struct IngestAck {
  consumedRecords @0 :UInt64;  # rows added by this request (Kusto's ConsumedRecordsCount)
  duplicate @1 :Bool;          # true when answered from an earlier request with the same id
}

struct IngestResult {
  union {
    ack @0 :IngestAck;
    error @1 :Error;
  }
}

interface Tributary {
  # Runs one management command (text starting with "."), e.g.
  # ".create table T (a:int)". `database` is the database in context; may be empty for
  # commands that name no table.
  command @0 (database :Text, text :Text) -> (result :Result);

  # Runs one query (Kusto query language subset) against `database`. In a cluster the node
  # that receives it asks every node for its shard and merges the answers. `warnings` (field
  # @1 of the results) says what a successful answer leaves out, e.g. the nodes that did not
  # answer a `set best_effort=true;` query.
  query @1 (database :Text, text :Text) -> (result :Result, warnings :List(Text));

  # Streams data into a table. Answers only once the rows are durable and visible to queries.
  ingest @2 (request :IngestRequest) -> (result :IngestResult);

  # Internal, node to node: the capability a node uses to ask this one for its shard's part of
  # a query. Not part of the client contract.
  peer @3 () -> (peer :Peer);
}

# Internal, node to node (served by every node through `Tributary.peer`).
interface Peer {
  # Runs `text` against this node's own shard only: what `Tributary.query` answers on a node
  # alone. Counts as a query against this node's limits.
  queryShard @0 (database :Text, text :Text) -> (result :Result);

  # A client retries at another node a request it sent here before (the retry's
  # `tributary.previousNodes` property names this node): settles whether this node has it.
  # `acked` this node ingested it (the ack it gave); `unknown` it never ingested it and now never
  # will (a later ingest of `requestId` here is refused with RequestClaimedElsewhere); an in-flight
  # one is waited for. `claimant` is the calling node's instance token: a node that finds its own
  # token answers `unknown` and records nothing (the retry named the node it arrived at under
  # another address). cluster/README.md "Retries across nodes".
  claimIngest @1 (database :Text, table :Text, requestId :Text, claimant :Text) -> (result :ClaimResult);
}

struct ClaimResult {
  union {
    acked @0 :IngestAck;
    unknown @1 :Void;
    error @2 :Error;
  }
}
