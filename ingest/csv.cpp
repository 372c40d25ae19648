#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "ingest/builder.hpp"
#include "ingest/formats.hpp"
#include "ingest/json_text.hpp"

namespace tributary::ingest::detail {
namespace {

// Where a column's value comes from.
struct source {
  enum class kind : uint8_t { field, constant, null, line_number } what = kind::null;
  size_t field = 0;
  std::string_view constant;
};

// One field of the current record: a byte range of the payload. `escaped` fields were quoted
// and contain doubled quotes still to be undone.
struct field {
  size_t begin = 0;
  size_t end = 0;
  bool escaped = false;
};

std::string separator_name(char sep) {
  switch (sep) {
    case ',':
      return "','";
    case '\t':
      return "tab";
    case ';':
      return "';'";
    case '|':
      return "'|'";
    default:
      return "SOH (\\x01)";
  }
}

struct plan {
  std::vector<source> sources;  // one per table column
  size_t wanted_fields = 0;     // fields a record must have (at least, with a mapping)
  bool exact = true;            // without a mapping the count must match exactly
  const model::mapping_element* widest = nullptr;  // the element reading the last wanted field
};

std::variant<plan, model::error> make_plan(const model::table& t, const model::mapping* m) {
  plan p;
  p.sources.resize(t.columns.size());
  if (!m) {
    for (size_t i = 0; i < t.columns.size(); ++i) p.sources[i] = {source::kind::field, i, {}};
    p.wanted_fields = t.columns.size();
    return p;
  }
  p.exact = false;
  for (const auto& e : m->elements) {
    auto col = mapped_column(t, *m, e);
    if (auto* err = std::get_if<model::error>(&col)) return std::move(*err);
    source& s = p.sources[std::get<size_t>(col)];
    if (e.ordinal) {
      s = {source::kind::field, static_cast<size_t>(*e.ordinal), {}};
      if (s.field + 1 > p.wanted_fields) {
        p.wanted_fields = s.field + 1;
        p.widest = &e;
      }
    } else if (e.const_value) {
      s = {source::kind::constant, 0, *e.const_value};
    } else if (e.transform == "SourceLineNumber") {
      s = {source::kind::line_number, 0, {}};
    } else if (e.transform == "SourceLocation") {
      // A streaming request has no storage artifact to name: the column stays null.
      s = {source::kind::null, 0, {}};
    } else {
      return model::error{
          "BadRequest_InvalidMapping",
          fmt::format("csv mapping '{}' maps column '{}' with Transform '{}', which csv mappings "
                      "do not support; use an Ordinal, a ConstValue or Transform SourceLocation",
                      m->name, e.column, e.transform.value_or("")),
          true};
    }
  }
  return p;
}

class csv_parser {
 public:
  csv_parser(char sep, std::string_view data, const model::table& t, const model::mapping* m,
             plan p, size_t decoded_limit)
      : sep_(sep),
        data_(data),
        table_(t),
        mapping_(m),
        plan_(std::move(p)),
        decoded_limit_(decoded_limit),
        builder_(t.columns, count_lines(data), decoded_limit) {
    stop_[static_cast<unsigned char>(sep)] = true;
    stop_['\n'] = true;
    bad_utf8_ = first_invalid_utf8(data);
  }

  std::variant<model::column_batch, model::error> run() {
    const size_t n = data_.size();
    while (pos_ < n) {
      // Empty lines separate nothing and hold no record.
      if (data_[pos_] == '\n') {
        ++pos_;
        continue;
      }
      if (data_[pos_] == '\r' && ends_line(pos_ + 1)) {
        pos_ += 2;
        continue;
      }
      at_ = {at_.record + 1, pos_};
      if (auto e = read_record()) return std::move(*e);
      if (bad_utf8_ < pos_) return utf8_error();
      if (auto e = check_count()) return std::move(*e);
      if (!builder_.begin_record()) return too_large();
      if (auto e = convert()) return builder_.over_limit() ? too_large() : std::move(*e);
      builder_.end_record();
    }
    return builder_.finish();
  }

 private:
  // Splits the record at pos_ into fields_ (at most plan_.wanted_fields kept, all counted) and
  // moves pos_ past its line end.
  std::optional<model::error> read_record() {
    const char* const base = data_.data();
    const size_t n = data_.size();
    fields_.clear();
    field_count_ = 0;
    for (;;) {
      field f;
      if (pos_ < n && base[pos_] == '"') {
        const size_t open = pos_;
        size_t q = pos_ + 1;
        f.begin = q;
        for (;;) {
          const void* hit = std::memchr(base + q, '"', n - q);
          if (!hit) {
            return format_error(
                "Stream_ClosingQuoteMissing", data_, at_,
                fmt::format("has field {} opening a quote on line {} that is never closed; end a "
                            "quoted field with \" and write a \" inside it as \"\"",
                            field_count_ + 1, line_of(open)));
          }
          const size_t quote = static_cast<size_t>(static_cast<const char*>(hit) - base);
          if (quote + 1 < n && base[quote + 1] == '"') {
            f.escaped = true;
            q = quote + 2;
            continue;
          }
          f.end = quote;
          pos_ = quote + 1;
          break;
        }
        if (pos_ < n && base[pos_] != sep_ && base[pos_] != '\n' &&
            !(base[pos_] == '\r' && ends_line(pos_ + 1))) {
          return format_error(
              "BadRequest_UnexpectedCharacterInInputStream", data_, at_,
              fmt::format("has {} after the closing quote of field {}; a quoted field ends at its "
                          "quote (write a \" inside quotes as \"\")",
                          shown(std::string_view(base + pos_, 1)), field_count_ + 1));
        }
      } else {
        // Locals, not members, in the hottest loop: stores to pos_ could alias the payload.
        const bool* const stop = stop_.data();
        size_t p = pos_;
        f.begin = p;
        while (p < n && !stop[static_cast<unsigned char>(base[p])]) ++p;
        pos_ = f.end = p;
        if (f.end > f.begin && base[f.end - 1] == '\r' && ends_line(pos_)) --f.end;
      }
      if (fields_.size() < plan_.wanted_fields) fields_.push_back(f);
      ++field_count_;
      if (pos_ >= n) return std::nullopt;
      if (base[pos_] == sep_) {
        ++pos_;
        continue;
      }
      if (base[pos_] == '\r') ++pos_;
      if (pos_ < n) ++pos_;  // the '\n'
      return std::nullopt;
    }
  }

  model::error too_large() const {
    return decoded_too_large(table_, data_, at_, decoded_limit_);
  }

  bool ends_line(size_t i) const { return i >= data_.size() || data_[i] == '\n'; }

  size_t line_of(size_t offset) const {
    return 1 + static_cast<size_t>(
                   std::count(data_.begin(), data_.begin() + static_cast<ptrdiff_t>(offset), '\n'));
  }

  model::error utf8_error() const {
    size_t which = 0;
    while (which < fields_.size() && fields_[which].end < bad_utf8_) ++which;
    const std::string in =
        which < fields_.size() ? fmt::format(" in field {}", which + 1) : std::string();
    return format_error(
        "BadRequest_UnexpectedCharacterInInputStream", data_, at_,
        fmt::format("has a byte that is not valid UTF-8{} (offset {} in the payload); streaming "
                    "ingestion takes UTF-8 text",
                    in, bad_utf8_));
  }

  std::optional<model::error> check_count() const {
    if (plan_.exact && field_count_ != plan_.wanted_fields) {
      return format_error(
          "Stream_WrongNumberOfFields", data_, at_,
          fmt::format("has {} field{}, but table '{}' has {} columns; without a mapping field i "
                      "goes to column i (format {} splits fields on {})",
                      field_count_, field_count_ == 1 ? "" : "s", table_.name, plan_.wanted_fields,
                      format_name(), separator_name(sep_)));
    }
    if (!plan_.exact && field_count_ < plan_.wanted_fields) {
      return format_error(
          "Stream_WrongNumberOfFields", data_, at_,
          fmt::format("has {} field{}, but mapping '{}' reads field Ordinal {} into column '{}'",
                      field_count_, field_count_ == 1 ? "" : "s", mapping_->name,
                      plan_.wanted_fields - 1, plan_.widest->column));
    }
    return std::nullopt;
  }

  std::string_view format_name() const {
    switch (sep_) {
      case ',':
        return "csv";
      case '\t':
        return "tsv";
      case ';':
        return "scsv";
      case '|':
        return "psv";
      default:
        return "sohsv";
    }
  }

  std::string_view text_of(const field& f) {
    std::string_view raw = data_.substr(f.begin, f.end - f.begin);
    if (!f.escaped) return raw;
    unescaped_.clear();
    for (size_t i = 0; i < raw.size(); ++i) {
      unescaped_ += raw[i];
      if (raw[i] == '"') ++i;  // the second quote of a doubled pair
    }
    return unescaped_;
  }

  std::optional<model::error> convert() {
    for (size_t c = 0; c < plan_.sources.size(); ++c) {
      const source& s = plan_.sources[c];
      std::string_view v;
      switch (s.what) {
        case source::kind::null:
          builder_.null(c);
          continue;
        case source::kind::field:
          v = text_of(fields_[s.field]);
          break;
        case source::kind::constant:
          v = s.constant;
          break;
        case source::kind::line_number:
          number_ = std::to_string(at_.record);
          v = number_;
          break;
      }
      if (problem p = builder_.text(c, v); !p.empty()) {
        if (s.what == source::kind::constant)
          return model::error{"BadRequest_InvalidMapping",
                              fmt::format("mapping '{}' gives {} the ConstValue {}, which {}",
                                          mapping_->name, describe(table_.columns[c]), shown(v), p),
                              true};
        return invalid_value(data_, at_, table_.columns[c], v, p);
      }
    }
    return std::nullopt;
  }

  const char sep_;
  const std::string_view data_;
  const model::table& table_;
  const model::mapping* const mapping_;
  const plan plan_;
  const size_t decoded_limit_;
  batch_builder builder_;
  std::array<bool, 256> stop_{};
  size_t bad_utf8_ = 0;
  size_t pos_ = 0;
  position at_;
  std::vector<field> fields_;
  size_t field_count_ = 0;
  std::string unescaped_;
  std::string number_;
};

}  // namespace

std::variant<model::column_batch, model::error> parse_csv(char sep, std::string_view data,
                                                          const model::table& t,
                                                          const model::mapping* m,
                                                          size_t decoded_limit) {
  auto p = make_plan(t, m);
  if (auto* e = std::get_if<model::error>(&p)) return std::move(*e);
  csv_parser parser(sep, data, t, m, std::move(std::get<plan>(p)), decoded_limit);
  return parser.run();
}

}  // namespace tributary::ingest::detail
