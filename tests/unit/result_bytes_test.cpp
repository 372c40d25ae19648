// The byte limit of query results counts what the RPC layer will send: encoded_bytes equals the
// size of the Cap'n Proto message the node builds for a result (one segment, as the answer's).

#include <gtest/gtest.h>

#include <capnp/message.h>

#include "actors/table_query.hpp"
#include "schema/convert.hpp"

namespace tributary::actors {
namespace {

uint64_t message_bytes(const model::result_table& t) {
  capnp::MallocMessageBuilder m(1u << 20, capnp::AllocationStrategy::FIXED_SIZE);
  wire::to_wire(model::outcome{t}, m.initRoot<wire::Result>());
  EXPECT_EQ(m.getSegmentsForOutput().size(), 1u);
  return m.sizeInWords() * 8;
}

uint64_t estimate(const model::result_table& t) {
  uint64_t n = encoded_bytes(t.columns);
  for (const auto& row : t.rows) n += encoded_bytes(row);
  return n + 8;  // the message's root pointer
}

TEST(result_bytes, equal_the_encoded_size_of_every_kind_of_cell) {
  using ct = model::column_type;
  model::result_table t;
  t.columns = {{"b", ct::bool_}, {"l", ct::long_}, {"r", ct::real}, {"s", ct::string}, {"a longer column name", ct::dynamic}};
  EXPECT_EQ(estimate(t), message_bytes(t));
  for (int i = 0; i < 100; ++i)
    t.rows.push_back({i % 2 == 0, int64_t{i}, i * 0.5, std::string(static_cast<size_t>(i), 'x'),
                      i % 3 == 0 ? model::value{} : model::value{std::string("{\"k\":1}")}});
  t.rows.push_back({});  // a row with no cells
  EXPECT_EQ(estimate(t), message_bytes(t));
}

}  // namespace
}  // namespace tributary::actors
