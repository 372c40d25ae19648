#pragma once
/// The scenarios of BENCHMARKS.md that tributary-bench runs; one .cpp file each. Each starts
/// its own node (or uses --node), runs its limit in the same run where it has one, and returns
/// the figures; it throws std::runtime_error when the node fails or answers an unexpected error.

#include "bench/common.hpp"

namespace tributary::bench {

/// `latency`: 1 client, 1 table, 500 + 5,000 sequential requests; ack p50/p99/p99.9 against
/// sequential synced RocksDB Puts of the same bytes.
scenario_result run_latency(const options& o);

/// `many-tables`: 1,000 tables (or --tables), 8 connections × 8 requests in flight, each to a
/// random table, for --duration-seconds, on a node at the default --max-ingests-in-flight and on
/// one with it raised; against 64 threads of synced RocksDB Puts, in slices alternating with them.
scenario_result run_many_tables(const options& o);

/// `visibility`: as `latency`, with `T | count` on a second connection after every ack.
scenario_result run_visibility(const options& o);

/// `tables-memory`: node RSS growth for 10,000 tables (or --tables) with their own policies;
/// start-up time and RSS after a restart. Needs a node it starts (reads /proc/<pid>).
scenario_result run_tables_memory(const options& o);

/// `seal`: 200 MiB (or --seal-mib) of CSV in one table's rowstore, sealed by deleting its
/// policy: move MiB/s, extent size / input size, and the `latency` loop's p99 into a second
/// table during the move vs. without (--cpu-hog: with a busy-loop process beside the node);
/// against zstd alone compressing the same column data, on one thread and on the move's.
scenario_result run_seal(const options& o);

}  // namespace tributary::bench
