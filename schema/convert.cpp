#include "schema/convert.hpp"

namespace tributary::wire {
namespace {

// The wire enum mirrors model::column_type one to one (same order, checked here).
static_assert(static_cast<int>(ColumnType::DYNAMIC) == static_cast<int>(model::column_type::dynamic));
static_assert(static_cast<int>(ColumnType::BOOL) == static_cast<int>(model::column_type::bool_));

std::string text(capnp::Text::Reader r) { return std::string(r.cStr(), r.size()); }

}  // namespace

void to_wire(const model::error& e, Error::Builder out) {
  out.setCode(e.code);
  out.setMessage(e.message);
  out.setPermanent(e.permanent);
}

model::error from_wire(Error::Reader in) {
  return {text(in.getCode()), text(in.getMessage()), in.getPermanent()};
}

void to_wire(const model::result_table& t, ResultTable::Builder out) {
  auto columns = out.initColumns(static_cast<unsigned>(t.columns.size()));
  for (unsigned i = 0; i < t.columns.size(); ++i) {
    columns[i].setName(t.columns[i].name);
    columns[i].setType(static_cast<ColumnType>(t.columns[i].type));
  }
  auto rows = out.initRows(static_cast<unsigned>(t.rows.size()));
  for (unsigned r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    auto values = rows[r].initValues(static_cast<unsigned>(row.size()));
    for (unsigned c = 0; c < row.size(); ++c) {
      auto v = values[c];
      std::visit(
          [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) v.setNull();
            else if constexpr (std::is_same_v<T, bool>) v.setBool(x);
            else if constexpr (std::is_same_v<T, int64_t>) v.setLong(x);
            else if constexpr (std::is_same_v<T, double>) v.setReal(x);
            else v.setText(x);
          },
          row[c]);
    }
  }
  if (!t.properties.empty()) {
    auto properties = out.initProperties(static_cast<unsigned>(t.properties.size()));
    for (unsigned i = 0; i < t.properties.size(); ++i) {
      properties[i].setName(t.properties[i].first);
      properties[i].setValue(t.properties[i].second);
    }
  }
}

model::result_table from_wire(ResultTable::Reader in) {
  model::result_table t;
  for (auto c : in.getColumns())
    t.columns.push_back({text(c.getName()), static_cast<model::column_type>(c.getType())});
  t.rows.reserve(in.getRows().size());
  for (auto r : in.getRows()) {
    std::vector<model::value> row;
    row.reserve(r.getValues().size());
    for (auto v : r.getValues()) {
      switch (v.which()) {
        case Value::NULL_: row.emplace_back(std::monostate{}); break;
        case Value::BOOL: row.emplace_back(v.getBool()); break;
        case Value::LONG: row.emplace_back(v.getLong()); break;
        case Value::REAL: row.emplace_back(v.getReal()); break;
        case Value::TEXT: row.emplace_back(text(v.getText())); break;
      }
    }
    t.rows.push_back(std::move(row));
  }
  for (auto p : in.getProperties()) t.properties.emplace_back(text(p.getName()), text(p.getValue()));
  return t;
}

void to_wire(const model::outcome& o, Result::Builder out) {
  if (const auto* t = std::get_if<model::result_table>(&o)) to_wire(*t, out.initTable());
  else to_wire(std::get<model::error>(o), out.initError());
}

model::outcome from_wire(Result::Reader in) {
  if (in.isTable()) return from_wire(in.getTable());
  return from_wire(in.getError());
}

}  // namespace tributary::wire
