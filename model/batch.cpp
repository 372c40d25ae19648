#include "model/batch.hpp"

namespace tributary::model {

value column_data::at(size_t row) const {
  if (is_null(row)) return std::monostate{};
  switch (type) {
    case column_type::bool_: return ints[row] != 0;
    case column_type::int_:
    case column_type::long_:
    case column_type::datetime:
    case column_type::timespan: return ints[row];
    case column_type::real: return reals[row];
    default: return std::string(text_at(row));
  }
}

void column_data::append_null() {
  nulls.push_back(1);
  switch (type) {
    case column_type::real: reals.push_back(0); break;
    case column_type::string:
    case column_type::decimal:
    case column_type::guid:
    case column_type::dynamic: offsets.push_back(static_cast<uint32_t>(text.size())); break;
    default: ints.push_back(0); break;
  }
}

void column_data::append_int(int64_t v) {
  nulls.push_back(0);
  ints.push_back(v);
}

void column_data::append_real(double v) {
  nulls.push_back(0);
  reals.push_back(v);
}

void column_data::append_text(std::string_view v) {
  nulls.push_back(0);
  text.append(v);
  offsets.push_back(static_cast<uint32_t>(text.size()));
}

column_batch column_batch::with_columns(const std::vector<column>& schema) {
  column_batch b;
  b.columns.reserve(schema.size());
  for (const auto& c : schema) {
    column_data d;
    d.type = c.type;
    b.columns.push_back(std::move(d));
  }
  return b;
}

size_t column_batch::byte_size() const {
  size_t n = sizeof(*this);
  for (const auto& c : columns)
    n += c.nulls.size() + c.ints.size() * 8 + c.reals.size() * 8 + c.text.size() + c.offsets.size() * 4;
  return n;
}

}  // namespace tributary::model
