// The aggregate registry (binding: argument checks, Kusto's output names and types) and the
// aggregates whose per-group state is a few numbers or one row's cells: count, sum, avg,
// min/max, arg_max/arg_min, take_any/any, variance/stdev. dcount, percentiles and
// make_list/make_set live in aggregates_sketch.cpp.
//
// Every aggregator's update is one typed loop over the chunk (the type is switched on once per
// chunk, outside the loop); numeric states are flat vectors indexed by group.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "query/aggregates.hpp"
#include "query/aggregates_internal.hpp"
#include "query/state_bytes.hpp"

namespace tributary::query {

using model::column_data;
using model::column_type;

namespace agg {
namespace {

__extension__ typedef __int128 int128;
__extension__ typedef unsigned __int128 uint128;

// ---- one cell per group: min/max's value, arg_max's row, take_any's row --------------------

// Decimals are kept as text and compared as numbers.
long double decimal_value(std::string_view s) {
  char buf[64];
  size_t n = std::min(s.size(), sizeof buf - 1);
  std::copy_n(s.data(), n, buf);
  buf[n] = 0;
  return std::strtold(buf, nullptr);
}

/// A typed value per group; unset reads as null (strings as "").
struct cell_store {
  column_type type = column_type::long_;
  std::vector<uint8_t> set;
  std::vector<int64_t> ints;
  std::vector<double> reals;
  std::vector<std::string> texts;

  void resize(size_t n) {
    set.resize(n);
    if (in_ints(type)) ints.resize(n);
    else if (type == column_type::real) reals.resize(n);
    else texts.resize(n);
  }
  void copy(size_t g, const column_data& c, size_t row) {
    set[g] = !c.is_null(row);
    if (in_ints(type)) ints[g] = c.ints[row];
    else if (type == column_type::real) reals[g] = c.reals[row];
    else texts[g].assign(c.text_at(row));
  }
  void copy(size_t g, const cell_store& o, size_t og) {
    set[g] = o.set[og];
    if (in_ints(type)) ints[g] = o.ints[og];
    else if (type == column_type::real) reals[g] = o.reals[og];
    else texts[g] = o.texts[og];
  }
  void append(column_data& out, size_t g) const {
    if (in_text(type)) {
      // Strings are never null in Kusto; other text types are.
      if (!set[g] && type != column_type::string) out.append_null();
      else out.append_text(set[g] ? std::string_view(texts[g]) : std::string_view());
    } else if (!set[g]) {
      out.append_null();
    } else if (type == column_type::real) {
      out.append_real(reals[g]);
    } else {
      out.append_int(ints[g]);
    }
  }
  void save(size_t g, std::string& out) const {
    bytes::put_u8(out, set[g]);
    if (!set[g]) return;
    if (in_ints(type)) bytes::put_i64(out, ints[g]);
    else if (type == column_type::real) bytes::put_f64(out, reals[g]);
    else bytes::put_str(out, texts[g]);
  }
  bool load(size_t g, std::string_view& in) {
    uint8_t s;
    if (!bytes::get_u8(in, s) || s > 1) return false;
    set[g] = s;
    if (!s) return true;
    if (in_ints(type)) return bytes::get_i64(in, ints[g]);
    if (type == column_type::real) return bytes::get_f64(in, reals[g]);
    std::string_view t;
    if (!bytes::get_str(in, t)) return false;
    texts[g].assign(t);
    return true;
  }
};

// Kusto's min/max/arg_max skip nulls, NaN and (for strings, whose null is "") empty text.
inline bool skip_value(const column_data& c, size_t row) {
  if (c.is_null(row)) return true;
  if (c.type == column_type::real) return std::isnan(c.reals[row]);
  if (in_text(c.type)) return c.offsets[row] == c.offsets[row + 1];
  return false;
}

/// Is `c`'s row better than group g's cell (want_max: greater; else: smaller)? Unset loses.
inline bool better(const cell_store& best, size_t g, const column_data& c, size_t row, bool want_max) {
  if (!best.set[g]) return true;
  if (in_ints(c.type)) return want_max ? c.ints[row] > best.ints[g] : c.ints[row] < best.ints[g];
  if (c.type == column_type::real) return want_max ? c.reals[row] > best.reals[g] : c.reals[row] < best.reals[g];
  if (c.type == column_type::decimal) {
    long double a = decimal_value(c.text_at(row)), b = decimal_value(best.texts[g]);
    return want_max ? a > b : a < b;
  }
  int cmp = c.text_at(row).compare(best.texts[g]);
  return want_max ? cmp > 0 : cmp < 0;
}

inline bool better_cell(const cell_store& best, size_t g, const cell_store& o, size_t og, bool want_max) {
  if (!o.set[og]) return false;
  if (!best.set[g]) return true;
  auto t = best.type;
  if (in_ints(t)) return want_max ? o.ints[og] > best.ints[g] : o.ints[og] < best.ints[g];
  if (t == column_type::real) return want_max ? o.reals[og] > best.reals[g] : o.reals[og] < best.reals[g];
  if (t == column_type::decimal) {
    long double a = decimal_value(o.texts[og]), b = decimal_value(best.texts[g]);
    return want_max ? a > b : a < b;
  }
  int cmp = o.texts[og].compare(best.texts[g]);
  return want_max ? cmp > 0 : cmp < 0;
}

// ---- count / countif ----------------------------------------------------------------------

class count_aggregator final : public aggregator {
 public:
  explicit count_aggregator(int pred_arg) : pred_arg_(pred_arg) {}
  void resize(size_t groups) override {
    if (groups > n_.size()) n_.resize(groups);
  }
  void update(const uint32_t* g, size_t rows, std::span<const column_data* const> args) override {
    const column_data* pred = pred_arg_ >= 0 ? args[static_cast<size_t>(pred_arg_)] : nullptr;
    int64_t* n = n_.data();
    each_row(g, rows, pred, [n](uint32_t grp, size_t) { ++n[grp]; });
  }
  void merge(const aggregator& other, std::span<const uint32_t> map) override {
    const auto& o = static_cast<const count_aggregator&>(other);
    for (size_t g = 0; g < map.size() && g < o.n_.size(); ++g) n_[map[g]] += o.n_[g];
  }
  void finish(std::span<column_data> out) const override {
    out[0].type = column_type::long_;
    for (int64_t v : n_) out[0].append_int(v);
  }
  void save(size_t g, std::string& out) const override { bytes::put_i64(out, n_[g]); }
  bool load(size_t g, std::string_view in) override { return bytes::get_i64(in, n_[g]) && in.empty(); }

 private:
  int pred_arg_;
  std::vector<int64_t> n_;
};

// ---- sum / sumif --------------------------------------------------------------------------

class sum_aggregator final : public aggregator {
 public:
  sum_aggregator(column_type out, int pred_arg) : out_(out), pred_arg_(pred_arg) {}
  void resize(size_t groups) override {
    if (groups > ints_.size()) ints_.resize(groups), reals_.resize(groups);
  }
  void update(const uint32_t* g, size_t rows, std::span<const column_data* const> args) override {
    const column_data& x = *args[0];
    const column_data* pred = pred_arg_ >= 0 ? args[static_cast<size_t>(pred_arg_)] : nullptr;
    const size_t s = stride(x);
    const uint8_t* nulls = x.nulls.data();
    if (x.type == column_type::real) {
      const double* v = x.reals.data();
      double* sum = reals_.data();
      each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
        if (!nulls[r * s]) sum[grp] += v[r * s];
      });
    } else {
      // Wraps on overflow like .NET's unchecked long arithmetic (unsigned: no UB).
      const int64_t* v = x.ints.data();
      int64_t* sum = ints_.data();
      each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
        if (!nulls[r * s])
          sum[grp] = static_cast<int64_t>(static_cast<uint64_t>(sum[grp]) + static_cast<uint64_t>(v[r * s]));
      });
    }
  }
  void merge(const aggregator& other, std::span<const uint32_t> map) override {
    const auto& o = static_cast<const sum_aggregator&>(other);
    for (size_t g = 0; g < map.size() && g < o.ints_.size(); ++g) {
      ints_[map[g]] = static_cast<int64_t>(static_cast<uint64_t>(ints_[map[g]]) + static_cast<uint64_t>(o.ints_[g]));
      reals_[map[g]] += o.reals_[g];
    }
  }
  void finish(std::span<column_data> out) const override {
    out[0].type = out_;
    for (size_t g = 0; g < ints_.size(); ++g) {
      if (out_ == column_type::real) out[0].append_real(reals_[g]);
      else out[0].append_int(ints_[g]);
    }
  }
  void save(size_t g, std::string& out) const override {
    if (out_ == column_type::real) bytes::put_f64(out, reals_[g]);
    else bytes::put_i64(out, ints_[g]);
  }
  bool load(size_t g, std::string_view in) override {
    bool ok = out_ == column_type::real ? bytes::get_f64(in, reals_[g]) : bytes::get_i64(in, ints_[g]);
    return ok && in.empty();
  }

 private:
  column_type out_;
  int pred_arg_;
  std::vector<int64_t> ints_;
  std::vector<double> reals_;
};

// ---- avg / avgif --------------------------------------------------------------------------

class avg_aggregator final : public aggregator {
 public:
  avg_aggregator(column_type in, int pred_arg) : in_(in), pred_arg_(pred_arg) {}
  void resize(size_t groups) override {
    if (groups > n_.size()) n_.resize(groups), isum_.resize(groups), rsum_.resize(groups);
  }
  void update(const uint32_t* g, size_t rows, std::span<const column_data* const> args) override {
    const column_data& x = *args[0];
    const column_data* pred = pred_arg_ >= 0 ? args[static_cast<size_t>(pred_arg_)] : nullptr;
    const size_t s = stride(x);
    const uint8_t* nulls = x.nulls.data();
    int64_t* n = n_.data();
    if (x.type == column_type::real) {
      const double* v = x.reals.data();
      double* sum = rsum_.data();
      each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
        if (nulls[r * s]) return;
        sum[grp] += v[r * s];
        ++n[grp];
      });
    } else {
      // 128-bit sums: a million datetimes (~6e17 ticks each) overflow 64 bits.
      const int64_t* v = x.ints.data();
      int128* sum = isum_.data();
      each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
        if (nulls[r * s]) return;
        sum[grp] += v[r * s];
        ++n[grp];
      });
    }
  }
  void merge(const aggregator& other, std::span<const uint32_t> map) override {
    const auto& o = static_cast<const avg_aggregator&>(other);
    for (size_t g = 0; g < map.size() && g < o.n_.size(); ++g) {
      n_[map[g]] += o.n_[g];
      isum_[map[g]] += o.isum_[g];
      rsum_[map[g]] += o.rsum_[g];
    }
  }
  void finish(std::span<column_data> out) const override {
    column_data& c = out[0];
    const bool ticks = in_ == column_type::datetime || in_ == column_type::timespan;
    c.type = ticks ? in_ : column_type::real;
    for (size_t g = 0; g < n_.size(); ++g) {
      if (ticks) {
        if (n_[g] == 0) c.append_null();
        else c.append_int(static_cast<int64_t>(isum_[g] / n_[g]));
      } else if (n_[g] == 0) {
        c.append_real(NAN);  // Kusto: avg of nothing is NaN (kql.md §2.5)
      } else if (in_ == column_type::real) {
        c.append_real(rsum_[g] / static_cast<double>(n_[g]));
      } else {
        c.append_real(static_cast<double>(isum_[g]) / static_cast<double>(n_[g]));
      }
    }
  }
  void save(size_t g, std::string& out) const override {
    bytes::put_i64(out, n_[g]);
    bytes::put_u64(out, static_cast<uint64_t>(isum_[g]));
    bytes::put_u64(out, static_cast<uint64_t>(static_cast<uint128>(isum_[g]) >> 64));
    bytes::put_f64(out, rsum_[g]);
  }
  bool load(size_t g, std::string_view in) override {
    uint64_t lo, hi;
    if (!bytes::get_i64(in, n_[g]) || !bytes::get_u64(in, lo) || !bytes::get_u64(in, hi) ||
        !bytes::get_f64(in, rsum_[g]) || !in.empty())
      return false;
    isum_[g] = static_cast<int128>((static_cast<uint128>(hi) << 64) | lo);
    return true;
  }

 private:
  column_type in_;
  int pred_arg_;
  std::vector<int64_t> n_;
  std::vector<int128> isum_;
  std::vector<double> rsum_;
};

// ---- min / max / minif / maxif ------------------------------------------------------------

class minmax_aggregator final : public aggregator {
 public:
  minmax_aggregator(column_type type, bool want_max, int pred_arg) : want_max_(want_max), pred_arg_(pred_arg) {
    best_.type = type;
  }
  void resize(size_t groups) override {
    if (groups > best_.set.size()) best_.resize(groups);
  }
  void update(const uint32_t* g, size_t rows, std::span<const column_data* const> args) override {
    const column_data& x = *args[0];
    const column_data* pred = pred_arg_ >= 0 ? args[static_cast<size_t>(pred_arg_)] : nullptr;
    const size_t s = stride(x);
    const uint8_t* nulls = x.nulls.data();
    uint8_t* set = best_.set.data();
    if (in_ints(x.type)) {
      const int64_t* v = x.ints.data();
      int64_t* best = best_.ints.data();
      if (want_max_)
        each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
          if (!nulls[r * s] && (!set[grp] || v[r * s] > best[grp])) best[grp] = v[r * s], set[grp] = 1;
        });
      else
        each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
          if (!nulls[r * s] && (!set[grp] || v[r * s] < best[grp])) best[grp] = v[r * s], set[grp] = 1;
        });
    } else if (x.type == column_type::real) {
      const double* v = x.reals.data();
      double* best = best_.reals.data();
      // NaN compares false both ways, so `!(v <= best)` would take it: test NaN apart.
      if (want_max_)
        each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
          double d = v[r * s];
          if (!nulls[r * s] && !std::isnan(d) && (!set[grp] || d > best[grp])) best[grp] = d, set[grp] = 1;
        });
      else
        each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
          double d = v[r * s];
          if (!nulls[r * s] && !std::isnan(d) && (!set[grp] || d < best[grp])) best[grp] = d, set[grp] = 1;
        });
    } else {
      each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
        if (!skip_value(x, r * s) && better(best_, grp, x, r * s, want_max_)) best_.copy(grp, x, r * s);
      });
    }
  }
  void merge(const aggregator& other, std::span<const uint32_t> map) override {
    const auto& o = static_cast<const minmax_aggregator&>(other);
    for (size_t g = 0; g < map.size() && g < o.best_.set.size(); ++g)
      if (better_cell(best_, map[g], o.best_, g, want_max_)) best_.copy(map[g], o.best_, g);
  }
  void finish(std::span<column_data> out) const override {
    out[0].type = best_.type;
    for (size_t g = 0; g < best_.set.size(); ++g) best_.append(out[0], g);
  }
  void save(size_t g, std::string& out) const override { best_.save(g, out); }
  bool load(size_t g, std::string_view in) override { return best_.load(g, in) && in.empty(); }

 private:
  cell_store best_;
  bool want_max_;
  int pred_arg_;
};

// ---- arg_max / arg_min ----------------------------------------------------------------------

// State: the best x per group and the cells of the row it came from (args 1..n). A group whose
// x is null (or NaN, or "") in every row still answers a row, the first one seen, with x null:
// the arg_max doc's Banana row (every Version null) keeps Yellow. `taken_` marks a group that
// has a row; a row with a value always beats one without.
// The state arg_max/arg_min and take_any share: per group, whether a row was taken, and that
// row's cells (one per output column).
class row_cells_aggregator : public aggregator {
 public:
  explicit row_cells_aggregator(const std::vector<column_type>& types) {
    cells_.resize(types.size());
    for (size_t i = 0; i < types.size(); ++i) cells_[i].type = types[i];
  }
  void resize(size_t groups) override {
    if (groups > taken_.size()) {
      taken_.resize(groups);
      for (auto& c : cells_) c.resize(groups);
    }
  }
  void finish(std::span<column_data> out) const override {
    for (size_t i = 0; i < cells_.size(); ++i) {
      out[i].type = cells_[i].type;
      for (size_t g = 0; g < taken_.size(); ++g) cells_[i].append(out[i], g);
    }
  }
  void save(size_t g, std::string& out) const override {
    bytes::put_u8(out, taken_[g]);
    if (taken_[g])
      for (const auto& c : cells_) c.save(g, out);
  }
  bool load(size_t g, std::string_view in) override {
    uint8_t t;
    if (!bytes::get_u8(in, t) || t > 1) return false;
    taken_[g] = t;
    if (t)
      for (auto& c : cells_)
        if (!c.load(g, in)) return false;
    return in.empty();
  }

 protected:
  // Takes `other`'s group g's row into group `to`.
  void take_from(const row_cells_aggregator& other, size_t g, size_t to) {
    taken_[to] = 1;
    for (size_t i = 0; i < cells_.size(); ++i) cells_[i].copy(to, other.cells_[i], g);
  }
  std::vector<uint8_t> taken_;
  std::vector<cell_store> cells_;
};

class arg_aggregator final : public row_cells_aggregator {
 public:
  arg_aggregator(const std::vector<column_type>& types, bool want_max)
      : row_cells_aggregator(types), want_max_(want_max) {}
  void update(const uint32_t* g, size_t rows, std::span<const column_data* const> args) override {
    const column_data& x = *args[0];
    const size_t s = stride(x);
    cell_store& best = cells_[0];
    auto take = [&](uint32_t grp, size_t r) {
      taken_[grp] = 1;
      best.copy(grp, x, r * s);
      for (size_t i = 1; i < cells_.size(); ++i) cells_[i].copy(grp, *args[i], r * stride(*args[i]));
    };
    if (in_ints(x.type)) {
      const uint8_t* nulls = x.nulls.data();
      const int64_t* v = x.ints.data();
      for (size_t r = 0; r < rows; ++r) {
        uint32_t grp = g[r];
        if (nulls[r * s]) {
          if (!taken_[grp]) take(grp, r);
          continue;
        }
        if (!best.set[grp] || (want_max_ ? v[r * s] > best.ints[grp] : v[r * s] < best.ints[grp])) take(grp, r);
      }
    } else {
      for (size_t r = 0; r < rows; ++r) {
        if (!skip_value(x, r * s)) {
          if (better(best, g[r], x, r * s, want_max_)) take(g[r], r);
        } else if (!taken_[g[r]]) {
          take(g[r], r);
        }
      }
    }
  }
  void merge(const aggregator& other, std::span<const uint32_t> map) override {
    const auto& o = static_cast<const arg_aggregator&>(other);
    for (size_t g = 0; g < map.size() && g < o.taken_.size(); ++g) {
      if (!o.taken_[g]) continue;
      if (!taken_[map[g]] || better_cell(cells_[0], map[g], o.cells_[0], g, want_max_)) take_from(o, g, map[g]);
    }
  }

 private:
  bool want_max_;
};

// ---- take_any / any -------------------------------------------------------------------------

// One argument: the first non-null value seen. Several: the cells of the first row seen.
class any_aggregator final : public row_cells_aggregator {
 public:
  // pred_arg >= 0: take_anyif's predicate, the argument after the value.
  any_aggregator(const std::vector<column_type>& types, int pred_arg)
      : row_cells_aggregator(types), pred_arg_(pred_arg) {}
  void update(const uint32_t* g, size_t rows, std::span<const column_data* const> args) override {
    const bool single = cells_.size() == 1;
    const column_data* pred = pred_arg_ >= 0 ? args[static_cast<size_t>(pred_arg_)] : nullptr;
    each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
      if (taken_[grp]) return;
      if (single && skip_value(*args[0], r * stride(*args[0]))) return;
      taken_[grp] = 1;
      for (size_t i = 0; i < cells_.size(); ++i) cells_[i].copy(grp, *args[i], r * stride(*args[i]));
    });
  }
  void merge(const aggregator& other, std::span<const uint32_t> map) override {
    const auto& o = static_cast<const any_aggregator&>(other);
    for (size_t g = 0; g < map.size() && g < o.taken_.size(); ++g)
      if (!taken_[map[g]] && o.taken_[g]) take_from(o, g, map[g]);
  }

 private:
  int pred_arg_;
};

// ---- binary_all_or / binary_all_and / binary_all_xor ---------------------------------------

// The bitwise or/and/xor of a group's non-null values; null when there are none.
class binary_all_aggregator final : public aggregator {
 public:
  binary_all_aggregator(column_type type, char op) : op_(op), type_(type) {}
  void resize(size_t groups) override {
    if (groups > acc_.size()) {
      acc_.resize(groups);
      set_.resize(groups);
    }
  }
  void update(const uint32_t* g, size_t rows, std::span<const column_data* const> args) override {
    const column_data& x = *args[0];
    const size_t s = stride(x);
    for (size_t r = 0; r < rows; ++r)
      if (!x.is_null(r * s)) add(g[r], x.ints[r * s]);
  }
  void merge(const aggregator& other, std::span<const uint32_t> map) override {
    const auto& o = static_cast<const binary_all_aggregator&>(other);
    for (size_t g = 0; g < map.size() && g < o.acc_.size(); ++g)
      if (o.set_[g]) add(map[g], o.acc_[g]);
  }
  void finish(std::span<column_data> out) const override {
    out[0].type = type_;
    for (size_t g = 0; g < acc_.size(); ++g) {
      if (set_[g])
        out[0].append_int(acc_[g]);
      else
        out[0].append_null();
    }
  }
  void save(size_t g, std::string& out) const override {
    bytes::put_u8(out, set_[g]);
    if (set_[g]) bytes::put_i64(out, acc_[g]);
  }
  bool load(size_t g, std::string_view in) override {
    uint8_t s;
    if (!bytes::get_u8(in, s) || s > 1) return false;
    set_[g] = s;
    if (s && !bytes::get_i64(in, acc_[g])) return false;
    return in.empty();
  }

 private:
  void add(size_t g, int64_t v) {
    if (!set_[g]) {
      acc_[g] = v;
      set_[g] = 1;
      return;
    }
    acc_[g] = op_ == '|' ? (acc_[g] | v) : op_ == '&' ? (acc_[g] & v) : (acc_[g] ^ v);
  }
  char op_;
  column_type type_;
  std::vector<int64_t> acc_;
  std::vector<uint8_t> set_;
};

// ---- variance / stdev (sample and population) ----------------------------------------------

// Welford's running mean and sum of squared deviations; shards combine by Chan et al.'s rule.
class variance_aggregator final : public aggregator {
 public:
  variance_aggregator(bool population, bool root, int pred_arg) : population_(population), root_(root), pred_arg_(pred_arg) {}
  void resize(size_t groups) override {
    if (groups > st_.size()) st_.resize(groups);
  }
  void update(const uint32_t* g, size_t rows, std::span<const column_data* const> args) override {
    const column_data& x = *args[0];
    const column_data* pred = pred_arg_ >= 0 ? args[static_cast<size_t>(pred_arg_)] : nullptr;
    const size_t s = stride(x);
    const uint8_t* nulls = x.nulls.data();
    state* st = st_.data();
    auto add = [st](uint32_t grp, double v) {
      state& a = st[grp];
      a.n += 1;
      double d = v - a.mean;
      a.mean += d / a.n;
      a.m2 += d * (v - a.mean);
    };
    if (x.type == column_type::real) {
      const double* v = x.reals.data();
      each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
        if (!nulls[r * s]) add(grp, v[r * s]);
      });
    } else {
      const int64_t* v = x.ints.data();
      each_row(g, rows, pred, [&](uint32_t grp, size_t r) {
        if (!nulls[r * s]) add(grp, static_cast<double>(v[r * s]));
      });
    }
  }
  void merge(const aggregator& other, std::span<const uint32_t> map) override {
    const auto& o = static_cast<const variance_aggregator&>(other);
    for (size_t g = 0; g < map.size() && g < o.st_.size(); ++g) {
      state& a = st_[map[g]];
      const state& b = o.st_[g];
      if (b.n == 0) continue;
      double n = a.n + b.n, d = b.mean - a.mean;
      a.m2 += b.m2 + d * d * a.n * b.n / n;
      a.mean += d * b.n / n;
      a.n = n;
    }
  }
  void finish(std::span<column_data> out) const override {
    out[0].type = column_type::real;
    for (const state& a : st_) {
      double denom = population_ ? a.n : a.n - 1;
      double v = denom > 0 ? std::max(0.0, a.m2 / denom) : 0.0;
      out[0].append_real(root_ ? std::sqrt(v) : v);
    }
  }
  void save(size_t g, std::string& out) const override {
    bytes::put_f64(out, st_[g].n);
    bytes::put_f64(out, st_[g].mean);
    bytes::put_f64(out, st_[g].m2);
  }
  bool load(size_t g, std::string_view in) override {
    return bytes::get_f64(in, st_[g].n) && bytes::get_f64(in, st_[g].mean) && bytes::get_f64(in, st_[g].m2) &&
           in.empty();
  }

 private:
  struct state {
    double n = 0, mean = 0, m2 = 0;
  };
  bool population_, root_;
  int pred_arg_;
  std::vector<state> st_;
};

// ---- binding ---------------------------------------------------------------------------------

using bind_result = std::variant<bound_aggregate, std::string>;
using args_t = std::span<const aggregate_arg>;

std::string type_name(column_type t) { return std::string(model::to_string(t)); }

std::string arity_error(size_t lo, size_t hi, size_t found) {
  std::string want = lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi);
  if (hi == SIZE_MAX) want = "at least " + std::to_string(lo);
  return "expects " + want + (hi == 1 && lo == 1 ? " argument" : " arguments") + ", found " + std::to_string(found);
}

std::optional<std::string> check_arity(args_t a, size_t lo, size_t hi) {
  if (a.size() < lo || a.size() > hi) return arity_error(lo, hi, a.size());
  return std::nullopt;
}

std::optional<std::string> check_bool(args_t a, size_t i) {
  if (a[i].info.type != column_type::bool_)
    return "argument " + std::to_string(i + 1) + " (the predicate) must be a bool, found " + type_name(a[i].info.type);
  return std::nullopt;
}

bool is_number(column_type t) { return t == column_type::int_ || t == column_type::long_ || t == column_type::real; }

/// A constant number argument, or nullopt when not constant or not a number.
std::optional<double> constant_number(const aggregate_arg& a) {
  if (!a.info.constant) return std::nullopt;
  if (auto* i = std::get_if<int64_t>(&*a.info.constant)) return static_cast<double>(*i);
  if (auto* d = std::get_if<double>(&*a.info.constant)) return *d;
  return std::nullopt;
}

bound_aggregate one(std::string name, column_type type, std::function<std::unique_ptr<aggregator>()> make) {
  bound_aggregate b;
  b.outputs.push_back({std::move(name), type});
  b.make = std::move(make);
  return b;
}

bind_result bind_count(args_t a, bool with_pred) {
  if (!with_pred) {
    if (auto e = check_arity(a, 0, 0)) return *e;
    return one("count_", column_type::long_, [] { return std::make_unique<count_aggregator>(-1); });
  }
  if (auto e = check_arity(a, 1, 1)) return *e;
  if (auto e = check_bool(a, 0)) return *e;
  return one("countif_", column_type::long_, [] { return std::make_unique<count_aggregator>(0); });
}

bind_result bind_sum(args_t a, bool with_pred) {
  if (auto e = check_arity(a, with_pred ? 2 : 1, with_pred ? 2 : 1)) return *e;
  if (with_pred)
    if (auto e = check_bool(a, 1)) return *e;
  column_type t = a[0].info.type, out;
  if (t == column_type::int_ || t == column_type::long_) out = column_type::long_;
  else if (t == column_type::real || t == column_type::timespan) out = t;
  else
    return "argument 1 must be an int, long, real or timespan, found " + type_name(t) +
           (t == column_type::decimal ? "; convert it with todouble()" : "");
  int pred = with_pred ? 1 : -1;
  return one((with_pred ? "sumif_" : "sum_") + a[0].name_part, out,
             [out, pred] { return std::make_unique<sum_aggregator>(out, pred); });
}

bind_result bind_avg(args_t a, bool with_pred) {
  if (auto e = check_arity(a, with_pred ? 2 : 1, with_pred ? 2 : 1)) return *e;
  if (with_pred)
    if (auto e = check_bool(a, 1)) return *e;
  column_type t = a[0].info.type;
  if (!is_number(t) && t != column_type::datetime && t != column_type::timespan)
    return "argument 1 must be an int, long, real, datetime or timespan, found " + type_name(t) +
           (t == column_type::decimal ? "; convert it with todouble()" : "");
  column_type out = t == column_type::datetime || t == column_type::timespan ? t : column_type::real;
  int pred = with_pred ? 1 : -1;
  return one((with_pred ? "avgif_" : "avg_") + a[0].name_part, out,
             [t, pred] { return std::make_unique<avg_aggregator>(t, pred); });
}

bind_result bind_minmax(args_t a, bool want_max, bool with_pred) {
  if (auto e = check_arity(a, with_pred ? 2 : 1, with_pred ? 2 : 1)) return *e;
  if (with_pred)
    if (auto e = check_bool(a, 1)) return *e;
  column_type t = a[0].info.type;
  if (t == column_type::dynamic) return "argument 1 must be a scalar, found dynamic; convert it (tolong(), tostring()...)";
  int pred = with_pred ? 1 : -1;
  std::string name = std::string(want_max ? "max" : "min") + (with_pred ? "if_" : "_") + a[0].name_part;
  return one(std::move(name), t, [t, want_max, pred] { return std::make_unique<minmax_aggregator>(t, want_max, pred); });
}

bind_result bind_dcount(args_t a, bool with_pred) {
  size_t lo = with_pred ? 2 : 1;
  if (auto e = check_arity(a, lo, lo + 1)) return *e;
  if (with_pred)
    if (auto e = check_bool(a, 1)) return *e;
  int accuracy = 1;
  if (a.size() > lo) {
    auto v = constant_number(a[lo]);
    if (!v || *v != std::floor(*v) || *v < 0 || *v > 4)
      return "argument " + std::to_string(lo + 1) + " (accuracy) must be a constant integer from 0 to 4";
    accuracy = static_cast<int>(*v);
  }
  column_type t = a[0].info.type;
  int pred = with_pred ? 1 : -1;
  return one((with_pred ? "dcountif_" : "dcount_") + a[0].name_part, column_type::long_,
             [t, accuracy, pred] { return make_dcount(t, accuracy, pred); });
}

// The percent as Kusto writes it in the column name: 99.9 → "99_9", 50 → "50".
std::string percent_name(const aggregate_arg& a, double p) {
  std::string text;
  if (auto* i = std::get_if<int64_t>(&*a.info.constant)) {
    text = std::to_string(*i);
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, p);
    text.assign(buf, r.ptr);
  }
  std::replace(text.begin(), text.end(), '.', '_');
  std::replace(text.begin(), text.end(), '-', '_');
  return text;
}

// percentile(x, p), percentiles(x, p...), percentiles_array(x, p... | dynamic([p...])) and the
// weighted percentilew(x, w, p), percentilesw(x, w, p...), percentilesw_array(x, w, p...).
bind_result bind_percentiles(args_t a, bool several, bool weighted, bool as_array) {
  const size_t first = weighted ? 2 : 1;
  if (auto e = several ? check_arity(a, first + 1, SIZE_MAX) : check_arity(a, first + 1, first + 1)) return *e;
  column_type t = a[0].info.type;
  if (!is_number(t) && t != column_type::datetime && t != column_type::timespan)
    return "argument 1 must be an int, long, real, datetime or timespan, found " + type_name(t);
  if (weighted && a[1].info.type != column_type::int_ && a[1].info.type != column_type::long_)
    return "argument 2 (the weight) must be an int or long, found " + type_name(a[1].info.type);
  if (t == column_type::int_) t = column_type::long_;  // Kusto types an int column's percentile long
  bound_aggregate b;
  std::vector<double> percents;
  auto bad = [](size_t i) {
    return "argument " + std::to_string(i + 1) + " (the percentile) must be a constant number from 0 to 100";
  };
  for (size_t i = first; i < a.size(); ++i) {
    if (as_array && a[i].info.type == column_type::dynamic && a.size() == first + 1 && a[i].info.constant &&
        std::holds_alternative<std::string>(*a[i].info.constant)) {
      // percentiles_array(x, dynamic([50, 90])): the percents as one array.
      auto j = nlohmann::json::parse(std::get<std::string>(*a[i].info.constant), nullptr, false);
      if (!j.is_array() || j.empty()) return bad(i);
      for (const auto& e : j) {
        if (!e.is_number() || !(e.get<double>() >= 0 && e.get<double>() <= 100)) return bad(i);
        percents.push_back(e.get<double>());
      }
      continue;
    }
    auto p = constant_number(a[i]);
    if (!p || !(*p >= 0 && *p <= 100)) return bad(i);
    percents.push_back(*p);
    if (!as_array) b.outputs.push_back({"percentile_" + a[0].name_part + "_" + percent_name(a[i], *p), t});
  }
  if (as_array) b.outputs.push_back({"percentiles_" + a[0].name_part, column_type::dynamic});
  const int weight_arg = weighted ? 1 : -1;
  b.make = [t, percents, weight_arg, as_array] { return make_percentiles(t, percents, weight_arg, as_array); };
  return b;
}

bind_result bind_count_distinct(args_t a, bool with_pred) {
  if (auto e = check_arity(a, with_pred ? 2 : 1, with_pred ? 2 : 1)) return *e;
  if (with_pred)
    if (auto e = check_bool(a, 1)) return *e;
  if (a[0].info.type == column_type::dynamic)
    return "argument 1 must be a scalar, found dynamic; convert it (tolong(), tostring()...)";
  int pred = with_pred ? 1 : -1;
  return one((with_pred ? "count_distinctif_" : "count_distinct_") + a[0].name_part, column_type::long_,
             [pred] { return make_count_distinct(pred); });
}

bind_result bind_make_bag(args_t a, bool with_pred) {
  size_t lo = with_pred ? 2 : 1;
  if (auto e = check_arity(a, lo, lo + 1)) return *e;
  if (a[0].info.type != column_type::dynamic)
    return "argument 1 must be a dynamic property bag, found " + type_name(a[0].info.type);
  if (with_pred)
    if (auto e = check_bool(a, 1)) return *e;
  constexpr size_t max_keys_limit = 1'048'576;
  size_t max_keys = max_keys_limit;
  if (a.size() > lo) {
    auto v = constant_number(a[lo]);
    if (!v || *v != std::floor(*v) || *v < 1)
      return "argument " + std::to_string(lo + 1) + " (maxSize) must be a constant positive integer";
    max_keys = static_cast<size_t>(std::min(*v, static_cast<double>(max_keys_limit)));
  }
  int pred = with_pred ? 1 : -1;
  return one("bag_" + a[0].name_part, column_type::dynamic, [pred, max_keys] { return make_bag(pred, max_keys); });
}

bind_result bind_binary_all(args_t a, std::string_view name, char op) {
  if (auto e = check_arity(a, 1, 1)) return *e;
  column_type t = a[0].info.type;
  if (t != column_type::int_ && t != column_type::long_)
    return "argument 1 must be an int or long, found " + type_name(t);
  // Kusto.Language names the result after its argument: binary_all_or(Count) is Count.
  std::string out = a[0].name_part.empty() ? std::string(name) + "_" : a[0].name_part;
  return one(std::move(out), t, [t, op] { return std::make_unique<binary_all_aggregator>(t, op); });
}

bind_result bind_collect(args_t a, bool set, bool with_pred, bool with_nulls) {
  size_t lo = with_pred ? 2 : 1;
  if (auto e = check_arity(a, lo, lo + 1)) return *e;
  if (with_pred)
    if (auto e = check_bool(a, 1)) return *e;
  // Kusto's default and largest maxSize (kql.md §2.5).
  constexpr size_t max_size_limit = 1'048'576;
  size_t max_size = max_size_limit;
  if (a.size() > lo) {
    auto v = constant_number(a[lo]);
    if (!v || *v != std::floor(*v) || *v < 1)
      return "argument " + std::to_string(lo + 1) + " (maxSize) must be a constant positive integer";
    max_size = static_cast<size_t>(std::min(*v, static_cast<double>(max_size_limit)));
  }
  int pred = with_pred ? 1 : -1;
  return one((set ? "set_" : "list_") + a[0].name_part, column_type::dynamic,
             [pred, max_size, set, with_nulls] { return make_collect(pred, max_size, set, with_nulls); });
}

bind_result bind_arg(args_t a, bool want_max) {
  if (auto e = check_arity(a, 1, SIZE_MAX)) return *e;
  column_type t = a[0].info.type;
  if (t == column_type::dynamic) return "argument 1 must be a scalar, found dynamic; convert it (tolong(), tostring()...)";
  bound_aggregate b;
  std::vector<column_type> types;
  for (size_t i = 0; i < a.size(); ++i) {
    std::string name = a[i].name_part;
    // An expression has no name of its own: the first becomes max_/min_, the rest Column<i>.
    if (name.empty()) name = i == 0 ? (want_max ? "max_" : "min_") : "Column" + std::to_string(i);
    b.outputs.push_back({std::move(name), a[i].info.type});
    types.push_back(a[i].info.type);
  }
  b.make = [types, want_max] { return std::make_unique<arg_aggregator>(types, want_max); };
  return b;
}

bind_result bind_any(args_t a, bool take_any, bool with_pred = false) {
  if (with_pred) {
    // take_anyif(x, p): one value, named like take_any's.
    if (auto e = check_arity(a, 2, 2)) return *e;
    if (auto e = check_bool(a, 1)) return *e;
    std::string name = !take_any ? "anyif_" + a[0].name_part : a[0].name_part.empty() ? "any_" : a[0].name_part;
    column_type t = a[0].info.type;
    return one(std::move(name), t, [t] { return std::make_unique<any_aggregator>(std::vector<column_type>{t}, 1); });
  }
  if (auto e = check_arity(a, 1, SIZE_MAX)) return *e;
  bound_aggregate b;
  std::vector<column_type> types;
  for (size_t i = 0; i < a.size(); ++i) {
    std::string name = take_any && !a[i].name_part.empty() ? a[i].name_part : "any_" + a[i].name_part;
    b.outputs.push_back({std::move(name), a[i].info.type});
    types.push_back(a[i].info.type);
  }
  b.make = [types] { return std::make_unique<any_aggregator>(types, -1); };
  return b;
}

bind_result bind_variance(args_t a, std::string_view base, bool population, bool root, bool with_pred) {
  if (auto e = check_arity(a, with_pred ? 2 : 1, with_pred ? 2 : 1)) return *e;
  if (with_pred)
    if (auto e = check_bool(a, 1)) return *e;
  column_type t = a[0].info.type;
  if (!is_number(t)) return "argument 1 must be an int, long or real, found " + type_name(t);
  int pred = with_pred ? 1 : -1;
  return one(std::string(base) + "_" + a[0].name_part, column_type::real,
             [population, root, pred] { return std::make_unique<variance_aggregator>(population, root, pred); });
}

std::vector<aggregate_function> make_registry() {
  std::vector<aggregate_function> r;
  auto add = [&](std::string_view name, std::function<bind_result(args_t)> bind) {
    r.push_back({name, std::move(bind)});
  };
  add("count", [](args_t a) { return bind_count(a, false); });
  add("countif", [](args_t a) { return bind_count(a, true); });
  add("sum", [](args_t a) { return bind_sum(a, false); });
  add("sumif", [](args_t a) { return bind_sum(a, true); });
  add("avg", [](args_t a) { return bind_avg(a, false); });
  add("avgif", [](args_t a) { return bind_avg(a, true); });
  add("min", [](args_t a) { return bind_minmax(a, false, false); });
  add("max", [](args_t a) { return bind_minmax(a, true, false); });
  add("minif", [](args_t a) { return bind_minmax(a, false, true); });
  add("maxif", [](args_t a) { return bind_minmax(a, true, true); });
  add("dcount", [](args_t a) { return bind_dcount(a, false); });
  add("dcountif", [](args_t a) { return bind_dcount(a, true); });
  add("percentile", [](args_t a) { return bind_percentiles(a, false, false, false); });
  add("percentiles", [](args_t a) { return bind_percentiles(a, true, false, false); });
  add("percentiles_array", [](args_t a) { return bind_percentiles(a, true, false, true); });
  add("percentilew", [](args_t a) { return bind_percentiles(a, false, true, false); });
  add("percentilesw", [](args_t a) { return bind_percentiles(a, true, true, false); });
  add("percentilesw_array", [](args_t a) { return bind_percentiles(a, true, true, true); });
  add("count_distinct", [](args_t a) { return bind_count_distinct(a, false); });
  add("count_distinctif", [](args_t a) { return bind_count_distinct(a, true); });
  add("make_bag", [](args_t a) { return bind_make_bag(a, false); });
  add("make_bag_if", [](args_t a) { return bind_make_bag(a, true); });
  add("binary_all_or", [](args_t a) { return bind_binary_all(a, "binary_all_or", '|'); });
  add("binary_all_and", [](args_t a) { return bind_binary_all(a, "binary_all_and", '&'); });
  add("binary_all_xor", [](args_t a) { return bind_binary_all(a, "binary_all_xor", '^'); });
  add("make_list", [](args_t a) { return bind_collect(a, false, false, false); });
  add("make_list_if", [](args_t a) { return bind_collect(a, false, true, false); });
  add("make_list_with_nulls", [](args_t a) { return bind_collect(a, false, false, true); });
  add("make_set", [](args_t a) { return bind_collect(a, true, false, false); });
  add("make_set_if", [](args_t a) { return bind_collect(a, true, true, false); });
  add("arg_max", [](args_t a) { return bind_arg(a, true); });
  add("arg_min", [](args_t a) { return bind_arg(a, false); });
  add("take_any", [](args_t a) { return bind_any(a, true); });
  add("any", [](args_t a) { return bind_any(a, false); });
  add("take_anyif", [](args_t a) { return bind_any(a, true, true); });
  add("anyif", [](args_t a) { return bind_any(a, false, true); });
  add("variance", [](args_t a) { return bind_variance(a, "variance", false, false, false); });
  add("varianceif", [](args_t a) { return bind_variance(a, "varianceif", false, false, true); });
  add("variancep", [](args_t a) { return bind_variance(a, "variancep", true, false, false); });
  add("stdev", [](args_t a) { return bind_variance(a, "stdev", false, true, false); });
  add("stdevif", [](args_t a) { return bind_variance(a, "stdevif", false, true, true); });
  add("stdevp", [](args_t a) { return bind_variance(a, "stdevp", true, true, false); });
  return r;
}

const std::vector<aggregate_function>& registry() {
  static const std::vector<aggregate_function> r = make_registry();
  return r;
}

}  // namespace
}  // namespace agg

const aggregate_function* find_aggregate_function(std::string_view name) {
  for (const auto& f : agg::registry())
    if (f.name == name) return &f;
  return nullptr;
}

std::vector<std::string_view> aggregate_function_names() {
  std::vector<std::string_view> names;
  for (const auto& f : agg::registry()) names.push_back(f.name);
  return names;
}

}  // namespace tributary::query
