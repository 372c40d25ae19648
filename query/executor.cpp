// The executor: a bound plan (plan.hpp) runs as a push pipeline of stages. A source (a table
// scan, datatable, print, range, a subquery) pushes chunks of about a thousand rows; each stage
// works a column at a time (filters gather through a selection, expressions evaluate whole
// columns, summarize hashes group keys and updates every aggregate per chunk) and pushes on.
// Stages that must see everything (summarize, sort, join's right side) buffer, charged to the
// query's memory limit. The rows a result keeps are bounded by Kusto's truncation limits.

#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <kj/encoding.h>
#include <nlohmann/json.hpp>
#include <re2/re2.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "query/binder.hpp"
#include "query/parser.hpp"

namespace tributary::query {
namespace {

using model::column_data;
using model::column_type;

struct query_failure {
  model::error error;
};

[[noreturn]] void fail(std::string code, std::string message, bool permanent = true) {
  throw query_failure{{std::move(code), std::move(message), permanent}};
}

bool is_text(column_type t) {
  return t == column_type::string || t == column_type::decimal || t == column_type::guid ||
         t == column_type::dynamic;
}

size_t byte_size(const column_data& c) {
  return c.nulls.size() + c.ints.size() * 8 + c.reals.size() * 8 + c.text.size() + c.offsets.size() * 4;
}

size_t byte_size(const chunk& c) {
  size_t n = c.ingestion.size() * 8;
  for (const auto& col : c.columns) n += byte_size(col);
  return n;
}

// Appends row `r` of `src` to `dst` (same type). `src` may be a 1-row constant.
void append_row(column_data& dst, const column_data& src, size_t r) {
  r = vec::at(src, r);
  if (src.is_null(r)) return dst.append_null();
  if (src.type == column_type::real) return dst.append_real(src.reals[r]);
  if (is_text(src.type)) return dst.append_text(src.text_at(r));
  dst.append_int(src.ints[r]);
}

// Appends rows [begin, end) of `src`.
void append_rows(column_data& dst, const column_data& src, size_t begin, size_t end) {
  if (src.size() == 1 && end - begin != 1) {
    for (size_t r = begin; r < end; ++r) append_row(dst, src, r);
    return;
  }
  dst.nulls.insert(dst.nulls.end(), src.nulls.begin() + begin, src.nulls.begin() + end);
  if (src.type == column_type::real) {
    dst.reals.insert(dst.reals.end(), src.reals.begin() + begin, src.reals.begin() + end);
  } else if (is_text(src.type)) {
    const uint32_t base = static_cast<uint32_t>(dst.text.size());
    const uint32_t from = src.offsets[begin];
    dst.text.append(src.text, from, src.offsets[end] - from);
    for (size_t r = begin + 1; r <= end; ++r) dst.offsets.push_back(base + src.offsets[r] - from);
  } else {
    dst.ints.insert(dst.ints.end(), src.ints.begin() + begin, src.ints.begin() + end);
  }
}

// The rows `selection` of `c`; a column left out by the scan (size 0) stays out.
column_data gather(const column_data& c, const std::vector<uint32_t>& selection, size_t rows) {
  column_data out = vec::make(c.type, selection.size());
  if (c.size() == 0 && rows > 0) return out;
  if (c.size() == 1 && rows != 1) {
    for (size_t i = 0; i < selection.size(); ++i) append_row(out, c, 0);
    return out;
  }
  out.nulls.reserve(selection.size());
  for (auto r : selection) out.nulls.push_back(c.nulls[r]);
  if (c.type == column_type::real) {
    out.reals.reserve(selection.size());
    for (auto r : selection) out.reals.push_back(c.reals[r]);
  } else if (is_text(c.type)) {
    for (auto r : selection) {
      out.text.append(c.text_at(r));
      out.offsets.push_back(static_cast<uint32_t>(out.text.size()));
    }
  } else {
    out.ints.reserve(selection.size());
    for (auto r : selection) out.ints.push_back(c.ints[r]);
  }
  return out;
}

// A 1-row constant made `rows` long.
column_data expand(column_data c, size_t rows) {
  if (c.size() == rows) return c;
  if (c.size() != 1) fail("InternalServerError", "a column the scan left out was read");
  column_data out = vec::make(c.type, rows);
  for (size_t r = 0; r < rows; ++r) append_row(out, c, 0);
  return out;
}

// The bytes row `r` of `c` takes (a null flag and 8 bytes a value, and its text).
size_t row_bytes(const chunk& c, size_t r) {
  size_t n = 0;
  for (const auto& col : c.columns) {
    if (col.size() == 0) continue;
    n += 9;
    if (is_text(col.type)) n += col.text_at(vec::at(col, r)).size();
  }
  return n;
}

chunk gather(const chunk& c, const std::vector<uint32_t>& selection) {
  chunk out;
  out.rows = selection.size();
  out.columns.reserve(c.columns.size());
  for (const auto& col : c.columns) out.columns.push_back(gather(col, selection, c.rows));
  if (!c.ingestion.empty()) {
    out.ingestion.reserve(selection.size());
    for (auto r : selection) out.ingestion.push_back(c.ingestion[r]);
  }
  return out;
}

// The state every stage of one query shares.
struct run_state {
  eval_context context;
  const data_source* source = nullptr;
  const query_options* options = nullptr;
  query_statistics stats;
  std::vector<std::string> warnings;  ///< from the shards of a best_effort query
  uint64_t memory = 0;
  uint64_t chunks = 0;

  void charge(int64_t bytes, const std::string& op) {
    memory = static_cast<uint64_t>(static_cast<int64_t>(memory) + bytes);
    stats.peak_memory = std::max(stats.peak_memory, memory);
    if (bytes > 0 && memory > options->memory_limit)
      fail("QueryMemoryLimitExceeded",
           fmt::format("the query's '{}' operator holds more than {} bytes, the memory limit of one query "
                       "(--query-memory-limit); narrow the query (where, project, a coarser summarize)",
                       op, options->memory_limit));
  }
  // Between chunks (up to a block group of 65,536 rows each): cancelled or past the deadline?
  void check() {
    if (options->cancelled && options->cancelled())
      fail("QueryCancelled", "the query was cancelled (its client went away)", false);
    if (std::chrono::steady_clock::now() > options->deadline)
      fail("QueryTimeout", "the query ran past its time limit (--query-timeout, or the client's servertimeout)",
           false);
  }
};

// An expression's values over a chunk: a column of the chunk itself (no copy) or computed.
struct evaluated {
  const column_data* ref = nullptr;
  column_data own;
  const column_data& get() const { return ref ? *ref : own; }
};

column_data evaluate(const bound_expr& e, const chunk& c, run_state& st);

evaluated eval_view(const bound_expr& e, const chunk& c, run_state& st) {
  evaluated out;
  if (e.what == bound_expr::kind::column) {
    const auto& col = c.columns[e.column];
    if (col.size() == 0 && c.rows > 0) fail("InternalServerError", "a column the scan left out was read");
    out.ref = &col;
  } else if (e.what == bound_expr::kind::constant) {
    out.ref = &e.constant;
  } else {
    out.own = evaluate(e, c, st);
  }
  return out;
}

column_data evaluate(const bound_expr& e, const chunk& c, run_state& st) {
  switch (e.what) {
    case bound_expr::kind::constant: return e.constant;
    case bound_expr::kind::column: {
      const auto& col = c.columns[e.column];
      if (col.size() == 0 && c.rows > 0) fail("InternalServerError", "a column the scan left out was read");
      return col;
    }
    case bound_expr::kind::ingestion_time: {
      column_data out = vec::make(column_type::datetime, c.rows);
      if (c.ingestion.empty()) return vec::nulls(column_type::datetime, c.rows);
      for (auto t : c.ingestion) out.append_int(t);
      return out;
    }
    case bound_expr::kind::call: {
      std::vector<evaluated> values;
      values.reserve(e.args.size());
      for (const auto& a : e.args) values.push_back(eval_view(a, c, st));
      std::vector<const column_data*> args;
      for (const auto& v : values) args.push_back(&v.get());
      auto out = e.eval(args, c.rows, st.context);
      if (st.context.error) fail("BadRequest_SemanticError", *st.context.error);
      return out;
    }
  }
  return {};
}

column_data evaluate_full(const bound_expr& e, const chunk& c, run_state& st) {
  return expand(evaluate(e, c, st), c.rows);
}

// Several expressions' values, and pointers to them (for grouping and aggregates).
struct evaluated_list {
  std::vector<evaluated> values;
  std::vector<const column_data*> pointers;
  evaluated_list(const std::vector<bound_expr>& exprs, const chunk& c, run_state& st) {
    values.reserve(exprs.size());
    for (const auto& e : exprs) values.push_back(eval_view(e, c, st));
    for (const auto& v : values) pointers.push_back(&v.get());
  }
};

// ----- stages -----

class stage {
 public:
  virtual ~stage() = default;
  /// Takes `c`; false once no more input is wanted.
  virtual bool push(chunk c) = 0;
  /// End of input: emit what is buffered, then finish the next stage.
  virtual void finish() = 0;
  stage* next = nullptr;
};

std::unique_ptr<stage> make_stage(const bound_op& op, run_state& st);
void run_plan(const plan& p, stage& sink, run_state& st);

class where_stage final : public stage {
 public:
  where_stage(const bound_op& op, run_state& st) : op_(op), st_(st) {}
  bool push(chunk c) override {
    auto viewed = eval_view(op_.predicate, c, st_);
    const auto& keep = viewed.get();
    std::vector<uint32_t> selection;
    if (keep.size() == 1 && c.rows != 1) {
      if (keep.is_null(0) || keep.ints[0] == 0) return true;
      return next->push(std::move(c));
    }
    selection.reserve(c.rows);
    for (uint32_t r = 0; r < c.rows; ++r)
      if (!keep.nulls[r] && keep.ints[r]) selection.push_back(r);
    if (selection.empty()) return true;
    if (selection.size() == c.rows) return next->push(std::move(c));
    return next->push(gather(c, selection));
  }
  void finish() override { next->finish(); }

 private:
  const bound_op& op_;
  run_state& st_;
};

class project_stage final : public stage {
 public:
  project_stage(const bound_op& op, run_state& st) : op_(op), st_(st) {}
  bool push(chunk c) override {
    chunk out;
    out.rows = c.rows;
    out.ingestion = op_.kind == op_kind::extend ? std::move(c.ingestion) : std::vector<int64_t>{};
    out.columns.reserve(op_.exprs.size());
    for (const auto& e : op_.exprs) {
      if (e.what == bound_expr::kind::column) out.columns.push_back(c.columns[e.column]);
      else out.columns.push_back(evaluate_full(e, c, st_));
    }
    return next->push(std::move(out));
  }
  void finish() override { next->finish(); }

 private:
  const bound_op& op_;
  run_state& st_;
};

class select_stage final : public stage {
 public:
  explicit select_stage(const bound_op& op) : op_(op) {}
  bool push(chunk c) override {
    chunk out;
    out.rows = c.rows;
    out.ingestion = std::move(c.ingestion);
    for (auto i : op_.columns) out.columns.push_back(c.columns[i]);
    return next->push(std::move(out));
  }
  void finish() override { next->finish(); }

 private:
  const bound_op& op_;
};

class take_stage final : public stage {
 public:
  explicit take_stage(uint64_t count) : left_(count) {}
  bool push(chunk c) override {
    if (left_ == 0) return false;
    if (c.rows > left_) {
      std::vector<uint32_t> selection(left_);
      std::iota(selection.begin(), selection.end(), 0);
      c = gather(c, selection);
    }
    left_ -= c.rows;
    const bool more = next->push(std::move(c));
    return more && left_ > 0;
  }
  void finish() override { next->finish(); }

 private:
  uint64_t left_;
};

// count; or, over the shards' answers to `T | ... | count`, their sum.
class count_stage final : public stage {
 public:
  explicit count_stage(bool sum = false) : sum_(sum) {}
  bool push(chunk c) override {
    if (!sum_) {
      count_ += c.rows;
      return true;
    }
    for (size_t r = 0; r < c.rows; ++r)
      if (!c.columns[0].is_null(r)) count_ += static_cast<uint64_t>(c.columns[0].ints[r]);
    return true;
  }
  void finish() override {
    chunk out;
    out.rows = 1;
    out.columns.push_back(vec::make(column_type::long_, 1));
    out.columns[0].append_int(static_cast<int64_t>(count_));
    next->push(std::move(out));
    next->finish();
  }

 private:
  bool sum_;
  uint64_t count_ = 0;
};

// Group keys as bytes: a null flag, then 8 bytes or the text and its length, per key.
void key_bytes(std::string& out, const std::vector<const column_data*>& keys, size_t r) {
  out.clear();
  for (const auto* key : keys) {
    const auto& k = *key;
    const size_t i = vec::at(k, r);
    if (k.is_null(i)) {
      out.push_back('\0');
      continue;
    }
    out.push_back('\1');
    if (k.type == column_type::real) {
      double v = k.reals[i];
      if (v == 0) v = 0;  // -0 and 0 are one group
      out.append(reinterpret_cast<const char*>(&v), 8);
    } else if (is_text(k.type)) {
      auto t = k.text_at(i);
      const uint32_t n = static_cast<uint32_t>(t.size());
      out.append(reinterpret_cast<const char*>(&n), 4);
      out.append(t);
    } else {
      out.append(reinterpret_cast<const char*>(&k.ints[i]), 8);
    }
  }
}

// An open-addressing map to group ids (linear probing, kept at most half full), with no node
// per entry and no key copied: a slot holds a 64-bit word and its group. For one fixed-width
// key (bin(ts, 1m), an id) the word is the key itself; for one text key it is the key's XXH3
// hash, and the key is row `id` of the grouper's key column (`same` compares it).
class id_table {
 public:
  template <class Same, class Make>
  uint32_t find_or_add(uint64_t word, Same same, Make make) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    const size_t mask = slots_.size() - 1;
    for (size_t i = position(word) & mask;; i = (i + 1) & mask) {
      auto& slot = slots_[i];
      if (slot.id == empty) {
        slot.word = word;
        slot.id = make();
        ++size_;
        return slot.id;
      }
      if (slot.word == word && same(slot.id)) return slot.id;
    }
  }
  size_t bytes() const { return slots_.size() * sizeof(slot); }

 private:
  static constexpr uint32_t empty = UINT32_MAX;
  struct slot {
    uint64_t word = 0;
    uint32_t id = empty;
  };
  static size_t position(uint64_t word) {
    const uint64_t x = word * 0x9e3779b97f4a7c15ULL;
    return static_cast<size_t>(x ^ (x >> 29));
  }
  void grow() {
    std::vector<slot> old = std::move(slots_);
    slots_.assign(std::max<size_t>(64, old.size() * 2), slot{});
    const size_t mask = slots_.size() - 1;
    for (const auto& s : old) {
      if (s.id == empty) continue;
      size_t i = position(s.word) & mask;
      while (slots_[i].id != empty) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }
  std::vector<slot> slots_;
  size_t size_ = 0;
};

// Groups rows by their key values: a group id per row, new groups' keys kept in order.
class grouper {
 public:
  explicit grouper(const std::vector<model::column>& key_schema) {
    for (const auto& k : key_schema) keys_.push_back(vec::make(k.type, 0));
    single_int_ = key_schema.size() == 1 && !is_text(key_schema[0].type) && key_schema[0].type != column_type::real;
    single_text_ = key_schema.size() == 1 && is_text(key_schema[0].type);
  }
  // Group ids of the rows of `values` (one column per key, each `rows` long or a constant).
  void assign(const std::vector<const column_data*>& values, size_t rows, std::vector<uint32_t>& ids) {
    ids.resize(rows);
    if (keys_.empty()) {
      if (groups_ == 0) groups_ = 1;
      std::fill(ids.begin(), ids.end(), 0);
      return;
    }
    if (single_int_ || single_text_) {
      const auto& k = *values[0];
      for (size_t r = 0; r < rows; ++r) {
        const size_t i = vec::at(k, r);
        if (k.is_null(i)) {
          if (null_group_ == UINT32_MAX) null_group_ = add(values, r);
          ids[r] = null_group_;
        } else if (single_int_) {
          // Rows often come in runs of one key (time bins of a time-ordered table).
          const int64_t v = k.ints[i];
          if (last_id_ == UINT32_MAX || v != last_int_) {
            last_id_ = ints_.find_or_add(
                static_cast<uint64_t>(v), [](uint32_t) { return true; }, [&] { return add(values, r); });
            last_int_ = v;
          }
          ids[r] = last_id_;
        } else {
          const auto text = k.text_at(i);
          ids[r] = texts_.find_or_add(
              XXH3_64bits(text.data(), text.size()), [&](uint32_t id) { return keys_[0].text_at(id) == text; },
              [&] {
                key_bytes_ += text.size();
                return add(values, r);
              });
        }
      }
      return;
    }
    for (size_t r = 0; r < rows; ++r) {
      key_bytes(scratch_, values, r);
      auto it = bytes_.find(scratch_);
      if (it == bytes_.end()) {
        key_bytes_ += scratch_.size();
        it = bytes_.emplace(scratch_, add(values, r)).first;
      }
      ids[r] = it->second;
    }
  }
  size_t groups() const { return groups_; }
  std::vector<column_data>& keys() { return keys_; }
  size_t bytes() const { return key_bytes_ + groups_ * 48 + ints_.bytes() + texts_.bytes(); }

 private:
  uint32_t add(const std::vector<const column_data*>& values, size_t r) {
    for (size_t k = 0; k < keys_.size(); ++k) append_row(keys_[k], *values[k], r);
    return static_cast<uint32_t>(groups_++);
  }
  std::vector<column_data> keys_;
  bool single_int_ = false, single_text_ = false;
  id_table ints_;
  int64_t last_int_ = 0;
  uint32_t last_id_ = UINT32_MAX;
  id_table texts_;
  std::unordered_map<std::string, uint32_t> bytes_;
  uint32_t null_group_ = UINT32_MAX;
  std::string scratch_;
  size_t groups_ = 0;
  size_t key_bytes_ = 0;
};

std::vector<model::column> key_schema(const bound_op& op) {
  std::vector<model::column> out;
  for (size_t i = 0; i < op.keys.size(); ++i) out.push_back(op.schema[i]);
  return out;
}

// summarize. On a shard (op.partial) it answers each group's keys and every aggregate's partial
// state; over the shards' answers (`merge`) it groups by those keys and merges the states.
class summarize_stage final : public stage {
 public:
  summarize_stage(const bound_op& op, run_state& st, bool merge = false)
      : op_(op), st_(st), groups_(key_schema(op)), merge_(merge) {
    for (const auto& a : op.aggregates) aggregators_.push_back(a.aggregate.make());
  }
  bool push(chunk c) override {
    if (merge_) return merge(c);
    evaluated_list keys(op_.keys, c, st_);
    groups_.assign(keys.pointers, c.rows, ids_);
    for (size_t a = 0; a < aggregators_.size(); ++a) {
      evaluated_list args(op_.aggregates[a].args, c, st_);
      aggregators_[a]->resize(groups_.groups());
      aggregators_[a]->update(ids_.data(), c.rows, args.pointers);
    }
    charge();
    return true;
  }
  void finish() override {
    // Without keys, empty input is one row of Kusto's defaults; with keys, no rows.
    if (op_.keys.empty() && groups_.groups() == 0) {
      std::vector<uint32_t> none;
      groups_.assign({}, 0, none);
    }
    chunk out;
    out.rows = groups_.groups();
    for (auto& k : groups_.keys()) out.columns.push_back(std::move(k));
    for (size_t a = 0; a < aggregators_.size(); ++a) {
      aggregators_[a]->resize(out.rows);
      if (op_.partial) {
        out.columns.push_back(vec::make(column_type::string, out.rows));
        std::string state;
        for (size_t g = 0; g < out.rows; ++g) {
          state.clear();
          aggregators_[a]->save(g, state);
          auto text = kj::encodeBase64(kj::arrayPtr(reinterpret_cast<const kj::byte*>(state.data()), state.size()));
          out.columns.back().append_text(std::string_view(text.cStr(), text.size()));
        }
        continue;
      }
      std::vector<column_data> results;
      for (const auto& o : op_.aggregates[a].aggregate.outputs) results.push_back(vec::make(o.type, out.rows));
      aggregators_[a]->finish(results);
      for (auto& r : results) out.columns.push_back(std::move(r));
    }
    st_.charge(-charged_, op_.name);
    if (out.rows > 0) next->push(std::move(out));
    next->finish();
  }

 private:
  void charge() {
    const int64_t now = static_cast<int64_t>(groups_.bytes() * (1 + aggregators_.size()));
    st_.charge(now - charged_, op_.name);
    charged_ = now;
  }
  // Shards' answers: the keys' columns, then one column of base64 states per aggregate.
  bool merge(const chunk& c) {
    const size_t keys = op_.keys.size();
    std::vector<const column_data*> key_columns;
    for (size_t k = 0; k < keys; ++k) key_columns.push_back(&c.columns[k]);
    groups_.assign(key_columns, c.rows, ids_);
    for (size_t a = 0; a < aggregators_.size(); ++a) {
      aggregators_[a]->resize(groups_.groups());
      auto shard = op_.aggregates[a].aggregate.make();
      shard->resize(c.rows);
      const auto& states = c.columns[keys + a];
      for (size_t r = 0; r < c.rows; ++r) {
        const auto text = states.text_at(r);
        auto bytes = kj::decodeBase64(kj::ArrayPtr<const char>(text.data(), text.size()));
        if (bytes.hadErrors ||
            !shard->load(r, std::string_view(reinterpret_cast<const char*>(bytes.begin()), bytes.size())))
          fail("InternalServerError",
               fmt::format("a node answered a partial state of '{}' this node cannot read (row {} of its answer); "
                           "the nodes run different versions of Tributary",
                           op_.aggregates[a].aggregate.outputs.front().name, r),
               false);
      }
      aggregators_[a]->merge(*shard, ids_);
    }
    charge();
    return true;
  }

  const bound_op& op_;
  run_state& st_;
  grouper groups_;
  bool merge_;
  std::vector<std::unique_ptr<aggregator>> aggregators_;
  std::vector<uint32_t> ids_;
  int64_t charged_ = 0;
};

// Kusto's order: nulls (and NaN with them) first or last as asked, the rest by value.
int compare_rows(const column_data& c, size_t a, size_t b, bool nulls_first) {
  const bool na = c.is_null(a) || (c.type == column_type::real && std::isnan(c.reals[a]));
  const bool nb = c.is_null(b) || (c.type == column_type::real && std::isnan(c.reals[b]));
  if (na || nb) {
    if (na && nb) {
      // null before NaN when nulls come first
      const int ra = c.is_null(a) ? 0 : 1, rb = c.is_null(b) ? 0 : 1;
      return nulls_first ? ra - rb : rb - ra;
    }
    return (na ? -1 : 1) * (nulls_first ? 1 : -1);
  }
  if (c.type == column_type::real) return c.reals[a] < c.reals[b] ? -1 : c.reals[a] > c.reals[b] ? 1 : 0;
  if (is_text(c.type)) {
    auto x = c.text_at(a), y = c.text_at(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return c.ints[a] < c.ints[b] ? -1 : c.ints[a] > c.ints[b] ? 1 : 0;
}

}  // namespace

std::vector<uint32_t> rows_beyond(const column_data& key, const scan_constraint& bound) {
  std::vector<uint32_t> out;
  const bool greater = bound.op == scan_constraint::kind::greater;
  auto pick = [&](auto values, auto limit) {
    for (size_t r = 0; r < key.size(); ++r)
      if (!key.is_null(r) && (greater ? values[r] > limit : values[r] < limit)) out.push_back(static_cast<uint32_t>(r));
  };
  if (key.type == column_type::real) pick(key.reals.data(), std::get<double>(bound.bound));
  else pick(key.ints.data(), std::get<int64_t>(bound.bound));
  return out;
}

namespace {

// Buffers its input as one chunk (charged to the memory limit).
class buffer {
 public:
  buffer(run_state& st, std::string op) : st_(st), op_(std::move(op)) {}
  ~buffer() { st_.memory -= std::min<uint64_t>(st_.memory, charged_); }
  void add(chunk c) {
    if (rows_.columns.empty() && rows_.rows == 0) {
      rows_ = std::move(c);
    } else {
      for (size_t i = 0; i < c.columns.size(); ++i) {
        if (rows_.columns[i].size() == 0 && rows_.rows > 0) continue;
        append_rows(rows_.columns[i], c.columns[i], 0, c.rows);
      }
      if (!rows_.ingestion.empty() || !c.ingestion.empty()) {
        rows_.ingestion.resize(rows_.rows, 0);
        if (c.ingestion.empty()) c.ingestion.assign(c.rows, 0);
        rows_.ingestion.insert(rows_.ingestion.end(), c.ingestion.begin(), c.ingestion.end());
      }
      rows_.rows += c.rows;
    }
    const uint64_t now = byte_size(rows_);
    st_.charge(static_cast<int64_t>(now) - static_cast<int64_t>(charged_), op_);
    charged_ = now;
  }
  chunk& rows() { return rows_; }
  /// Replaces what is buffered (e.g. by the best rows of it).
  void replace(chunk c) {
    rows_ = std::move(c);
    const uint64_t now = byte_size(rows_);
    st_.charge(static_cast<int64_t>(now) - static_cast<int64_t>(charged_), op_);
    charged_ = now;
  }

 private:
  run_state& st_;
  std::string op_;
  chunk rows_;
  uint64_t charged_ = 0;
};

class sort_stage final : public stage {
 public:
  sort_stage(const bound_op& op, run_state& st) : op_(op), st_(st), rows_(st, op.name) {
    if (op_.runtime) op_.runtime->active = false;
  }
  bool push(chunk c) override {
    // Sort keys are evaluated once per row, kept beside the rows.
    chunk keyed = std::move(c);
    for (const auto& k : op_.sort_keys) keyed.columns.push_back(evaluate_full(k.value, keyed, st_));
    if (op_.runtime && op_.runtime->active) {
      // Only rows beyond the N-th so far can make it.
      keyed = gather(keyed, rows_beyond(keyed.columns.back(), op_.runtime->bound));
      if (keyed.rows == 0) return true;
    }
    // top N: only the chunk's own best N rows can make it (sorted on the keys alone, then only
    // those rows copied).
    if (op_.kind == op_kind::top && keyed.rows > op_.count) keyed = gather(keyed, order(keyed, op_.count));
    rows_.add(std::move(keyed));
    if (op_.runtime && rows_.rows().rows >= op_.count) {
      // Hold exactly the best N, in order (also when exactly N arrived: the N-th must be the
      // worst of them), and tell the scan the N-th.
      rows_.replace(gather(rows_.rows(), order(rows_.rows(), op_.count)));
      const auto& key = rows_.rows().columns.back();
      const size_t last = op_.count - 1;
      if (!key.is_null(last) && !(key.type == column_type::real && std::isnan(key.reals[last]))) {
        op_.runtime->active = true;
        op_.runtime->bound.bound = key.type == column_type::real ? model::value(key.reals[last]) : model::value(key.ints[last]);
      }
      return true;
    }
    // top N keeps only its best N rows (and whatever arrived since): memory and sorting stay
    // proportional to N, not to the input.
    if (op_.kind == op_kind::top && rows_.rows().rows > std::max<uint64_t>(2 * op_.count, 8192))
      rows_.replace(gather(rows_.rows(), order(rows_.rows(), op_.count)));
    return true;
  }
  void finish() override {
    auto& all = rows_.rows();
    const size_t width = op_.schema.size();
    if (all.rows > 0) {
      auto picked = order(all, op_.kind == op_kind::top ? op_.count : all.rows);
      all.columns.resize(width);
      next->push(gather(all, picked));
    }
    next->finish();
  }

 private:
  // The row indexes of `all` in the operator's order, the first `keep` of them.
  std::vector<uint32_t> order(const chunk& all, uint64_t keep) const {
    const size_t width = op_.schema.size();
    std::vector<uint32_t> rows(all.rows);
    std::iota(rows.begin(), rows.end(), 0);
    auto less = [&](uint32_t a, uint32_t b) {
      for (size_t k = 0; k < op_.sort_keys.size(); ++k) {
        const auto& key = op_.sort_keys[k];
        const auto& col = all.columns[width + k];
        int c = compare_rows(col, a, b, key.nulls_first);
        if (c == 0) continue;
        const bool null_involved = col.is_null(a) || col.is_null(b) ||
                                   (col.type == column_type::real && (std::isnan(col.reals[a]) || std::isnan(col.reals[b])));
        // Null placement is absolute; values follow the direction.
        if (!null_involved && !key.ascending) c = -c;
        return c < 0;
      }
      return false;
    };
    if (keep < rows.size()) {
      std::partial_sort(rows.begin(), rows.begin() + static_cast<ptrdiff_t>(keep), rows.end(), less);
      rows.resize(keep);
    } else {
      std::stable_sort(rows.begin(), rows.end(), less);
    }
    return rows;
  }

  const bound_op& op_;
  run_state& st_;
  buffer rows_;
};

class union_stage final : public stage {
 public:
  union_stage(const bound_op& op, run_state& st) : op_(op), st_(st) {}
  bool push(chunk c) override { return next->push(map(std::move(c), 0)); }
  void finish() override {
    for (size_t leg = 0; leg < op_.legs.size(); ++leg) {
      struct leg_sink final : stage {
        union_stage* self;
        size_t leg;
        bool push(chunk c) override { return self->next->push(self->map(std::move(c), leg)); }
        void finish() override {}
      } sink;
      sink.self = this;
      sink.leg = leg + 1;
      run_plan(*op_.legs[leg], sink, st_);
    }
    next->finish();
  }

  chunk map(chunk c, size_t leg) {
    chunk out;
    out.rows = c.rows;
    const auto& m = op_.union_maps[leg];
    for (size_t i = 0; i < m.size(); ++i) {
      const auto type = op_.schema[i].type;
      if (op_.with_source && i == 0) {
        column_data s = vec::make(column_type::string, c.rows);
        for (size_t r = 0; r < c.rows; ++r) s.append_text(op_.leg_names[leg]);
        out.columns.push_back(std::move(s));
      } else if (m[i] == SIZE_MAX) {
        out.columns.push_back(vec::nulls(type, c.rows));
      } else if (c.columns[m[i]].size() == 0 && c.rows > 0) {
        out.columns.push_back(std::move(c.columns[m[i]]));  // not read: nothing after the union uses it
      } else {
        out.columns.push_back(expand(std::move(c.columns[m[i]]), c.rows));
      }
    }
    return out;
  }

 private:
  const bound_op& op_;
  run_state& st_;
};

class join_stage final : public stage {
 public:
  static constexpr size_t slice_rows = 65536;
  static constexpr size_t slice_bytes = size_t{64} << 20;
  join_stage(const bound_op& op, run_state& st) : op_(op), st_(st), right_(st, op.name) {}
  bool push(chunk c) override {
    build();
    std::vector<const column_data*> keys;
    for (const auto& [l, r] : op_.join_keys) keys.push_back(&c.columns[l]);
    std::vector<uint32_t> left_rows, right_rows;
    const bool innerunique = op_.join_kind == "innerunique";
    const bool left_semi = op_.join_kind == "leftsemi", left_anti = op_.join_kind == "leftanti";
    const bool keep_unmatched_left = op_.join_kind == "leftouter" || op_.join_kind == "fullouter";
    std::string key;
    size_t slice = 0;  // bytes of the matched pairs collected since the last slice
    for (uint32_t r = 0; r < c.rows; ++r) {
      if (has_null(keys, r)) {
        if (keep_unmatched_left || left_anti) {
          left_rows.push_back(r);
          right_rows.push_back(UINT32_MAX);
        }
        continue;
      }
      key_bytes(key, keys, r);
      if (innerunique && !seen_left_.insert(key).second) continue;
      auto it = index_.find(key);
      if (it == index_.end()) {
        if (keep_unmatched_left || left_anti) {
          left_rows.push_back(r);
          right_rows.push_back(UINT32_MAX);
        }
        continue;
      }
      if (left_anti) continue;
      if (left_semi) {
        left_rows.push_back(r);
        continue;
      }
      for (auto m : it->second) {
        matched_[m] = true;
        if (op_.join_kind == "rightsemi" || op_.join_kind == "rightanti") continue;
        left_rows.push_back(r);
        right_rows.push_back(m);
        // A key with many matches multiplies rows: hand them on in slices of at most
        // slice_rows rows or slice_bytes (memory stays bounded however wide the rows, and a
        // cancelled query stops between slices).
        slice += row_bytes(c, r) + right_bytes_[m];
        if (left_rows.size() >= slice_rows || slice >= slice_bytes) {
          if (!emit(c, left_rows, right_rows, slice)) return false;
          left_rows.clear();
          right_rows.clear();
          slice = 0;
          st_.check();
        }
      }
    }
    if (left_rows.empty()) return true;
    return emit(c, left_rows, right_rows, slice);
  }
  void finish() override {
    build();
    const bool right_outer = op_.join_kind == "rightouter" || op_.join_kind == "fullouter";
    const bool right_semi = op_.join_kind == "rightsemi", right_anti = op_.join_kind == "rightanti";
    std::vector<uint32_t> rows;
    for (uint32_t r = 0; r < right_.rows().rows; ++r)
      if ((right_outer && !matched_[r]) || (right_semi && matched_[r]) || (right_anti && !matched_[r]))
        rows.push_back(r);
    if (!rows.empty()) {
      if (right_semi || right_anti) {
        chunk out = gather(right_.rows(), rows);
        chunk picked;
        picked.rows = out.rows;
        for (auto i : op_.right_columns) picked.columns.push_back(std::move(out.columns[i]));
        next->push(std::move(picked));
      } else {
        chunk out;
        out.rows = rows.size();
        const size_t left_width = op_.schema.size() - op_.right_columns.size();
        for (size_t i = 0; i < left_width; ++i) out.columns.push_back(vec::nulls(op_.schema[i].type, rows.size()));
        for (auto i : op_.right_columns) out.columns.push_back(gather(right_.rows().columns[i], rows, right_.rows().rows));
        next->push(std::move(out));
      }
    }
    next->finish();
  }

 private:
  static bool has_null(const std::vector<const column_data*>& keys, size_t r) {
    return std::any_of(keys.begin(), keys.end(), [&](const auto* k) { return k->is_null(vec::at(*k, r)); });
  }
  void build() {
    if (built_) return;
    built_ = true;
    struct collect final : stage {
      buffer* into;
      bool push(chunk c) override {
        into->add(std::move(c));
        return true;
      }
      void finish() override {}
    } sink;
    sink.into = &right_;
    run_plan(*op_.right, sink, st_);
    auto& r = right_.rows();
    if (r.columns.empty())  // the right side had no rows at all
      for (const auto& c : op_.right->schema) r.columns.push_back(vec::make(c.type, 0));
    matched_.assign(r.rows, false);
    std::vector<const column_data*> keys;
    for (const auto& [l, k] : op_.join_keys) keys.push_back(&r.columns[k]);
    std::string key;
    for (uint32_t i = 0; i < r.rows; ++i) {
      if (has_null(keys, i)) continue;
      key_bytes(key, keys, i);
      index_[key].push_back(i);
    }
    right_bytes_.resize(r.rows);
    for (uint32_t i = 0; i < r.rows; ++i) right_bytes_[i] = static_cast<uint32_t>(row_bytes(r, i));
    st_.charge(static_cast<int64_t>(index_.size() * 64 + r.rows * 4), op_.name);
  }
  // The output rows, charged against the memory limit while the next stage has them (`bytes`:
  // the matched pairs' size, when counted).
  bool emit(const chunk& left, const std::vector<uint32_t>& left_rows, const std::vector<uint32_t>& right_rows,
            size_t bytes = 0) {
    st_.charge(static_cast<int64_t>(bytes), op_.name);
    chunk out;
    out.rows = left_rows.size();
    const bool left_only = op_.join_kind == "leftsemi" || op_.join_kind == "leftanti";
    for (const auto& col : left.columns) out.columns.push_back(gather(col, left_rows, left.rows));
    if (!left_only) {
      const auto& r = right_.rows();
      for (auto i : op_.right_columns) {
        const auto& src = r.columns[i];
        column_data col = vec::make(src.type, right_rows.size());
        for (auto m : right_rows) {
          // No match: null, but a string is never null in Kusto ("").
          if (m == UINT32_MAX) col.type == column_type::string ? col.append_text("") : col.append_null();
          else append_row(col, src, m);
        }
        out.columns.push_back(std::move(col));
      }
    }
    const bool more = next->push(std::move(out));
    st_.charge(-static_cast<int64_t>(bytes), op_.name);
    return more;
  }
  const bound_op& op_;
  run_state& st_;
  buffer right_;
  std::vector<uint32_t> right_bytes_;  // each right row's bytes (row_bytes)
  bool built_ = false;
  std::unordered_map<std::string, std::vector<uint32_t>> index_;
  std::unordered_set<std::string> seen_left_;
  std::vector<bool> matched_;
};

// A cell as Kusto writes it inside a dynamic array (make-series).
std::string json_value(const column_data& c, size_t r) { return dynamic_text(c, r); }

// make-series: per group, one array per aggregate over the axis bins [from, to) (step apart),
// missing bins with the default, and the axis itself. Given from and to, rows stream into
// (group, bin) cells; without them each series spans the bins that hold its data (Kusto's
// rule), so the rows are buffered until every group's range is known.
class make_series_stage final : public stage {
 public:
  make_series_stage(const bound_op& op, run_state& st)
      : op_(op), st_(st), groups_(key_schema(op)), rows_(st, op.name) {
    streaming_ = op.series_has_from && op.series_has_to;
    if (streaming_) fixed_bins_ = bins_between(op.series_from, op.series_to);
    for (const auto& a : op.aggregates) aggregators_.push_back(a.aggregate.make());
  }
  bool push(chunk c) override {
    if (!streaming_) {
      rows_.add(std::move(c));
      return true;
    }
    accumulate(c);
    return true;
  }
  void finish() override {
    if (!streaming_ && rows_.rows().rows > 0) {
      // The groups and their ranges first, then the rows into their cells.
      auto& all = rows_.rows();
      auto axis = evaluate_full(op_.series_on, all, st_);
      evaluated_list keys(op_.keys, all, st_);
      std::vector<uint32_t> ids;
      groups_.assign(keys.pointers, all.rows, ids);
      std::vector<int64_t> low(groups_.groups(), INT64_MAX), high(groups_.groups(), INT64_MIN);
      for (size_t r = 0; r < all.rows; ++r) {
        if (axis.is_null(r) || !within_given(axis.ints[r])) continue;
        low[ids[r]] = std::min(low[ids[r]], axis.ints[r]);
        high[ids[r]] = std::max(high[ids[r]], axis.ints[r]);
      }
      for (size_t g = 0; g < groups_.groups(); ++g) {
        const bool data = low[g] <= high[g];
        const int64_t from = op_.series_has_from ? op_.series_from : data ? floor_bin(low[g]) : 0;
        const int64_t to = op_.series_has_to ? op_.series_to : data ? floor_bin(high[g]) + op_.series_step : from;
        add_range(from, to);
      }
      groups_ = grouper(key_schema(op_));  // accumulate() assigns the same ids again, in the same order
      accumulate(all);
    }
    emit();
  }

 private:
  size_t bins_between(int64_t from, int64_t to) const {
    if (to <= from) return 0;
    const uint64_t n = (static_cast<uint64_t>(to) - static_cast<uint64_t>(from) + static_cast<uint64_t>(op_.series_step) - 1) /
                       static_cast<uint64_t>(op_.series_step);
    if (n > (uint64_t{1} << 20))
      fail("BadRequest_SemanticError",
           "make-series would make more than 1,048,576 points in a series; give from/to or a larger step");
    return static_cast<size_t>(n);
  }
  // The start of the bin holding `v`: datetimes from 0001-01-01 (as bin() does), numbers from 0.
  int64_t floor_bin(int64_t v) const {
    const int64_t anchor = op_.series_type == column_type::datetime ? -621'355'968'000'000'000 : 0;
    const int64_t step = op_.series_step;
    const int64_t d = v - anchor;
    const int64_t q = d >= 0 ? d / step : -((-d + step - 1) / step);
    return anchor + q * step;
  }
  bool within_given(int64_t v) const {
    return (!op_.series_has_from || v >= op_.series_from) && (!op_.series_has_to || v < op_.series_to);
  }
  void add_range(int64_t from, int64_t to) {
    const size_t bins = bins_between(from, to);
    // Every group's series is allocated whole: charged before it is (groups x bins can be far
    // more than memory even when each series is within its 2^20 points).
    st_.charge(static_cast<int64_t>(bins * (32 * aggregators_.size() + 1)), op_.name);
    offset_.push_back(cells_);
    from_.push_back(from);
    bins_.push_back(bins);
    cells_ += bins;
  }
  // The rows of `c` into their (group, bin) cells.
  void accumulate(const chunk& c) {
    auto axis = evaluate(op_.series_on, c, st_);
    evaluated_list keys(op_.keys, c, st_);
    std::vector<uint32_t> ids;
    groups_.assign(keys.pointers, c.rows, ids);
    while (streaming_ && from_.size() < groups_.groups()) add_range(op_.series_from, op_.series_to);
    std::vector<uint32_t> selection, cell;
    for (uint32_t r = 0; r < c.rows; ++r) {
      const size_t i = vec::at(axis, r);
      if (axis.is_null(i)) continue;
      const int64_t v = axis.ints[i];
      const uint32_t g = ids[r];
      if (v < from_[g]) continue;
      const uint64_t bin = static_cast<uint64_t>(v - from_[g]) / static_cast<uint64_t>(op_.series_step);
      if (bin >= bins_[g]) continue;
      selection.push_back(r);
      cell.push_back(static_cast<uint32_t>(offset_[g] + bin));
    }
    if (selection.empty()) return;
    chunk kept = gather(c, selection);
    touched_.resize(cells_, false);
    for (auto x : cell) touched_[x] = true;
    for (size_t a = 0; a < aggregators_.size(); ++a) {
      evaluated_list args(op_.aggregates[a].args, kept, st_);
      aggregators_[a]->resize(cells_);
      aggregators_[a]->update(cell.data(), kept.rows, args.pointers);
    }
    st_.charge(static_cast<int64_t>(kept.rows), op_.name);
  }
  void emit() {
    chunk out;
    out.rows = groups_.groups();
    for (auto& k : groups_.keys()) out.columns.push_back(std::move(k));
    touched_.resize(cells_, false);
    for (size_t a = 0; a < aggregators_.size(); ++a) {
      aggregators_[a]->resize(cells_);
      std::vector<column_data> results{vec::make(op_.aggregates[a].aggregate.outputs[0].type, cells_)};
      aggregators_[a]->finish(results);
      column_data arrays = vec::make(column_type::dynamic, out.rows);
      column_data def = vec::constant(results[0].type, op_.series_defaults[a]);
      for (size_t g = 0; g < out.rows; ++g) {
        std::string json = "[";
        for (size_t b = 0; b < bins_[g]; ++b) {
          if (b) json += ",";
          const size_t cell = offset_[g] + b;
          json += touched_[cell] ? json_value(results[0], cell) : json_value(def.size() ? def : results[0], 0);
        }
        arrays.append_text(json + "]");
      }
      out.columns.push_back(std::move(arrays));
    }
    column_data axis = vec::make(column_type::dynamic, out.rows);
    for (size_t g = 0; g < out.rows; ++g) {
      std::string json = "[";
      for (size_t b = 0; b < bins_[g]; ++b) {
        column_data point = vec::make(op_.series_type, 1);
        point.append_int(from_[g] + static_cast<int64_t>(b) * op_.series_step);
        json += (b ? "," : "") + json_value(point, 0);
      }
      axis.append_text(json + "]");
    }
    out.columns.push_back(std::move(axis));
    if (out.rows > 0) next->push(std::move(out));
    next->finish();
  }

  const bound_op& op_;
  run_state& st_;
  grouper groups_;
  buffer rows_;
  bool streaming_ = false;
  size_t fixed_bins_ = 0;
  // Per group: its first bin's axis value, its bins, its first cell.
  std::vector<int64_t> from_;
  std::vector<size_t> bins_, offset_;
  size_t cells_ = 0;
  std::vector<std::unique_ptr<aggregator>> aggregators_;
  std::vector<bool> touched_;
};

// mv-expand: one output row per element of each expanded array (or property of a bag), the
// expansions zipped (the shorter ones padded with null); a null value gives one row, an empty
// array none (L/mv-expand-operator).
class mv_expand_stage final : public stage {
 public:
  mv_expand_stage(const bound_op& op, run_state& st) : op_(op), st_(st) {}
  bool push(chunk c) override {
    std::vector<column_data> values;
    for (const auto& e : op_.exprs) values.push_back(evaluate(e, c, st_));
    std::vector<uint32_t> repeat;
    std::vector<column_data> expanded;
    for (size_t i = 0; i < op_.exprs.size(); ++i) expanded.push_back(vec::make(op_.expand_types[i], c.rows));
    column_data index = vec::make(column_type::long_, c.rows);
    std::vector<std::vector<std::string>> items(op_.exprs.size());
    std::vector<char> is_null(op_.exprs.size());
    for (uint32_t r = 0; r < c.rows; ++r) {
      size_t n = 0;
      for (size_t i = 0; i < values.size(); ++i) {
        items[i].clear();
        const size_t at = vec::at(values[i], r);
        is_null[i] = values[i].is_null(at);
        if (!is_null[i]) elements(values[i].text_at(at), items[i], is_null[i]);
        n = std::max(n, is_null[i] ? size_t{1} : items[i].size());
      }
      n = std::min<uint64_t>(n, op_.count);
      for (size_t k = 0; k < n; ++k) {
        repeat.push_back(r);
        for (size_t i = 0; i < values.size(); ++i) {
          if (k < items[i].size()) append_as(expanded[i], items[i][k]);
          else expanded[i].append_null();
        }
        index.append_int(static_cast<int64_t>(k));
      }
    }
    if (repeat.empty()) return true;
    // Each input row is copied once per element: a wide row and a long array multiply. The
    // copies are charged against the query's memory limit before they are made.
    int64_t bytes = 0;
    for (auto r : repeat) bytes += static_cast<int64_t>(row_bytes(c, r));
    st_.charge(bytes, op_.name);
    chunk out = gather(c, repeat);
    for (size_t i = 0; i < op_.exprs.size(); ++i) {
      const size_t to = op_.columns[i];
      if (to < out.columns.size()) out.columns[to] = std::move(expanded[i]);
      else out.columns.push_back(std::move(expanded[i]));
    }
    if (op_.with_index) out.columns.push_back(std::move(index));
    const bool more = next->push(std::move(out));
    st_.charge(-bytes, op_.name);
    return more;
  }
  void finish() override { next->finish(); }

 private:
  // The elements of one dynamic value as JSON texts; a scalar is its own single element.
  void elements(std::string_view json, std::vector<std::string>& out, char& null) const {
    auto v = nlohmann::ordered_json::parse(json, nullptr, false);
    if (v.is_discarded()) return out.push_back(std::string(json));
    if (v.is_null()) {
      null = true;
      return;
    }
    if (v.is_array()) {
      for (const auto& e : v) out.push_back(normalize_dynamic(e.dump()));
    } else if (v.is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) {
        nlohmann::ordered_json one;
        if (op_.bag_as_array) one = nlohmann::ordered_json::array({it.key(), it.value()});
        else one[it.key()] = it.value();
        out.push_back(normalize_dynamic(one.dump()));
      }
    } else {
      out.push_back(normalize_dynamic(v.dump()));
    }
  }
  // An element as the column's type: typeof() casts, it does not parse (a mismatch is null).
  static void append_as(column_data& col, const std::string& json) {
    if (col.type == column_type::dynamic) return col.append_text(json);
    auto v = nlohmann::ordered_json::parse(json, nullptr, false);
    switch (col.type) {
      case column_type::bool_:
        if (v.is_boolean()) return col.append_int(v.get<bool>() ? 1 : 0);
        break;
      case column_type::int_:
      case column_type::long_:
        if (v.is_number_integer()) return col.append_int(v.get<int64_t>());
        if (v.is_number_float() && std::trunc(v.get<double>()) == v.get<double>())
          return col.append_int(static_cast<int64_t>(v.get<double>()));
        break;
      case column_type::real:
        if (v.is_number()) return col.append_real(v.get<double>());
        break;
      case column_type::string:
      case column_type::guid:
      case column_type::decimal:
        if (v.is_string()) return col.append_text(v.get<std::string>());
        if (col.type == column_type::string) return col.append_text(json);
        break;
      case column_type::datetime:
      case column_type::timespan: {
        if (!v.is_string()) break;
        auto one = vec::constant(column_type::string, v.get<std::string>());
        const auto* f = find_scalar_function(col.type == column_type::datetime ? "todatetime" : "totimespan");
        arg_info info;
        info.type = column_type::string;
        auto bound = std::get<bound_function>(f->bind(std::span<const arg_info>(&info, 1)));
        std::vector<const column_data*> args{&one};
        eval_context ctx;
        auto converted = bound.eval(args, 1, ctx);
        return append_row(col, converted, 0);
      }
      default: break;
    }
    col.append_null();
  }
  const bound_op& op_;
  run_state& st_;
};

// parse / parse-where: the pattern's regular expression against each row's text, its groups
// into the declared columns, converted to their types (L/parse-operator, L/parse-where-operator).
class parse_stage final : public stage {
 public:
  parse_stage(const bound_op& op, run_state& st) : op_(op), st_(st), re_(op.parse_regex, re2::RE2::Quiet) {
    for (auto type : op.expand_types) {
      if (type == column_type::string) {
        converters_.emplace_back();
        continue;
      }
      const char* name = type == column_type::int_       ? "toint"
                         : type == column_type::long_    ? "tolong"
                         : type == column_type::real     ? "todouble"
                         : type == column_type::datetime ? "todatetime"
                         : type == column_type::timespan ? "totimespan"
                         : type == column_type::bool_    ? "tobool"
                         : type == column_type::guid     ? "toguid"
                         : type == column_type::decimal  ? "todecimal"
                                                         : "todynamic";
      arg_info info;
      info.type = column_type::string;
      auto bound = find_scalar_function(name)->bind(std::span<const arg_info>(&info, 1));
      if (auto* f = std::get_if<bound_function>(&bound)) converters_.push_back(std::move(f->eval));
      else fail("InternalServerError", std::string("parse: no conversion ") + name);
    }
  }
  bool push(chunk c) override {
    auto text = evaluate(op_.predicate, c, st_);
    const size_t n = op_.columns.size();
    std::vector<column_data> captured(n, vec::make(column_type::string, c.rows));
    std::vector<char> matched(c.rows, 0);
    std::vector<re2::StringPiece> groups(n + 1);
    for (size_t r = 0; r < c.rows; ++r) {
      const size_t i = vec::at(text, r);
      const auto t = text.is_null(i) ? std::string_view() : text.text_at(i);
      matched[r] = !text.is_null(i) &&
                   re_.Match(re2::StringPiece(t.data(), t.size()), 0, t.size(), re2::RE2::ANCHOR_START, groups.data(),
                             static_cast<int>(n + 1));
      for (size_t g = 0; g < n; ++g)
        captured[g].append_text(matched[r] ? std::string_view(groups[g + 1].data(), groups[g + 1].size())
                                           : std::string_view());
    }
    // Typed columns: a value that does not convert fails the row's match (simple, regex) or is
    // null (relaxed).
    std::vector<column_data> values(n);
    for (size_t g = 0; g < n; ++g) {
      if (!converters_[g]) {
        values[g] = std::move(captured[g]);
        continue;
      }
      std::vector<const column_data*> args{&captured[g]};
      values[g] = converters_[g](args, c.rows, st_.context);
      if (op_.parse_strict)
        for (size_t r = 0; r < c.rows; ++r)
          if (matched[r] && values[g].is_null(r)) matched[r] = 0;
    }
    std::vector<uint32_t> keep;
    for (uint32_t r = 0; r < c.rows; ++r)
      if (matched[r] || op_.kind == op_kind::parse) keep.push_back(r);
    if (keep.empty()) return true;
    // A row that did not match gets nulls ("" for strings).
    for (size_t g = 0; g < n; ++g) {
      column_data fixed = vec::make(op_.expand_types[g], c.rows);
      for (size_t r = 0; r < c.rows; ++r) {
        if (matched[r]) append_row(fixed, values[g], r);
        else if (fixed.type == column_type::string) fixed.append_text("");
        else fixed.append_null();
      }
      values[g] = std::move(fixed);
    }
    chunk out = std::move(c);
    for (size_t g = 0; g < n; ++g) {
      const size_t to = op_.columns[g];
      if (to < out.columns.size()) out.columns[to] = std::move(values[g]);
      else out.columns.push_back(std::move(values[g]));
    }
    if (keep.size() != out.rows) out = gather(out, keep);
    return next->push(std::move(out));
  }
  void finish() override { next->finish(); }

 private:
  const bound_op& op_;
  run_state& st_;
  re2::RE2 re_;
  std::vector<scalar_eval> converters_;
};

class getschema_stage final : public stage {
 public:
  explicit getschema_stage(const bound_op& op) : op_(op) {}
  bool push(chunk) override { return false; }
  void finish() override {
    next->push(op_.literal);
    next->finish();
  }

 private:
  const bound_op& op_;
};

std::unique_ptr<stage> make_stage(const bound_op& op, run_state& st) {
  switch (op.kind) {
    case op_kind::where: return std::make_unique<where_stage>(op, st);
    case op_kind::project:
    case op_kind::extend: return std::make_unique<project_stage>(op, st);
    case op_kind::project_keep: return std::make_unique<select_stage>(op);
    case op_kind::take: return std::make_unique<take_stage>(op.count);
    case op_kind::count: return std::make_unique<count_stage>();
    case op_kind::summarize: return std::make_unique<summarize_stage>(op, st);
    case op_kind::top:
    case op_kind::sort: return std::make_unique<sort_stage>(op, st);
    case op_kind::union_: return std::make_unique<union_stage>(op, st);
    case op_kind::join:
    case op_kind::lookup: return std::make_unique<join_stage>(op, st);
    case op_kind::make_series: return std::make_unique<make_series_stage>(op, st);
    case op_kind::getschema: return std::make_unique<getschema_stage>(op);
    case op_kind::mv_expand: return std::make_unique<mv_expand_stage>(op, st);
    case op_kind::parse:
    case op_kind::parse_where: return std::make_unique<parse_stage>(op, st);
    default: fail("InternalServerError", fmt::format("operator '{}' has no executor", op.name));
  }
}

// One node's answer to a shard part as the chunk that enters the merging pipeline: the columns
// of `shard.schema` (ops == 0: at the table's column positions, the unread ones empty), each
// row's ingestion time split off when it came along.
chunk shard_chunk(const plan& p, model::result_table& t) {
  const auto& want = p.shard.schema;
  bool same = t.columns.size() == want.size();
  for (size_t i = 0; same && i < want.size(); ++i)
    same = t.columns[i].name == want[i].name && t.columns[i].type == want[i].type;
  if (!same)
    fail("ShardSchemaMismatch",
         fmt::format("a node answered the shard part of table '{}' with different columns; the nodes are applying "
                     "different catalog versions: retry shortly",
                     p.scan.table),
         false);
  std::vector<column_data> columns;
  for (const auto& c : want) {
    columns.push_back(vec::make(c.type, 0));
    columns.back().nulls.reserve(t.rows.size());
  }
  for (auto& row : t.rows)
    for (size_t i = 0; i < row.size() && i < columns.size(); ++i) vec::append_value(columns[i], row[i]);
  chunk out;
  out.rows = t.rows.size();
  t.rows.clear();
  if (p.shard.ingestion_column) {
    out.ingestion = std::move(columns.back().ints);
    columns.pop_back();
  }
  if (p.shard.ops > 0) {
    out.columns = std::move(columns);
    return out;
  }
  out.columns.resize(p.source_schema.size());
  for (size_t i = 0, next = 0; i < p.source_schema.size(); ++i) {
    out.columns[i].type = p.source_schema[i].type;
    if (p.scan.columns[i] && next < columns.size()) out.columns[i] = std::move(columns[next++]);
  }
  return out;
}

// Runs `p`, pushing its output into `sink` (which is finished at the end).
void run_plan(const plan& p, stage& sink, run_state& st) {
  // In a cluster a table's rows are on every node: the shards run the first part of the
  // pipeline (plan.hpp, shard_part) and this node the rest over their answers.
  const bool shards = p.source == source_kind::name && st.source->distributed();
  using mk = shard_part::merge_kind;
  std::vector<std::unique_ptr<stage>> stages;
  size_t from = 0;
  if (shards) {
    from = p.shard.merge == mk::reapply ? p.shard.reapply_from : p.shard.ops;
    if (p.shard.merge == mk::count) stages.push_back(std::make_unique<count_stage>(/*sum=*/true));
    if (p.shard.merge == mk::summarize)
      stages.push_back(std::make_unique<summarize_stage>(p.ops[p.shard.ops - 1], st, /*merge=*/true));
  }
  for (size_t i = from; i < p.ops.size(); ++i) stages.push_back(make_stage(p.ops[i], st));
  for (size_t i = 0; i + 1 < stages.size(); ++i) stages[i]->next = stages[i + 1].get();
  if (!stages.empty()) stages.back()->next = &sink;
  stage& first = stages.empty() ? sink : *stages.front();
  switch (p.source) {
    case source_kind::name: {
      if (shards) {
        auto error = st.source->run_shards(
            p.shard.text, *st.options,
            [&](model::result_table&& t) {
              st.check();
              return first.push(shard_chunk(p, t));
            },
            st.stats.scan, st.warnings);
        if (error && error->code == "QueryResultSetTooLarge") {
          // A node's part came to more than one answer may carry: say which operator needs
          // every row on one node, and how to avoid it.
          const auto& stop = p.shard.ops < p.ops.size() ? p.ops[p.shard.ops].name : std::string("the query's end");
          error->message = fmt::format(
              "in a cluster, '{}' needs the rows of table '{}' from every node in one place, and a node's rows came to "
              "more than one answer holds ({}); filter or aggregate before it (where, summarize, top), so that each "
              "node sends less",
              stop, p.scan.table, error->message);
        }
        if (error) throw query_failure{*error};
        break;
      }
      auto error = st.source->scan(
          p.scan,
          [&](chunk&& c) {
            st.check();
            return first.push(std::move(c));
          },
          st.stats.scan);
      if (error) throw query_failure{*error};
      break;
    }
    case source_kind::subquery: {
      run_plan(*p.inner, first, st);
      return;  // run_plan finished `first`
    }
    default:
      for (const auto& c : p.rows)
        if (!first.push(c)) break;
      break;
  }
  first.finish();
}

// The end of the pipeline: the result's rows, within Kusto's truncation limits.
class result_sink final : public stage {
 public:
  result_sink(const std::vector<model::column>& columns, run_state& st) : st_(st) { table.columns = columns; }
  bool push(chunk c) override {
    const auto& o = *st_.options;
    for (size_t r = 0; r < c.rows; ++r) {
      std::vector<model::value> row;
      row.reserve(c.columns.size());
      size_t bytes = 16;
      for (auto& col : c.columns) {
        row.push_back(col.size() == 0 ? model::value{} : col.at(vec::at(col, r)));
        bytes += 24;
        if (const auto* s = std::get_if<std::string>(&row.back())) bytes += (s->size() + 8) / 8 * 8;
      }
      bytes_ += bytes;
      table.rows.push_back(std::move(row));
      if (!o.no_truncation && table.rows.size() > o.truncation_max_records)
        fail("QueryResultSetTooLarge",
             fmt::format("Query result set has exceeded the internal record count limit {} "
                         "(E_QUERY_RESULT_SET_TOO_LARGE); narrow the query (where, summarize, | take {}), count it "
                         "(| count), or raise the limit with set truncationmaxrecords=N; (or set notruncation;)",
                         o.truncation_max_records, o.truncation_max_records));
      if (!o.no_truncation && bytes_ > o.truncation_max_size)
        fail("QueryResultSetTooLarge",
             fmt::format("Query result set has exceeded the internal data size limit {} bytes after {} records "
                         "(E_QUERY_RESULT_SET_TOO_LARGE); narrow the query (where, project, summarize, | take {}), "
                         "count it (| count), or raise the limit with set truncationmaxsize=N;",
                         o.truncation_max_size, table.rows.size(), table.rows.size() > 1 ? table.rows.size() - 1 : 1));
    }
    st_.charge(static_cast<int64_t>(c.rows * 32), "result");
    return true;
  }
  void finish() override {}
  model::result_table table;

 private:
  run_state& st_;
  uint64_t bytes_ = 0;
};

std::chrono::nanoseconds thread_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

class prepared final : public prepared_query {
 public:
  explicit prepared(bound_query q) : q_(std::move(q)) {}
  const std::vector<model::column>& columns() const override { return q_.root->schema; }
  const std::vector<std::string>& tables() const override { return q_.tables; }
  const query_options& options() const override { return q_.options; }
  std::variant<query_result, model::error> execute(const data_source& source) override {
    run_state st;
    st.context.now_ticks = q_.now_ticks;
    st.source = &source;
    st.options = &q_.options;
    const auto start = std::chrono::steady_clock::now();
    const auto cpu_start = thread_cpu();
    result_sink sink(q_.root->schema, st);
    try {
      run_plan(*q_.root, sink, st);
    } catch (const query_failure& f) {
      return f.error;
    } catch (const std::bad_alloc&) {
      return model::error{"QueryMemoryLimitExceeded",
                          "the query ran out of memory; narrow it (where, project, a coarser summarize)", true};
    }
    query_result out;
    out.table = std::move(sink.table);
    out.visualization = q_.visualization;
    out.stats = st.stats;
    out.stats.result_rows = out.table.rows.size();
    out.stats.cpu = thread_cpu() - cpu_start;
    out.stats.elapsed = std::chrono::steady_clock::now() - start;
    out.warnings = std::move(st.warnings);
    return out;
  }

 private:
  bound_query q_;
};

void names_in(const tabular& t, const std::set<std::string>& lets, std::vector<std::string>& out);

// A name in scalar position may be a table (`x in (T2)`, toscalar(T2)): collected too; the
// node's lookup of a name that is no table is harmless.
void names_in(const expr& e, const std::set<std::string>& lets, std::vector<std::string>& out) {
  if (e.subquery) names_in(*e.subquery, lets, out);
  auto candidate = [&](const expr& x) {
    if (x.kind == expr_kind::name && !lets.count(x.name) && std::find(out.begin(), out.end(), x.name) == out.end())
      out.push_back(x.name);
  };
  if (e.kind == expr_kind::list)
    for (size_t i = 1; i < e.args.size(); ++i) candidate(*e.args[i]);
  if (e.kind == expr_kind::call && e.name == "toscalar" && e.args.size() == 1) candidate(*e.args[0]);
  if (e.operand) names_in(*e.operand, lets, out);
  for (const auto& a : e.args)
    if (a) names_in(*a, lets, out);
}

void names_in(const tabular& t, const std::set<std::string>& lets, std::vector<std::string>& out) {
  if (t.source == source_kind::name && !lets.count(t.name) &&
      std::find(out.begin(), out.end(), t.name) == out.end())
    out.push_back(t.name);
  for (const auto& l : t.legs) names_in(*l, lets, out);
  if (t.inner) names_in(*t.inner, lets, out);
  for (const auto& op : t.ops) {
    for (const auto& l : op.legs) names_in(*l, lets, out);
    if (op.right) names_in(*op.right, lets, out);
    if (op.predicate) names_in(*op.predicate, lets, out);
    for (const auto* list : {&op.exprs, &op.by})
      for (const auto& ne : *list)
        if (ne.value) names_in(*ne.value, lets, out);
    for (const auto& k : op.keys)
      if (k.value) names_in(*k.value, lets, out);
  }
  for (const auto& ne : t.exprs)
    if (ne.value) names_in(*ne.value, lets, out);
}

}  // namespace

std::optional<model::error> data_source::run_shards(const std::string&, const query_options&,
                                                    const std::function<bool(model::result_table&&)>&, scan_stats&,
                                                    std::vector<std::string>&) const {
  return model::error{"InternalServerError", "this data source holds every row: it has no shards to run", false};
}

std::variant<std::unique_ptr<prepared_query>, model::error> prepare(std::string_view text, const data_source& source,
                                                                    int64_t now_ticks, query_options defaults) {
  auto parsed = parse_kql(text);
  if (auto* e = std::get_if<model::error>(&parsed)) return *e;
  // Subqueries (in (T | ...), toscalar) run once while binding, over the same source.
  auto run_subquery = [&source, now_ticks, defaults](const plan& p) -> std::variant<model::result_table, model::error> {
    run_state st;
    st.context.now_ticks = now_ticks;
    st.source = &source;
    query_options options = defaults;
    options.no_truncation = true;  // bounded by the binder (1,000,000 values) and the memory limit
    st.options = &options;
    result_sink sink(p.schema, st);
    try {
      run_plan(p, sink, st);
    } catch (const query_failure& f) {
      return f.error;
    }
    return std::move(sink.table);
  };
  auto bound = bind(std::get<query_ast>(parsed), source, now_ticks, defaults, run_subquery);
  if (auto* e = std::get_if<model::error>(&bound)) return *e;
  return std::unique_ptr<prepared_query>(std::make_unique<prepared>(std::move(std::get<bound_query>(bound))));
}

std::vector<std::string> referenced_tables(std::string_view text) {
  auto parsed = parse_kql(text);
  std::vector<std::string> out;
  if (!std::holds_alternative<query_ast>(parsed)) return out;
  const auto& q = std::get<query_ast>(parsed);
  std::set<std::string> lets;
  for (const auto& l : q.lets) {
    if (l.table) names_in(*l.table, lets, out);
    if (l.scalar && l.scalar->kind == expr_kind::name && !lets.count(l.scalar->name) &&
        std::find(out.begin(), out.end(), l.scalar->name) == out.end())
      out.push_back(l.scalar->name);  // `let X = T;` may name a table
    lets.insert(l.name);
  }
  if (q.body) names_in(*q.body, lets, out);
  return out;
}

}  // namespace tributary::query
