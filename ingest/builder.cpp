#include "ingest/builder.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "ingest/json_text.hpp"

namespace tributary::ingest::detail {

size_t count_lines(std::string_view data) {
  // memchr is vectorised; std::count is not at -O2.
  size_t lines = 1;
  const char* p = data.data();
  const char* const end = p + data.size();
  while (p < end) {
    const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
    if (!nl) break;
    ++lines;
    p = static_cast<const char*>(nl) + 1;
  }
  return lines;
}

std::string where(std::string_view data, const position& at) {
  const size_t end = std::min(at.offset, data.size());
  const auto line = 1 + std::count(data.begin(), data.begin() + static_cast<ptrdiff_t>(end), '\n');
  if (at.item > 0)
    return fmt::format("record {} (item {} of the array on line {})", at.record, at.item, line);
  return fmt::format("record {} (line {})", at.record, line);
}

std::string shown(std::string_view value) {
  constexpr size_t max_shown = 60;
  std::string out = "'";
  for (size_t i = 0; i < value.size() && i < max_shown; ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c == '\\')
      out += "\\\\";
    else if (c == '\'')
      out += "\\'";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\t')
      out += "\\t";
    else if (c < 0x20 || c == 0x7F)
      out += fmt::format("\\x{:02X}", c);
    else
      out += static_cast<char>(c);
  }
  out += '\'';
  if (value.size() > max_shown)
    out += fmt::format(" (first {} of {} bytes)", max_shown, value.size());
  return out;
}

std::string describe(const model::column& c) {
  return fmt::format("column '{}' ({})", c.name, model::to_string(c.type));
}

model::error invalid_value(std::string_view data, const position& at, const model::column& c,
                           std::string_view value, problem why) {
  return {"BadRequest_InvalidValue",
          fmt::format("{}, {}: {} {}", where(data, at), describe(c), shown(value), why), true};
}

model::error format_error(std::string code, std::string_view data, const position& at,
                          std::string_view what) {
  return {std::move(code), fmt::format("{} {}", where(data, at), what), true};
}

model::error decoded_too_large(const model::table& t, std::string_view data, const position& at,
                               size_t limit) {
  const size_t mib = 1024 * 1024;
  const std::string shown_limit =
      limit % mib == 0 ? fmt::format("{} MiB", limit / mib) : fmt::format("{} bytes", limit);
  const size_t per_row = row_fixed_bytes(t.columns);
  return {"Stream_InputStreamTooLarge",
          fmt::format("the rows of this request for table '{}' would take more than the {} limit "
                      "on decoded data at {}: a row of its {} columns takes {} bytes before its "
                      "text, so one request holds at most {} rows; split the data into smaller "
                      "requests, or drop the columns or mapping entries (long text ConstValues) it does not "
                      "need",
                      t.name, shown_limit, where(data, at), t.columns.size(), per_row,
                      per_row ? limit / per_row : limit),
          true};
}

size_t row_fixed_bytes(const std::vector<model::column>& schema) {
  size_t n = 0;
  for (const auto& c : schema) {
    switch (c.type) {
      case model::column_type::string:
      case model::column_type::decimal:
      case model::column_type::guid:
      case model::column_type::dynamic:
        n += 1 + sizeof(uint32_t);
        break;
      default:
        n += 1 + sizeof(int64_t);
        break;
    }
  }
  return n;
}

batch_builder::batch_builder(const std::vector<model::column>& schema, size_t expected_rows,
                             size_t decoded_limit)
    : schema_(schema),
      batch_(model::column_batch::with_columns(schema)),
      decoded_limit_(decoded_limit),
      row_fixed_(row_fixed_bytes(schema)) {
  // A first guess only: a wrong one costs a reallocation, not correctness. Never more rows than
  // the decoded limit lets through: many tiny lines into a wide table would reserve gigabytes.
  const size_t rows = std::min<size_t>(
      {expected_rows, 1 << 20, row_fixed_ ? decoded_limit / row_fixed_ + 1 : size_t{0}});
  expected_rows_ = rows;
  for (auto& col : batch_.columns) {
    col.nulls.reserve(rows);
    switch (col.type) {
      case model::column_type::real:
        col.reals.reserve(rows);
        break;
      case model::column_type::string:
      case model::column_type::decimal:
      case model::column_type::guid:
      case model::column_type::dynamic:
        col.offsets.reserve(rows + 1);
        break;
      default:
        col.ints.reserve(rows);
        break;
    }
  }
}

batch_builder::~batch_builder() = default;

problem batch_builder::raw_text(size_t c, std::string_view v) {
  auto& col = batch_.columns[c];
  if (decoded_limit_ - decoded_ < v.size()) {
    over_limit_ = true;
    return "makes the request's rows pass the limit on decoded data";
  }
  // Offsets are 32-bit; a 4 MiB request cannot get near this, a caller with a larger one can.
  if (col.text.size() + v.size() > std::numeric_limits<uint32_t>::max())
    return "makes the column's text in this request exceed 4 GiB; send smaller requests";
  decoded_ += v.size();
  if (col.text.capacity() - col.text.size() < v.size() && rows_ > 0) {
    // Full: grown to what the rows so far take on average times the rows expected (a batch of
    // like records then allocates its text once, not by doubling with a copy each time), at
    // least doubled (a wrong guess stays amortized), at most what the decoded limit leaves
    // (pages never written are never resident).
    const size_t per_row = col.text.size() / rows_ + 1;
    const size_t guess = per_row * std::max(expected_rows_, rows_ + 1) / 8 * 9;
    const size_t want = std::max({guess, col.text.capacity() * 2, col.text.size() + v.size()});
    const size_t most = col.text.size() + v.size() + (decoded_limit_ - decoded_);
    col.text.reserve(std::min(want, most));
  }
  col.append_text(v);
  return {};
}

void batch_builder::null(size_t c) {
  auto& col = batch_.columns[c];
  if (col.type == model::column_type::string)
    col.append_text({});
  else
    col.append_null();
}

problem batch_builder::text(size_t c, std::string_view v) {
  auto& col = batch_.columns[c];
  if (col.type == model::column_type::string) return raw_text(c, v);
  const std::string_view t = trim_space(v);
  if (t.empty()) {
    col.append_null();
    return {};
  }
  problem p;
  switch (col.type) {
    case model::column_type::bool_: {
      bool b = false;
      if ((p = parse_bool(t, b)).empty()) col.append_int(b ? 1 : 0);
      return p;
    }
    case model::column_type::int_: {
      int64_t i = 0;
      if ((p = parse_int(t, i)).empty()) col.append_int(i);
      return p;
    }
    case model::column_type::long_: {
      int64_t i = 0;
      if ((p = parse_long(t, i)).empty()) col.append_int(i);
      return p;
    }
    case model::column_type::real: {
      double d = 0;
      if ((p = parse_real(t, d)).empty()) col.append_real(d);
      return p;
    }
    case model::column_type::datetime: {
      int64_t ticks = 0;
      if ((p = parse_datetime(t, ticks)).empty()) col.append_int(ticks);
      return p;
    }
    case model::column_type::timespan: {
      int64_t ticks = 0;
      if ((p = parse_timespan(t, ticks)).empty()) col.append_int(ticks);
      return p;
    }
    case model::column_type::decimal:
      if ((p = parse_decimal(t, scratch_)).empty()) return raw_text(c, scratch_);
      return p;
    case model::column_type::guid: {
      std::array<char, 36> g{};
      if ((p = parse_guid(t, g)).empty()) return raw_text(c, std::string_view(g.data(), g.size()));
      return p;
    }
    case model::column_type::dynamic:
      if (!dynamic_) dynamic_ = std::make_unique<dynamic_text>();
      if (!dynamic_->to_json(v, scratch_)) {
        col.append_null();
        return {};
      }
      return raw_text(c, scratch_);
    case model::column_type::string:
      break;
  }
  return raw_text(c, v);
}

model::column_batch batch_builder::finish() {
  batch_.rows = static_cast<uint32_t>(rows_);
  return std::move(batch_);
}

}  // namespace tributary::ingest::detail
