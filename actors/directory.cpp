#include "actors/directory.hpp"

#include <caf/typed_actor.hpp>
#include <mutex>

namespace tributary::actors {

std::string directory::key(std::string_view database, std::string_view table) {
  // Names cannot contain '\n' (Kusto's name rules), so it separates them unambiguously.
  std::string k;
  k.reserve(database.size() + table.size() + 1);
  k.append(database).push_back('\n');
  k.append(table);
  return k;
}

std::optional<table_actor> directory::find(std::string_view database, std::string_view table) const {
  auto k = key(database, table);
  std::shared_lock lock(mutex_);
  auto it = tables_.find(k);
  if (it == tables_.end()) return std::nullopt;
  return it->second;
}

void directory::put(const std::string& database, const std::string& table, table_actor actor) {
  auto k = key(database, table);
  std::unique_lock lock(mutex_);
  tables_[std::move(k)] = std::move(actor);
}

void directory::erase(const std::string& database, const std::string& table) {
  auto k = key(database, table);
  std::unique_lock lock(mutex_);
  tables_.erase(k);
}

}  // namespace tributary::actors
