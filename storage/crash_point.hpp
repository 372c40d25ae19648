#pragma once
/// Fault injection for crash and failure tests (RocksDB's TEST_SYNC_POINT, reduced to one use): the node
/// kills itself with SIGKILL at a named point of its durability protocol, so a test can check
/// recovery from exactly there instead of hoping a random kill lands in a window of
/// microseconds. Armed only by the TRIBUTARY_CRASH_AT environment variable (node/main.cpp logs
/// a warning when it is); unarmed, a point costs one relaxed atomic load.
///
/// Points (in the order of an extent move, then of a rowstore group commit):
///   extent.data_written      the extent's blocks and footer are written, nothing fsynced
///   extent.file_synced       the file is fsynced, its directory not yet
///   extent.synced            file and directory are durable; the registration not yet submitted
///   rowstore.seal_committed  a group holding an extent registration (and the delete of its
///                            rowstore range) is durable; no actor has heard of it
///   rowstore.group_committed any group commit is durable; nothing in it is acknowledged yet

#include <string_view>

namespace tributary::storage {

/// Arms the points from a spec "<point>[:<n>]": the n-th pass (default the first) through
/// `crash_point("<point>")` kills the process. An empty spec disarms. Not thread-safe against
/// concurrent crash_point calls: call once at start-up.
void arm_crash_point(std::string_view spec);

/// Kills the process (SIGKILL, no cleanup, no flush) when this is the armed point's n-th pass.
void crash_point(std::string_view name);

/// Failure injection for the supervision and error-path tests: where a crash point kills the
/// node, a fail point makes one operation fail (the call site decides how: an exception in an
/// actor, a failed write in the rowstore writer). Armed only by TRIBUTARY_FAIL_AT
/// (node/main.cpp logs a warning when it is), a comma-separated list of
/// "<point>[@<key>][:<n>|:<a>-<b>|:*]": the n-th pass (default the first), passes a to b, or every
/// pass (*) through `fail_point("<point>", key)` with a matching key (any key when none is
/// given) fails.
///
/// Points:
///   table.ingest      @table name  the table actor throws std::bad_alloc while parsing
///   table.seal        @table name  the table actor throws while checking its seal triggers
///   coordinator.command @database  the coordinator throws while running a command
///   rowstore.clear                 the group commit holding a clear fails (nothing written)
///   rowstore.seal                  the group commit holding an extent registration fails
///   query.scan        @table name  a table scan on the query pool throws
void arm_fail_points(std::string_view spec);

/// True when the armed fail point `name` (with `key`) fires on this pass. Thread-safe; unarmed,
/// one relaxed atomic load.
bool fail_point(std::string_view name, std::string_view key = {});

}  // namespace tributary::storage
