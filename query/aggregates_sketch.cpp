// dcount (HyperLogLog), percentile/percentiles (exact, then a t-digest) and
// make_list/make_set: the aggregates whose per-group state is a structure, not a number.

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <unordered_set>

#include "ingest/convert.hpp"
#include "query/aggregates_internal.hpp"
#include "query/functions_internal.hpp"
#include "query/hll.hpp"
#include "query/state_bytes.hpp"
#include "query/tdigest.hpp"

namespace tributary::query::agg {

using model::column_data;
using model::column_type;

void append_json(std::string& out, const column_data& c, size_t row) {
  // One rendering of values inside dynamic for the whole engine (functions.hpp).
  out += dynamic_text(c, row);
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
      // Every row's hash first, then the sets: the hashing loop runs without waiting on the
      // sets' memory, and a row equal to the one before it in the same group costs nothing.
      hashes_.resize(rows);
      for (size_t r = 0; r < rows; ++r) {
        const std::string_view t = x.text_at(r * s);
        hashes_[r] = hash_bytes(t.data(), t.size(), tag);
      }
      uint64_t last_hash = 0;
      uint32_t last_group = UINT32_MAX;
      each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
        if (nulls[r * s] || (grp == last_group && hashes_[r] == last_hash)) return;
        counters_[grp].add(hashes_[r]);
        last_hash = hashes_[r];
        last_group = grp;
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
  std::vector<uint64_t> hashes_;  // one chunk's, reused
};

// ---- percentiles ----------------------------------------------------------------------------

// Up to this many values a group keeps them all and answers exactly; past it, a t-digest.
constexpr size_t percentile_exact_limit = 4096;

// percentilew/percentilesw weigh each value by an integer weight (rows with a null or
// non-positive weight are skipped); percentiles_array answers all percents in one dynamic array.
template <class T>  // int64_t for int, long, datetime, timespan; double for real
class percentile_aggregator final : public aggregator {
 public:
  percentile_aggregator(column_type type, std::vector<double> percents, int weight_arg, bool as_array)
      : type_(type), percents_(std::move(percents)), weight_arg_(weight_arg), as_array_(as_array) {}

  void resize(size_t groups) override {
    if (groups > groups_.size()) groups_.resize(groups);
  }

  void update(const uint32_t* g, size_t rows, std::span<const column_data* const> args) override {
    const column_data& x = *args[0];
    const size_t s = stride(x);
    const uint8_t* nulls = x.nulls.data();
    const T* v;
    if constexpr (std::is_same_v<T, double>) v = x.reals.data(); else v = x.ints.data();
    const column_data* w = weight_arg_ >= 0 ? args[static_cast<size_t>(weight_arg_)] : nullptr;
    const size_t ws = w ? stride(*w) : 0;
    for (size_t r = 0; r < rows; ++r) {
      if (nulls[r * s]) continue;
      T value = v[r * s];
      if constexpr (std::is_same_v<T, double>)
        if (std::isnan(value)) continue;
      int64_t weight = 1;
      if (w) {
        if (w->is_null(r * ws) || w->ints[r * ws] <= 0) continue;
        weight = w->ints[r * ws];
      }
      add(groups_[g[r]], value, weight);
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
        for (size_t i = 0; i < from.exact.size(); ++i) add(to, from.exact[i], from.weight_at(i));
      }
    }
  }

  void finish(std::span<column_data> out) const override {
    if (as_array_)
      out[0].type = column_type::dynamic;
    else
      for (size_t i = 0; i < percents_.size(); ++i) out[i].type = type_;
    std::vector<std::pair<T, int64_t>> sorted;
    std::vector<double> values(percents_.size());
    for (const state& st : groups_) {
      const bool empty = !st.digest && st.exact.empty();
      if (st.digest) {
        for (size_t i = 0; i < percents_.size(); ++i) values[i] = st.digest->percentile(percents_[i]);
      } else if (!empty) {
        sorted.clear();
        for (size_t i = 0; i < st.exact.size(); ++i) sorted.emplace_back(st.exact[i], st.weight_at(i));
        std::sort(sorted.begin(), sorted.end());
        double total = 0;
        for (const auto& e : sorted) total += static_cast<double>(e.second);
        for (size_t i = 0; i < percents_.size(); ++i) {
          // Nearest rank: the smallest value with at least p% of the weight at or below it.
          const double rank = std::clamp(std::ceil(percents_[i] * total / 100 - 1e-9), 1.0, total);
          double seen = 0;
          size_t k = 0;
          while (k + 1 < sorted.size() && seen + static_cast<double>(sorted[k].second) < rank)
            seen += static_cast<double>(sorted[k++].second);
          values[i] = static_cast<double>(sorted[k].first);
          if constexpr (std::is_same_v<T, int64_t>) exact_ints_[i] = sorted[k].first;
        }
      }
      if (as_array_) {
        if (empty) {
          out[0].append_null();
          continue;
        }
        std::string json = "[";
        for (size_t i = 0; i < percents_.size(); ++i) {
          column_data one;
          one.type = type_;
          append_value(one, values[i], i, st.digest != nullptr);
          if (i) json += ',';
          json += dynamic_text(one, 0);
        }
        json += ']';
        out[0].append_text(json);
        continue;
      }
      for (size_t i = 0; i < percents_.size(); ++i) {
        if (empty)
          out[i].append_null();
        else
          append_value(out[i], values[i], i, st.digest != nullptr);
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
    for (size_t i = 0; i < st.exact.size(); ++i) {
      if constexpr (std::is_same_v<T, double>) bytes::put_f64(out, st.exact[i]); else bytes::put_i64(out, st.exact[i]);
      if (weight_arg_ >= 0) bytes::put_i64(out, st.weights[i]);
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
      const size_t entry = weight_arg_ >= 0 ? 16 : 8;
      if (!bytes::get_u32(in, n) || n > percentile_exact_limit + 1 || in.size() < size_t{n} * entry) return false;
      st.exact.resize(n);
      if (weight_arg_ >= 0) st.weights.resize(n);
      for (size_t i = 0; i < n; ++i) {
        if constexpr (std::is_same_v<T, double>) bytes::get_f64(in, st.exact[i]); else bytes::get_i64(in, st.exact[i]);
        if (weight_arg_ >= 0 && (!bytes::get_i64(in, st.weights[i]) || st.weights[i] <= 0)) return false;
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
    std::vector<int64_t> weights;     // weighted forms only, one per exact value
    std::unique_ptr<tdigest> digest;  // set once the group passed percentile_exact_limit values
    int64_t weight_at(size_t i) const { return weights.empty() ? 1 : weights[i]; }
  };

  // An exact answer is a member of the values (kept exactly for longs); a digest's is rounded.
  void append_value(column_data& out, double v, size_t i, bool from_digest) const {
    if constexpr (std::is_same_v<T, double>) {
      out.append_real(v);
    } else {
      out.append_int(from_digest ? std::llround(v) : exact_ints_[i]);
    }
  }

  static void to_digest(state& st) {
    if (st.digest) return;
    st.digest = std::make_unique<tdigest>();
    for (size_t i = 0; i < st.exact.size(); ++i)
      st.digest->add(static_cast<double>(st.exact[i]), static_cast<double>(st.weight_at(i)));
    std::vector<T>().swap(st.exact);
    std::vector<int64_t>().swap(st.weights);
  }

  void add(state& st, T v, int64_t weight) const {
    if (st.digest) return st.digest->add(static_cast<double>(v), static_cast<double>(weight));
    st.exact.push_back(v);
    if (weight_arg_ >= 0) st.weights.push_back(weight);
    if (st.exact.size() > percentile_exact_limit) to_digest(st);
  }

  column_type type_;
  std::vector<double> percents_;
  int weight_arg_;
  bool as_array_;
  std::vector<state> groups_;
  mutable std::vector<int64_t> exact_ints_ = std::vector<int64_t>(percents_.size());
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
      json.clear();
      json.push_back('[');
      json.append(st.elements);
      json.push_back(']');
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

// ---- count_distinct -------------------------------------------------------------------------

// Exact: every distinct value of a group is kept, as bytes (a fixed-width value's 8 bytes, a
// text's own bytes), so memory grows with the number of distinct values. Nulls do not count.
class count_distinct_aggregator final : public aggregator {
 public:
  explicit count_distinct_aggregator(int pred_arg) : pred_arg_(pred_arg) {}
  void resize(size_t groups) override {
    if (groups > groups_.size()) groups_.resize(groups);
  }
  void update(const uint32_t* g, size_t rows, std::span<const column_data* const> args) override {
    const column_data& x = *args[0];
    const column_data* pred = pred_arg_ >= 0 ? args[static_cast<size_t>(pred_arg_)] : nullptr;
    const size_t s = stride(x);
    each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
      const size_t row = r * s;
      if (x.is_null(row)) return;
      if (in_ints(x.type)) {
        groups_[grp].emplace(reinterpret_cast<const char*>(&x.ints[row]), sizeof(int64_t));
      } else if (x.type == column_type::real) {
        double d = x.reals[row];
        if (d == 0) d = 0;  // -0.0 and 0.0 are one value
        if (std::isnan(d)) d = NAN;
        groups_[grp].emplace(reinterpret_cast<const char*>(&d), sizeof d);
      } else {
        groups_[grp].emplace(x.text_at(row));
      }
    });
  }
  void merge(const aggregator& other, std::span<const uint32_t> map) override {
    const auto& o = static_cast<const count_distinct_aggregator&>(other);
    for (size_t g = 0; g < map.size() && g < o.groups_.size(); ++g)
      groups_[map[g]].insert(o.groups_[g].begin(), o.groups_[g].end());
  }
  void finish(std::span<column_data> out) const override {
    out[0].type = column_type::long_;
    for (const auto& set : groups_) out[0].append_int(static_cast<int64_t>(set.size()));
  }
  void save(size_t group, std::string& out) const override {
    bytes::put_u32(out, static_cast<uint32_t>(groups_[group].size()));
    for (const auto& v : groups_[group]) bytes::put_str(out, v);
  }
  bool load(size_t group, std::string_view in) override {
    uint32_t n;
    if (!bytes::get_u32(in, n)) return false;
    std::unordered_set<std::string> set;
    for (uint32_t i = 0; i < n; ++i) {
      std::string_view v;
      if (!bytes::get_str(in, v)) return false;
      set.emplace(v);
    }
    if (!in.empty()) return false;
    groups_[group] = std::move(set);
    return true;
  }

 private:
  int pred_arg_;
  std::vector<std::unordered_set<std::string>> groups_;
};

// ---- make_bag ---------------------------------------------------------------------------------

// The union of a group's property bags; when a key repeats, the first value seen wins (Kusto
// picks an arbitrary one). Values that are not bags are ignored. State: the "key":value pairs
// as JSON text in the order first seen, and the keys taken.
class bag_aggregator final : public aggregator {
 public:
  bag_aggregator(int pred_arg, size_t max_keys) : pred_arg_(pred_arg), max_(max_keys) {}
  void resize(size_t groups) override {
    if (groups > groups_.size()) groups_.resize(groups);
  }
  void update(const uint32_t* g, size_t rows, std::span<const column_data* const> args) override {
    const column_data& x = *args[0];
    const column_data* pred = pred_arg_ >= 0 ? args[static_cast<size_t>(pred_arg_)] : nullptr;
    const size_t s = stride(x);
    each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
      if (x.is_null(r * s)) return;
      std::string_view text = x.text_at(r * s);
      if (text.empty() || text.front() != '{') return;
      auto j = detail::parse_json_text(text);
      if (!j.is_object()) return;
      for (auto it = j.begin(); it != j.end(); ++it) add(groups_[grp], it.key(), detail::dump_json(it.value()));
    });
  }
  void merge(const aggregator& other, std::span<const uint32_t> map) override {
    const auto& o = static_cast<const bag_aggregator&>(other);
    for (size_t g = 0; g < map.size() && g < o.groups_.size(); ++g)
      for (const auto& [k, v] : o.groups_[g].pairs) add(groups_[map[g]], k, v);
  }
  void finish(std::span<column_data> out) const override {
    out[0].type = column_type::dynamic;
    std::string json;
    for (const state& st : groups_) {
      json.clear();
      json.push_back('{');
      bool first = true;
      for (const auto& [k, v] : st.pairs) {
        if (!first) json.push_back(',');
        first = false;
        detail::append_json_quoted(k, json);
        json.push_back(':');
        json.append(v);
      }
      json.push_back('}');
      out[0].append_text(json);
    }
  }
  void save(size_t group, std::string& out) const override {
    const state& st = groups_[group];
    bytes::put_u32(out, static_cast<uint32_t>(st.pairs.size()));
    for (const auto& [k, v] : st.pairs) {
      bytes::put_str(out, k);
      bytes::put_str(out, v);
    }
  }
  bool load(size_t group, std::string_view in) override {
    uint32_t n;
    if (!bytes::get_u32(in, n)) return false;
    state st;
    for (uint32_t i = 0; i < n; ++i) {
      std::string_view k, v;
      if (!bytes::get_str(in, k) || !bytes::get_str(in, v)) return false;
      add(st, std::string(k), std::string(v));
    }
    if (!in.empty()) return false;
    groups_[group] = std::move(st);
    return true;
  }

 private:
  struct state {
    std::vector<std::pair<std::string, std::string>> pairs;
    std::unordered_set<std::string> keys;
  };
  void add(state& st, const std::string& key, std::string value) const {
    if (st.pairs.size() >= max_ || !st.keys.insert(key).second) return;
    st.pairs.emplace_back(key, std::move(value));
  }

  int pred_arg_;
  size_t max_;
  std::vector<state> groups_;
};

}  // namespace

std::unique_ptr<aggregator> make_dcount(column_type type, int accuracy, int pred_arg) {
  return std::make_unique<dcount_aggregator>(type, accuracy, pred_arg);
}

std::unique_ptr<aggregator> make_percentiles(column_type type, std::vector<double> percents, int weight_arg,
                                             bool as_array) {
  if (type == column_type::real)
    return std::make_unique<percentile_aggregator<double>>(type, std::move(percents), weight_arg, as_array);
  return std::make_unique<percentile_aggregator<int64_t>>(type, std::move(percents), weight_arg, as_array);
}

std::unique_ptr<aggregator> make_count_distinct(int pred_arg) {
  return std::make_unique<count_distinct_aggregator>(pred_arg);
}

std::unique_ptr<aggregator> make_bag(int pred_arg, size_t max_keys) {
  return std::make_unique<bag_aggregator>(pred_arg, max_keys);
}

std::unique_ptr<aggregator> make_collect(int pred_arg, size_t max_size, bool set, bool with_nulls) {
  return std::make_unique<collect_aggregator>(pred_arg, max_size, set, with_nulls);
}

}  // namespace tributary::query::agg
