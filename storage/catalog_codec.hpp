#pragma once
// Private to storage/: the encoding of catalog records (storage/FORMAT.md, "Catalog").

#include <string>
#include <string_view>
#include <variant>

#include "model/catalog.hpp"

namespace tributary::storage::codec {

/// Catalog column family keys. Ids are big-endian so a prefix scan lists a database's tables.
std::string meta_key();
std::string database_key(model::database_id id);
std::string database_prefix();
std::string table_key(model::database_id db, model::table_id id);
std::string table_prefix(model::database_id db);
std::string all_tables_prefix();

struct meta {
  uint64_t version = 0;
  uint64_t next_id = 1;
  model::switch_state streaming = model::switch_state::disabled;
};

std::string encode_meta(const model::catalog& cat);
std::string encode_database(const model::database& db);
std::string encode_table(const model::database& db, const model::table& t);

/// Decoders return the error text (what is wrong) on malformed input.
std::variant<meta, std::string> decode_meta(std::string_view bytes);
std::variant<model::database, std::string> decode_database(std::string_view bytes);
/// The table and the id of its database.
std::variant<std::pair<model::database_id, model::table>, std::string> decode_table(
    std::string_view bytes);

}  // namespace tributary::storage::codec
