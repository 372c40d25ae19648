// dcount (HyperLogLog), percentile/percentiles (exact, then a t-digest) and
// make_list/make_set: the aggregates whose per-group state is a structure, not a number.

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <unordered_set>

#include "ingest/convert.hpp"
#include "query/aggregates_internal.hpp"
#include "query/hll.hpp"
#include "query/state_bytes.hpp"
#include "query/tdigest.hpp"

namespace tributary::query::agg {

using model::column_data;
using model::column_type;

namespace {

void append_timespan(std::string& out, int64_t ticks) {
  // Kusto's timespan text: [-][d.]hh:mm:ss[.fffffff]
  uint64_t t = ticks < 0 ? 0 - static_cast<uint64_t>(ticks) : static_cast<uint64_t>(ticks);
  if (ticks < 0) out.push_back('-');
  uint64_t frac = t % 10'000'000, secs = t / 10'000'000;
  uint64_t days = secs / 86400;
  char buf[64];
  int n;
  if (days)
    n = std::snprintf(buf, sizeof buf, "%llu.%02llu:%02llu:%02llu", static_cast<unsigned long long>(days),
                      static_cast<unsigned long long>(secs / 3600 % 24), static_cast<unsigned long long>(secs / 60 % 60),
                      static_cast<unsigned long long>(secs % 60));
  else
    n = std::snprintf(buf, sizeof buf, "%02llu:%02llu:%02llu", static_cast<unsigned long long>(secs / 3600 % 24),
                      static_cast<unsigned long long>(secs / 60 % 60), static_cast<unsigned long long>(secs % 60));
  out.append(buf, static_cast<size_t>(n));
  if (frac) {
    n = std::snprintf(buf, sizeof buf, ".%07llu", static_cast<unsigned long long>(frac));
    out.append(buf, static_cast<size_t>(n));
  }
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

}  // namespace

void append_json(std::string& out, const column_data& c, size_t row) {
  if (c.is_null(row)) {
    out += "null";
    return;
  }
  char buf[32];
  switch (c.type) {
    case column_type::bool_: out += c.ints[row] ? "true" : "false"; return;
    case column_type::int_:
    case column_type::long_: {
      auto r = std::to_chars(buf, buf + sizeof buf, c.ints[row]);
      out.append(buf, r.ptr);
      return;
    }
    case column_type::real: {
      double v = c.reals[row];
      // JSON has no NaN or infinities: Kusto writes them as strings.
      if (std::isnan(v)) { out += "\"NaN\""; return; }
      if (std::isinf(v)) { out += v > 0 ? "\"Infinity\"" : "\"-Infinity\""; return; }
      auto r = std::to_chars(buf, buf + sizeof buf, v);
      std::string_view text(buf, static_cast<size_t>(r.ptr - buf));
      out += text;
      // Keep a real a real when the JSON is read back: 5.0, not 5.
      if (text.find_first_of(".eE") == std::string_view::npos) out += ".0";
      return;
    }
    case column_type::datetime:
      out.push_back('"');
      out += ingest::detail::format_datetime(c.ints[row]);
      out.push_back('"');
      return;
    case column_type::timespan:
      out.push_back('"');
      append_timespan(out, c.ints[row]);
      out.push_back('"');
      return;
    case column_type::decimal: {
      std::string_view d = c.text_at(row);
      if (d.empty()) out += "null"; else out += d;
      return;
    }
    case column_type::dynamic: {
      std::string_view d = c.text_at(row);
      if (d.empty()) out += "null"; else out += d;
      return;
    }
    case column_type::string:
    case column_type::guid: append_json_string(out, c.text_at(row)); return;
  }
}

// ---- dcount -------------------------------------------------------------------------------

namespace {

// Type tags of the hash: int and long (and bool) share one, so equal numbers count once.
constexpr uint64_t tag_integer = 1, tag_real = 2, tag_datetime = 3, tag_timespan = 4, tag_text = 5;

class dcount_aggregator final : public aggregator {
 public:
  dcount_aggregator(column_type type, int accuracy, int pred_arg) : type_(type), accuracy_(accuracy), pred_arg_(pred_arg) {}

  void resize(size_t groups) override {
    if (groups > counters_.size()) counters_.resize(groups, distinct_counter(accuracy_));
  }

  void update(const uint32_t* g, size_t rows, std::span<const column_data* const> args) override {
    const column_data& x = *args[0];
    const column_data* pred = pred_arg_ >= 0 ? args[static_cast<size_t>(pred_arg_)] : nullptr;
    const size_t s = stride(x);
    const uint8_t* nulls = x.nulls.data();
    if (in_ints(type_)) {
      const uint64_t tag = type_ == column_type::datetime ? tag_datetime
                           : type_ == column_type::timespan ? tag_timespan
                                                            : tag_integer;
      const int64_t* v = x.ints.data();
      each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
        if (!nulls[r * s]) counters_[grp].add(hash_u64(static_cast<uint64_t>(v[r * s]), tag));
      });
    } else if (type_ == column_type::real) {
      const double* v = x.reals.data();
      each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
        if (nulls[r * s]) return;
        double d = v[r * s];
        if (d == 0) d = 0;  // -0.0 and 0.0 are one value
        if (std::isnan(d)) d = NAN;
        counters_[grp].add(hash_u64(std::bit_cast<uint64_t>(d), tag_real));
      });
    } else {
      const uint64_t tag = tag_text + static_cast<uint64_t>(type_);
      each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
        if (nulls[r * s]) return;
        std::string_view t = x.text_at(r * s);
        counters_[grp].add(hash_bytes(t.data(), t.size(), tag));
      });
    }
  }

  void merge(const aggregator& other, std::span<const uint32_t> map) override {
    const auto& o = static_cast<const dcount_aggregator&>(other);
    for (size_t g = 0; g < map.size() && g < o.counters_.size(); ++g) counters_[map[g]].merge(o.counters_[g]);
  }

  void finish(std::span<column_data> out) const override {
    out[0].type = column_type::long_;
    for (const auto& c : counters_) out[0].append_int(static_cast<int64_t>(c.estimate()));
  }

  void save(size_t group, std::string& out) const override { counters_[group].save(out); }
  bool load(size_t group, std::string_view in) override {
    distinct_counter c(accuracy_);
    if (!c.load(in) || !in.empty()) return false;
    counters_[group] = std::move(c);
    return true;
  }

 private:
  column_type type_;
  int accuracy_;
  int pred_arg_;
  std::vector<distinct_counter> counters_;
};

// ---- percentiles ----------------------------------------------------------------------------

// Up to this many values a group keeps them all and answers exactly; past it, a t-digest.
constexpr size_t percentile_exact_limit = 4096;

template <class T>  // int64_t for int, long, datetime, timespan; double for real
class percentile_aggregator final : public aggregator {
 public:
  percentile_aggregator(column_type type, std::vector<double> percents) : type_(type), percents_(std::move(percents)) {}

  void resize(size_t groups) override {
    if (groups > groups_.size()) groups_.resize(groups);
  }

  void update(const uint32_t* g, size_t rows, std::span<const column_data* const> args) override {
    const column_data& x = *args[0];
    const size_t s = stride(x);
    const uint8_t* nulls = x.nulls.data();
    const T* v;
    if constexpr (std::is_same_v<T, double>) v = x.reals.data(); else v = x.ints.data();
    for (size_t r = 0; r < rows; ++r) {
      if (nulls[r * s]) continue;
      T value = v[r * s];
      if constexpr (std::is_same_v<T, double>)
        if (std::isnan(value)) continue;
      add(groups_[g[r]], value);
    }
  }

  void merge(const aggregator& other, std::span<const uint32_t> map) override {
    const auto& o = static_cast<const percentile_aggregator&>(other);
    for (size_t g = 0; g < map.size() && g < o.groups_.size(); ++g) {
      const state& from = o.groups_[g];
      state& to = groups_[map[g]];
      if (from.digest) {
        to_digest(to);
        to.digest->merge(*from.digest);
      } else {
        for (T v : from.exact) add(to, v);
      }
    }
  }

  void finish(std::span<column_data> out) const override {
    for (size_t i = 0; i < percents_.size(); ++i) out[i].type = type_;
    std::vector<T> sorted;
    for (const state& st : groups_) {
      if (st.digest) {
        for (size_t i = 0; i < percents_.size(); ++i) {
          double v = st.digest->percentile(percents_[i]);
          if constexpr (std::is_same_v<T, double>) out[i].append_real(v); else out[i].append_int(std::llround(v));
        }
        continue;
      }
      if (st.exact.empty()) {
        for (size_t i = 0; i < percents_.size(); ++i) out[i].append_null();
        continue;
      }
      sorted.assign(st.exact.begin(), st.exact.end());
      std::sort(sorted.begin(), sorted.end());
      const double n = static_cast<double>(sorted.size());
      for (size_t i = 0; i < percents_.size(); ++i) {
        // Nearest rank: the smallest value with at least p% of the values at or below it.
        double rank = std::clamp(std::ceil(percents_[i] * n / 100 - 1e-9), 1.0, n);
        T v = sorted[static_cast<size_t>(rank) - 1];
        if constexpr (std::is_same_v<T, double>) out[i].append_real(v); else out[i].append_int(v);
      }
    }
  }

  void save(size_t group, std::string& out) const override {
    const state& st = groups_[group];
    if (st.digest) {
      bytes::put_u8(out, 1);
      st.digest->save(out);
      return;
    }
    bytes::put_u8(out, 0);
    bytes::put_u32(out, static_cast<uint32_t>(st.exact.size()));
    for (T v : st.exact) {
      if constexpr (std::is_same_v<T, double>) bytes::put_f64(out, v); else bytes::put_i64(out, v);
    }
  }

  bool load(size_t group, std::string_view in) override {
    state st;
    uint8_t mode;
    if (!bytes::get_u8(in, mode)) return false;
    if (mode == 1) {
      st.digest = std::make_unique<tdigest>();
      if (!st.digest->load(in)) return false;
    } else if (mode == 0) {
      uint32_t n;
      if (!bytes::get_u32(in, n) || n > percentile_exact_limit || in.size() < size_t{n} * 8) return false;
      st.exact.resize(n);
      for (T& v : st.exact) {
        if constexpr (std::is_same_v<T, double>) bytes::get_f64(in, v); else bytes::get_i64(in, v);
      }
    } else {
      return false;
    }
    if (!in.empty()) return false;
    groups_[group] = std::move(st);
    return true;
  }

 private:
  struct state {
    std::vector<T> exact;
    std::unique_ptr<tdigest> digest;  // set once the group passed percentile_exact_limit values
  };

  static void to_digest(state& st) {
    if (st.digest) return;
    st.digest = std::make_unique<tdigest>();
    for (T v : st.exact) st.digest->add(static_cast<double>(v));
    std::vector<T>().swap(st.exact);
  }

  static void add(state& st, T v) {
    if (st.digest) return st.digest->add(static_cast<double>(v));
    st.exact.push_back(v);
    if (st.exact.size() > percentile_exact_limit) to_digest(st);
  }

  column_type type_;
  std::vector<double> percents_;
  std::vector<state> groups_;
};

// ---- make_list / make_set -------------------------------------------------------------------

struct text_hash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return hash_bytes(s.data(), s.size(), 0); }
};

class collect_aggregator final : public aggregator {
 public:
  collect_aggregator(int pred_arg, size_t max_size, bool set, bool with_nulls)
      : pred_arg_(pred_arg), max_(max_size), set_(set), with_nulls_(with_nulls) {}

  void resize(size_t groups) override {
    if (groups > groups_.size()) groups_.resize(groups);
  }

  void update(const uint32_t* g, size_t rows, std::span<const column_data* const> args) override {
    const column_data& x = *args[0];
    const column_data* pred = pred_arg_ >= 0 ? args[static_cast<size_t>(pred_arg_)] : nullptr;
    const size_t s = stride(x);
    each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
      if (x.is_null(r * s) && !with_nulls_) return;
      state& st = groups_[grp];
      if (st.count >= max_) return;
      scratch_.clear();
      append_json(scratch_, x, r * s);
      add(st, scratch_);
    });
  }

  void merge(const aggregator& other, std::span<const uint32_t> map) override {
    const auto& o = static_cast<const collect_aggregator&>(other);
    for (size_t g = 0; g < map.size() && g < o.groups_.size(); ++g) {
      state& to = groups_[map[g]];
      for_each_element(o.groups_[g], [&](std::string_view e) { if (to.count < max_) add(to, e); });
    }
  }

  void finish(std::span<column_data> out) const override {
    out[0].type = column_type::dynamic;
    std::string json;
    for (const state& st : groups_) {
      json.assign("[");
      json += st.elements;
      json += ']';
      out[0].append_text(json);
    }
  }

  void save(size_t group, std::string& out) const override {
    const state& st = groups_[group];
    bytes::put_u32(out, static_cast<uint32_t>(st.count));
    for_each_element(st, [&](std::string_view e) { bytes::put_str(out, e); });
  }

  bool load(size_t group, std::string_view in) override {
    state st;
    uint32_t n;
    if (!bytes::get_u32(in, n)) return false;
    for (uint32_t i = 0; i < n; ++i) {
      std::string_view e;
      if (!bytes::get_str(in, e)) return false;
      add(st, e);
    }
    if (!in.empty()) return false;
    groups_[group] = std::move(st);
    return true;
  }

 private:
  struct state {
    std::string elements;      // JSON values joined by ','
    std::vector<uint32_t> ends;  // end offset of each element in `elements`
    size_t count = 0;
    std::unordered_set<std::string, text_hash, std::equal_to<>> seen;  // make_set only
  };

  void add(state& st, std::string_view e) {
    if (set_) {
      if (st.seen.find(e) != st.seen.end()) return;
      st.seen.emplace(e);
    }
    if (st.count) st.elements.push_back(',');
    st.elements += e;
    st.ends.push_back(static_cast<uint32_t>(st.elements.size()));
    ++st.count;
  }

  template <class F>
  static void for_each_element(const state& st, F&& f) {
    size_t begin = 0;
    for (uint32_t end : st.ends) {
      f(std::string_view(st.elements).substr(begin, end - begin));
      begin = end + 1;
    }
  }

  int pred_arg_;
  size_t max_;
  bool set_, with_nulls_;
  std::vector<state> groups_;
  std::string scratch_;
};

}  // namespace

std::unique_ptr<aggregator> make_dcount(column_type type, int accuracy, int pred_arg) {
  return std::make_unique<dcount_aggregator>(type, accuracy, pred_arg);
}

std::unique_ptr<aggregator> make_percentiles(column_type type, std::vector<double> percents) {
  if (type == column_type::real) return std::make_unique<percentile_aggregator<double>>(type, std::move(percents));
  return std::make_unique<percentile_aggregator<int64_t>>(type, std::move(percents));
}

std::unique_ptr<aggregator> make_collect(int pred_arg, size_t max_size, bool set, bool with_nulls) {
  return std::make_unique<collect_aggregator>(pred_arg, max_size, set, with_nulls);
}

}  // namespace tributary::query::agg
