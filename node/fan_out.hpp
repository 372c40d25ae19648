#pragma once
/// Query fan-out's merge: the answers of every node's shard to one query, made into the one
/// answer its client gets (DESIGN.md §6, reference/cluster.md §5.6). Pure functions over model
/// values, no I/O: the RPC layer (node/rpc_server.cpp) calls the nodes and hands their answers
/// here. The query engine extends `merge` when it splits more than `count` and `take`.

#include <string>
#include <vector>

#include "model/types.hpp"
#include "query/query.hpp"

namespace tributary::node {

/// One node's answer for its shard: a table, or the error it answered.
struct shard_answer {
  std::string node_id;
  model::outcome outcome;
};

/// A node whose shard is not in the answer, and why, in words a person can act on: "not
/// reachable: connect(): Connection refused", "down: holds no lease", "timed out after 5000 ms".
struct missing_shard {
  std::string node_id;
  std::string reason;
};

/// What the client gets: the merged outcome, and warnings about what a successful one leaves
/// out (Kusto's QueryStatus warnings).
struct merged_answer {
  model::outcome outcome;
  std::vector<std::string> warnings;
};

/// Merges the shards' answers to `plan`, in this order of precedence:
///  - a permanent error from any node is the answer, as is (the first in `answers`' order);
///  - a transient error answered by a node makes that node missing (its code and message are
///    the reason);
///  - any missing node fails the query with the transient PartialQueryFailure naming every
///    missing node and why, unless `plan.best_effort`: then the answer is the merge of the
///    nodes that answered, with a warning naming the missing ones (but with no node answered
///    at all there is nothing to merge: PartialQueryFailure all the same);
///  - shards answering different columns (nodes on different catalog versions): the transient
///    ShardSchemaMismatch;
///  - `count`: one row, the sum of the counts; `take N`: the rows concatenated in `answers`'
///    order, at most N; a result past the node's limits of one result (actors/table_query.hpp:
///    500,000 records, 64 MB encoded) is QueryResultSetTooLarge, as on one node.
merged_answer merge(const query::plan& plan, std::vector<shard_answer> answers,
                    const std::vector<missing_shard>& missing);

}  // namespace tributary::node
