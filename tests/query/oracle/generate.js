#!/usr/bin/env node
// Writes corpus.kql, the queries tests/query/conformance_test.cpp holds the engine to Kusto's
// own parser and binder on (their answers: conformance.jsonl, written by scripts/kql-oracle).
//
//   node generate.js > corpus.kql
//
// Three parts, in order:
//   1. queries.txt (the streaming-dashboard subset the parser's golden.jsonl answers);
//   2. every query of the data-driven files tests/queries/*.test, on the tables schema.json
//      declares for them (their table T is renamed per file: Basics, SortTop, Summ);
//   3. generated queries: each operator, comparison, string operator, aggregate and function
//      over the schema's tables, with unnamed expressions (to pin Kusto's Column1 / name_x
//      naming) and queries Kusto rejects (syntax and semantic errors).
// Deterministic (no randomness), so a regenerated corpus diffs cleanly.
'use strict';
const fs = require('fs');
const path = require('path');

const here = __dirname;
const repo = path.resolve(here, '..', '..', '..');
const out = [];
const section = (title) => out.push('', '# ----- ' + title + ' -----');
const q = (...queries) => { for (const s of queries) out.push(s); };

// --- 1. queries.txt -------------------------------------------------------------------
section('queries.txt');
for (const line of fs.readFileSync(path.join(here, 'queries.txt'), 'utf8').split('\n'))
  if (line.trim() && !line.trimStart().startsWith('#')) q(line);

// --- 2. tests/queries/*.test ----------------------------------------------------------
// A query may span lines; Kusto reads a newline as white space, so one line with spaces
// means the same (the .test files have no // comments inside queries).
const renameT = { 'basics.test': 'Basics', 'sort_top.test': 'SortTop', 'summarize.test': 'Summ' };
const testDir = path.join(repo, 'tests', 'queries');
for (const file of fs.readdirSync(testDir).filter((f) => f.endsWith('.test')).sort()) {
  section('tests/queries/' + file);
  const lines = fs.readFileSync(path.join(testDir, file), 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^query( unordered)?:\s*$/.test(lines[i])) continue;
    const body = [];
    for (i++; i < lines.length && !lines[i].startsWith('expect'); i++) body.push(lines[i].trim());
    let text = body.filter((l) => l).join(' ');
    // Rename the file's table T outside string literals.
    if (renameT[file]) text = text.split(/("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')/)
      .map((part, k) => (k % 2 ? part : part.replace(/\bT\b/g, renameT[file]))).join('');
    q(text);
  }
}

// --- 3. generated ---------------------------------------------------------------------
section('where: comparisons over every column type');
const cmp = ['==', '!=', '<', '<=', '>', '>='];
const operands = [['Value', '1.5'], ['Count', '3'], ['Timestamp', 'datetime(2024-01-01)'], ['Level', '"Error"'],
                  ['Count', '2.5'], ['Value', '2'], ['Timestamp', 'ago(1h)']];
for (const [col, lit] of operands) for (const op of cmp) q(`T | where ${col} ${op} ${lit}`);
q('T | where Timestamp - ago(1d) > 1h', 'T | where Count == Value', 'T | where Props.a == 1',
  'T | where Props.a == "x"', 'T | where tostring(Props.a) == "x"', 'T | where Level == 1',
  'T | where Timestamp > 5', 'T | where Timestamp > "2024-01-01"', 'T | where Value', 'T | where Count',
  'T | where Level', 'T | where true', 'T | where isnull(Props)', 'T | where Props has "x"');

section('where: string operators');
const strOps = ['=~', '!~', 'has', '!has', 'has_cs', '!has_cs', 'hasprefix', '!hasprefix', 'hasprefix_cs',
  '!hasprefix_cs', 'hassuffix', '!hassuffix', 'hassuffix_cs', '!hassuffix_cs', 'contains', '!contains',
  'contains_cs', '!contains_cs', 'startswith', '!startswith', 'startswith_cs', '!startswith_cs', 'endswith',
  '!endswith', 'endswith_cs', '!endswith_cs', 'matches regex'];
for (const op of strOps) q(`T | where Message ${op} "abc"`);
for (const op of ['has', 'contains', '=~', 'startswith']) q(`T | where Count ${op} "1"`, `T | where Value ${op} "1"`);
q('T | where Message matches regex "[0-9]+"', 'T | where Message matches regex Level');
q('T | where Level in ("a", "b")', 'T | where Level !in ("a")', 'T | where Level in~ ("A")', 'T | where Level !in~ ("A")',
  'T | where Count in (1, 2, 3)', 'T | where Value in (1.5, 2)', 'T | where Count in (1, "x")',
  'T | where Message has_any ("a", "b")', 'T | where Message has_all ("a", "b")',
  'T | where Level in ((T | distinct Level))', 'T | where Level in (dynamic(["a", "b"]))',
  'T | where Value between (1 .. 2)', 'T | where Value !between (1 .. 2)', 'T | where Count between (1 .. 10)',
  'T | where Timestamp between (ago(1d) .. now())', 'T | where Timestamp between (ago(1d) .. 1h)',
  'T | where Level between ("a" .. "b")', 'T | where Level in ()', 'T | where Level in "a"');
q('T | where Level == "a" and Count > 1 or not(Value < 2)', 'T | where Level == "a" and', 'T | where',
  'T | where Level == "a" | where Count > 1 | where Value < 2', 'T | filter Level == "a"');

section('summarize: every aggregate');
const aggs = ['count()', 'countif(Level == "a")', 'sum(Value)', 'sum(Count)', 'sumif(Value, Count > 1)',
  'avg(Value)', 'avg(Count)', 'avgif(Count, Level == "a")', 'min(Value)', 'max(Timestamp)', 'min(Level)',
  'max(Count)', 'minif(Value, Count > 1)', 'maxif(Timestamp, Count > 1)', 'dcount(Level)', 'dcount(Level, 3)',
  'dcountif(Level, Count > 1)', 'count_distinct(Level)', 'percentile(Value, 50)', 'percentile(Count, 99.9)',
  'percentile(Timestamp, 50)', 'percentiles(Value, 50, 90)', 'percentiles(Count, 5, 50, 95)',
  'percentiles_array(Value, 50, 90)', 'stdev(Value)', 'stdevp(Value)', 'stdevif(Value, Count > 1)',
  'variance(Value)', 'variancep(Count)', 'varianceif(Value, Count > 1)', 'make_list(Level)',
  'make_list(Level, 10)', 'make_list_if(Level, Count > 1)', 'make_list_with_nulls(Value)', 'make_set(Level)',
  'make_set(Count, 5)', 'make_set_if(Level, Count > 1)', 'make_bag(Props)', 'arg_max(Timestamp, *)',
  'arg_max(Timestamp, Level)', 'arg_max(Value, Level, Count)', 'arg_min(Timestamp, *)', 'arg_min(Count, Message)',
  'any(Level)', 'any(Level, Value)', 'any(*)', 'take_any(Level)', 'take_any(Level, Count)', 'take_anyif(Level, Count > 1)',
  'hll(Level)', 'tdigest(Value)', 'avg(Timestamp)', 'sum(Timestamp)', 'sum(Level)', 'avg(Level)', 'count(Level)',
  'countif(Count)', 'binary_all_or(Count)', 'buildschema(Props)', 'min(Props)', 'sum(Props)',
  'percentilew(Value, Count, 50)', 'percentilesw(Value, Count, 50, 90)'];
for (const a of aggs) q(`T | summarize ${a}`);
for (const a of aggs.slice(0, 30)) q(`T | summarize ${a} by Level`);
q('T | summarize A = count(), B = sum(Value), avg(Value) by Level',
  'T | summarize count(), count()', 'T | summarize sum(Value), sum(Value) by Level',
  'T | summarize sum(Value), sum_Value = 1 by Level', 'T | summarize count() by Level, Level',
  'T | summarize sum(Value) + 1', 'T | summarize Total = sum(Value) * 2, count() by Level',
  'T | summarize count() / 2', 'T | summarize tostring(count())', 'T | summarize x = 1',
  'T | summarize by Level', 'T | summarize', 'T | summarize count() by', 'T | summarize count(), by Level',
  'T | summarize arg_max(Timestamp, *) by Level', 'T | summarize arg_max(Timestamp, Level) by Level',
  'T | summarize arg_max(Timestamp, Timestamp) by Level', 'T | summarize make_list(Level) by Level',
  'T | summarize percentiles(Value, 50, 50)', 'T | summarize percentiles(Value, 99.9, 0.5)',
  'T | summarize percentile(Value, 50), percentile(Value, 90)', 'T | summarize max(Value) by Count',
  'T | summarize count() by Props.host', 'T | summarize count() by Props["host"]', 'T | summarize count() by Props',
  'T | summarize count() by tostring(Props.host), tolower(Level)', 'T | summarize count() by strlen(Level)',
  'T | summarize count() by Level = tolower(Level)', 'T | summarize count() by Count + 1',
  'T | summarize count() by Value > 1', 'T | summarize hint.shufflekey=Level count() by Level',
  'T | summarize hint.strategy=shuffle count() by Level', 'T | summarize count() by Message has "x"',
  'T | summarize count(Level)', 'T | summarize sum(Nope)', 'T | summarize nope(Value)', 'T | summarize sum()',
  'T | summarize sum(Value, Count)', 'T | summarize dcount()', 'T | summarize percentile(Value)',
  'T | summarize Level', 'T | summarize count() by sum(Value)', 'T | where sum(Value) > 1');

section('summarize: bin keys');
q('T | summarize count() by bin(Timestamp, 1m)', 'T | summarize count() by bin(Timestamp, 1h), Level',
  'T | summarize count() by bin(Value, 10)', 'T | summarize count() by bin(Value, 0.5)', 'T | summarize count() by bin(Count, 5)',
  'T | summarize count() by bin(Count, 2.5)', 'T | summarize count() by floor(Timestamp, 1d)',
  'T | summarize count() by bin_at(Timestamp, 1h, datetime(2024-01-01 00:30))', 'T | summarize count() by bin_at(Value, 10, 5)',
  'T | summarize count() by startofday(Timestamp)', 'T | summarize count() by startofweek(Timestamp)',
  'T | summarize count() by startofmonth(Timestamp)', 'T | summarize count() by bin(Timestamp, 1m), bin(Value, 1)',
  'T | summarize count() by B = bin(Timestamp, 1m)', 'T | summarize count() by bin(Timestamp, 1m) | sort by Timestamp',
  'T | summarize count() by bin(Timestamp, "1m")', 'T | summarize count() by bin(Level, 1)',
  'T | summarize count() by bin(Timestamp)', 'T | summarize count() by bin(Timestamp, 1m, 2)',
  'T | summarize count() by bin(Count, 1h)', 'T | summarize count() by bin(totimespan(Count), 1h)',
  'T | summarize count() by bin(Timestamp - ago(1d), 1h)', 'T | summarize count() by hourofday(Timestamp)',
  'T | summarize count() by dayofweek(Timestamp)', 'T | summarize count() by getmonth(Timestamp)');

section('project / extend: names of unnamed expressions');
const exprs = ['Value', 'Value * 2', 'Value + Count', '-Value', 'Count % 3', 'Count / 2', 'Value / 2',
  '(Value)', 'Props.a', 'Props.a.b', 'Props["a"]', "Props['a b']", 'Props[0]', 'Props.a[0]', 'Props[Level]',
  '1', '"x"', 'true', 'now()', 'ago(1h)', 'Level == "a"', 'Level has "a"', 'Value between (1 .. 2)',
  'Level in ("a")', 'not(Level == "a")', 'iff(Count > 1, "a", "b")', 'iif(Count > 1, 1, 2)',
  'case(Count > 1, "a", "b")', 'coalesce(Value, 0.0)', 'isnull(Value)', 'isnotnull(Value)', 'isempty(Level)',
  'isnotempty(Level)', 'tostring(Value)', 'tostring(Props.a)', 'toint(Value)', 'tolong(Value)', 'toreal(Count)',
  'todouble(Count)', 'todecimal(Count)', 'tobool(Count)', 'todatetime(Level)', 'totimespan(Level)', 'toguid(Level)',
  'todynamic(Message)', 'parse_json(Message)', 'parse_json(Message).a', 'tolower(Level)', 'toupper(Level)',
  'strlen(Message)', 'substring(Message, 1)', 'substring(Message, 1, 2)', 'strcat(Level, Message)',
  'strcat_delim("-", Level, Message)', 'trim(" ", Level)', 'trim_start(" ", Level)', 'trim_end(" ", Level)',
  'replace_string(Message, "a", "b")', 'replace_regex(Message, "a", "b")', 'replace(@"a", "b", Message)',
  'extract("([0-9]+)", 1, Message)', 'extract("([0-9]+)", 1, Message, typeof(long))', 'extract_all("([0-9]+)", Message)',
  'split(Message, ",")', 'split(Message, ",", 0)', 'indexof(Message, "a")', 'countof(Message, "a")', 'reverse(Level)',
  'strrep(Level, 2)', 'strcmp(Level, Message)', 'string_size(Message)', 'url_encode(Message)', 'url_decode(Message)',
  'base64_encode_tostring(Message)', 'base64_decode_tostring(Message)', 'hash(Level)', 'hash(Level, 10)', 'tohex(Count)',
  'abs(Value)', 'abs(Count)', 'ceiling(Value)', 'floor(Value, 1)', 'round(Value)', 'round(Value, 2)', 'sqrt(Value)',
  'exp(Value)', 'log(Value)', 'log10(Value)', 'log2(Value)', 'pow(Value, 2)', 'sign(Value)', 'pi()',
  'max_of(Value, Count)', 'min_of(Count, 1)', 'bin(Value, 1)', 'bin(Timestamp, 1h)', 'bin_at(Timestamp, 1h, now())',
  'datetime_add("day", 1, Timestamp)', 'datetime_diff("day", Timestamp, now())', 'datetime_part("hour", Timestamp)',
  'format_datetime(Timestamp, "yyyy-MM-dd")', 'format_timespan(1h, "hh:mm")', 'dayofweek(Timestamp)',
  'dayofmonth(Timestamp)', 'dayofyear(Timestamp)', 'hourofday(Timestamp)', 'getmonth(Timestamp)', 'getyear(Timestamp)',
  'monthofyear(Timestamp)', 'weekofyear(Timestamp)', 'week_of_year(Timestamp)', 'startofday(Timestamp)',
  'startofweek(Timestamp)', 'startofmonth(Timestamp)', 'startofyear(Timestamp)', 'endofday(Timestamp)',
  'make_datetime(2024, 1, 1)', 'make_timespan(1, 2)', 'unixtime_seconds_todatetime(Count)',
  'unixtime_milliseconds_todatetime(Count)', 'Timestamp - ago(1d)', 'Timestamp + 1h', '1h * 2', '1h / 2',
  'now() - Timestamp', 'array_length(Props)', 'bag_keys(Props)', 'pack("a", Level)', 'bag_pack("a", Level)',
  'pack_array(Level, Message)', 'dynamic([1, 2])', 'dynamic({"a": 1})', 'typeof(Value)', 'gettype(Value)',
  'new_guid()', 'rand()', 'ingestion_time()', 'Level . "x"', 'Count > 1 and Value < 2', 'Count > 1 or Value < 2',
  'year(Timestamp)', 'month(Timestamp)', 'datetime(2024-01-01)', 'time(1h)', 'timespan(1d)', 'int(1)', 'long(1)',
  'real(1)', 'real(nan)', 'decimal(1.5)', 'guid(74be27de-1e4e-49d9-b579-fe0b331d3642)', 'bool(true)', 'dynamic(null)',
  'string(null)', 'int(null)', '1.5', '1e3', '0x10', 'h"x"', '@"x\\y"', 'columnifexists("Level", "")',
  'column_ifexists("Nope", 0)', 'toscalar(T | count)', 'materialize(1)'];
for (const e of exprs) q(`T | project ${e}`);
for (const e of exprs) q(`T | extend ${e}`);
q('T | project Value * 2, Count * 2, tolower(Level)', 'T | extend Value * 2, Value * 3',
  'T | project Value, Value', 'T | project Value, Value2 = Value, Value * 2', 'T | project Column1 = 1, 2',
  'T | extend Column1 = 1, 2', 'T | extend x = 1, x = 2', 'T | extend Value = 1', 'T | extend Level = 1',
  'T | project tolower(Level), tolower(Level)', 'T | project Props.a, Props.a', 'T | project Props.a, Props_a = 1',
  'T | extend Props.a, Props.b', 'T | extend tostring(Props.a)', 'T | project a = 1, b = a + 1',
  'T | extend a = 1, b = a + 1', 'T | extend (a, b) = (1, 2)', 'T | project Nope', 'T | extend x = Nope + 1',
  'T | project', 'T | project Value,', 'T | project 1 +', 'T | extend = 1', 'T | project nope(Level)',
  'T | project strlen(1)', 'T | project substring(Message)', 'T | project tolower(Level, 1)', 'T | project Value + Level',
  'T | project Timestamp + Timestamp', 'T | project Timestamp - Timestamp', 'T | project Level * 2',
  'T | project ["Value"]', "T | project ['Level']", 'T | project ["my col"] = 1', 'T | project-away Value',
  'T | project-away V*', 'T | project-away Nope', 'T | project-keep Value, L*', 'T | project-keep Nope',
  'T | project-rename V = Value', 'T | project-rename V = Nope', 'T | project-rename Level = Value',
  'T | project-reorder Value, Level', 'T | project-reorder Value desc', 'T | project-reorder Nope',
  'T | project-reorder V* asc', 'T | project tostring(Props[Level])', 'T | project Props.a[Level]', 'T | project Props[Count]',
  'T | summarize count() by tostring(Props[Level])', 'T | summarize max(ingestion_time())',
  'T | summarize count() by bin(ingestion_time(), 1h)', 'T | where ingestion_time() > ago(1h) | project ingestion_time()',
  'let x = 1; T | project x', 'let x = 1; T | extend x', 'print x = 1, Column1 = 2, 3', 'T | project Column2 = 1, 2, 3',
  'T | extend Column1 = 1, 2, 3', 'T | project Value * 2, Column1 = 1', 'T | extend Column2 = 1, Value * 2, Value * 3');

section('sort / top / take / distinct / count');
q('T | sort by Value', 'T | sort by Value asc', 'T | sort by Value desc nulls first', 'T | order by Level, Count desc',
  'T | sort by Props', 'T | sort by strlen(Level)', 'T | sort by Nope', 'T | sort by', 'T | sort Value',
  'T | top 3 by Value', 'T | top 3 by Value desc nulls last', 'T | top 3 by strlen(Level)', 'T | top by Value',
  'T | top 3', 'T | top Count by Value', 'T | top 3 by Value | project Level',
  'T | take 3', 'T | take 0', 'T | limit 3', 'T | take "3"', 'T | take', 'T | take -1', 'T | take Count', 'T | sample 3',
  'T | distinct Level', 'T | distinct Level, Count', 'T | distinct *', 'T | distinct tolower(Level)',
  'T | distinct Nope', 'T | distinct', 'T | count', 'T | count | count', 'T | count | extend x = Count * 2',
  'T | count by Level', 'T | as X1 | count', 'T | summarize count() | count', 'T | top-hitters 3 of Level',
  'T | top-nested 3 of Level by count()');

section('union / join / lookup');
q('union T, StormEvents | take 1', 'union withsource=Src T, X | take 1', 'union kind=inner T, Summ | take 1',
  'union T, T | count', 'union X, Y', 'union kind=outer X, Y', 'union isfuzzy=true T, Nope', 'union T, Nope',
  'T | union X', 'T | union kind=inner Summ', 'union (T | project Level), (X | project Level = Key)',
  'union (T | project a = Count), (X | project a = Key)', 'union (T | project a = Count), (T | project a = Value)',
  'union (T | project a = Count), (T | project a = toint(Count))', 'union *',
  'X | join Y on Key', 'X | join kind=inner Y on Key', 'X | join kind=leftouter Y on Key',
  'X | join kind=rightouter Y on Key', 'X | join kind=fullouter Y on Key', 'X | join kind=leftanti Y on Key',
  'X | join kind=rightanti Y on Key', 'X | join kind=leftsemi Y on Key', 'X | join kind=rightsemi Y on Key',
  'X | join kind=innerunique Y on Key', 'X | join kind=anti Y on Key', 'X | join kind=nope Y on Key',
  'X | join Y on $left.Key == $right.Key', 'X | join Y on $left.Value1 == $right.Value2',
  'X | join (Y | project Key, V = Value2) on Key', 'X | join X on Key', 'X | join kind=inner X on Key, Value1',
  'X | join Y on Nope', 'X | join Y on $left.Key == $right.Nope', 'X | join Y', 'X | join Y on',
  'X | join Y on $left.Key < $right.Key', 'X | join hint.strategy=broadcast Y on Key',
  'T | join (T | summarize Max = max(Value) by Level) on Level',
  'X | lookup Y on Key', 'X | lookup kind=inner Y on Key', 'X | lookup kind=leftouter Y on Key',
  'X | lookup (Y | project Key, V = Value2) on Key', 'X | lookup Y on $left.Key == $right.Key', 'X | lookup Y on Nope',
  'X | lookup kind=rightouter Y on Key');

section('make-series / getschema / render');
q('T | make-series count() on Timestamp step 1h', 'T | make-series count() default=0 on Timestamp from ago(1d) to now() step 1h',
  'T | make-series avg(Value), sum(Count) on Timestamp step 1h by Level', 'T | make-series n = count() on Timestamp step 1h',
  'T | make-series max(Value) on Timestamp in range(ago(1d), now(), 1h)', 'T | make-series count() on Value step 1',
  'T | make-series count() on Count from 0 to 100 step 10', 'T | make-series count() on Timestamp',
  'T | make-series count() on Level step 1', 'T | make-series Value on Timestamp step 1h',
  'T | make-series dcount(Level), make_list(Level) on Timestamp step 1h',
  'T | make-series count() on bin(Timestamp, 1h) step 1h', 'T | make-series count() on Timestamp step 1h by tostring(Props.a)');
q('T | getschema', 'X | getschema', 'T | project Level | getschema', 'print 1 | getschema', 'T | summarize count() by Level | getschema');
q('T | render timechart', 'T | render barchart', 'T | render piechart', 'T | render table',
  'T | render timechart with (title="x")', 'T | render timechart with (ytitle="y", xcolumn=Timestamp)',
  'T | render nope', 'T | render', 'T | render timechart | count', 'T | render columnchart with (kind=stacked)');

section('datatable / print / range / let');
q('print 1', 'print 1, 2', 'print x = 1', 'print x = 1, 2', 'print x = 1, x = 2', 'print 1 + 2, "a"',
  'print strlen("abc")', 'print tolower("A"), toupper("a")', 'print now()', 'print Value', 'print',
  'print 1,', 'print bin(5, 2)', 'print iff(true, 1, 2.5)', 'print iff(true, 1, "a")', 'print case(true, 1, 2)',
  'print coalesce(1, 2)', 'print 1 / 0', 'print 1.0 / 0', 'print 1 == 1.0', 'print "a" == 1', 'print dynamic([1]) == 1',
  'print toint(1.5) + tolong(2)', 'print int(1) + int(2)', 'print int(1) * 2', 'print 1m + 1d', 'print datetime(2024-01-01) + 1d',
  'print datetime(2024-01-01) - datetime(2023-01-01)', 'print datetime(2024-01-01) + datetime(2023-01-01)',
  'print 1 < "a"', 'print max_of(1, 2.5)', 'print max_of(1, "a")', 'print x = 1 | extend y = x * 2',
  'print pack_array(1, 2)', 'print dynamic({"a": [1, 2]}).a[0]', 'print parse_json("[1]")[0]',
  'print 1 | getschema', 'print a = 1 | project a + 1', 'print 1 | as X1');
q('range x from 1 to 10 step 1', 'range x from 1 to 10 step 2 | summarize sum(x)', 'range x from 1.5 to 3 step 0.5',
  'range t from ago(1h) to now() step 1m', 'range x from 1 to 10', 'range x from "a" to "b" step 1',
  'range x from 1 to 10 step 1 | extend y = x * 2 | project y', 'range x from 1 to 3 step 1 | project x, x * 2');
q('datatable(a:long, b:string)[1, "x"]', 'datatable(a:long, b:string)[1, "x", 2, "y"] | where a > 1',
  'datatable(a:int, b:real, c:bool, d:datetime, e:timespan, f:dynamic, g:guid, h:decimal)[]',
  'datatable(a:long)[1, 2, 3] | summarize sum(a)', 'datatable(a:long)["x"]', 'datatable(a:long, b:string)[1]',
  'datatable(a:nope)[1]', 'datatable(a:long)', 'datatable(a:double, b:date, c:time, d:boolean)[]',
  'datatable(a:long)[1] | join (datatable(a:long, b:string)[1, "x"]) on a');
q('let x = 1; T | extend y = x', 'let x = 1; print x', 'let t = T | where Count > 1; t | count',
  'let t = T; t | union t | count', 'let f = (a:long) { a * 2 }; print f(2)', 'let f = (a:long) { a * 2 }; T | extend f(Count)',
  'let f = () { T | take 1 }; f()', 'let x = 5m; T | where Timestamp > ago(x)', 'let x = "a"; T | where Level == x',
  'let x = dynamic(["a"]); T | where Level in (x)', 'let x = toscalar(T | count); print x', 'let x = 1; let y = x + 1; print y',
  'let x = 1', 'let x = ; print 1', 'let x = 1 print x', 'let T = 1; print T', 'let x = Nope; print x',
  'let t = T; t | where Nope > 1', 'let x = 1; print x | extend x2 = x * 2', 'let x = materialize(T | take 1); x | count',
  'let m = (T | summarize c = count() by Level); m | join m on Level');

section('mv-expand / parse / other operators');
q('T | mv-expand Props', 'T | mv-expand Props to typeof(string)', 'T | mv-expand x = Props', 'T | mv-apply Props on (take 1)',
  'T | parse Message with "a" x " " y:long', 'T | parse-where Message with * "id=" id:long', 'T | extend x = 1 | project-away x',
  'T | serialize | extend n = row_number()', 'T | extend n = row_number()', 'T | invoke f()', 'T | evaluate bag_unpack(Props)',
  'T | summarize count() by Level | where count_ > 1', 'T | summarize count() by Level | where count_ > 1 | sort by count_',
  'T | summarize c = count() by Level | top 1 by c', 'T | where Level == "a" | summarize count() | extend r = count_ * 2',
  'T | project-away *', 'T | extend x = Props.a | summarize count() by tostring(x)', 'T | summarize make_list(Level) | mv-expand list_Level');

section('StormEvents');
q('StormEvents | summarize count() by State | top 5 by count_', 'StormEvents | summarize sum(DamageProperty), avg(InjuriesDirect) by EventType',
  'StormEvents | project StartTime, EndTime, Duration = EndTime - StartTime', 'StormEvents | extend EndTime - StartTime',
  'StormEvents | summarize max(EpisodeId) by bin(StartTime, 7d)', 'StormEvents | where State == "TEXAS" | count',
  'StormEvents | project InjuriesDirect + InjuriesIndirect', 'StormEvents | extend toint(BeginLat)',
  'StormEvents | summarize percentiles(DamageCrops, 50, 95) by State', 'StormEvents | summarize sum(DamageCrops) by State',
  'StormEvents | extend StormSummary.Details', 'StormEvents | project StormSummary.Details.Location',
  'StormEvents | summarize dcount(State) by EventType', 'StormEvents | make-series count() on StartTime step 1d by State',
  'StormEvents | summarize avg(BeginLat), min(EndLon) by Source', 'StormEvents | summarize count() by bin(BeginLat, 1)',
  'StormEvents | where DamageProperty > 0 | summarize arg_max(DamageProperty, *) by State',
  // int columns: which aggregates keep int and which widen to long
  'StormEvents | summarize sum(EpisodeId), min(EpisodeId), max(EpisodeId), avg(EpisodeId), percentile(EpisodeId, 50)',
  'StormEvents | summarize any(EpisodeId), make_list(EpisodeId), make_set(EpisodeId), dcount(EpisodeId), stdev(EpisodeId)',
  'StormEvents | summarize sumif(EpisodeId, EventId > 1), arg_max(EpisodeId, EventId), variance(EpisodeId)',
  'StormEvents | project EpisodeId + 1, EpisodeId * EventId, EpisodeId / 2, -EpisodeId, abs(EpisodeId), EpisodeId % 2',
  'StormEvents | summarize count() by bin(EpisodeId, 10)', 'StormEvents | top 3 by EpisodeId | project EpisodeId');

section('syntax errors');
q('T |', 'T | | count', 'T || count', '| count', 'T | where (Level == "a"', 'T | where Level == "a")',
  'T | where Level == "a', "T | where Level == 'a", 'T | summarize count( by Level', 'T | project a = ', 'T | extend 1 = a',
  'T | take 1 2', 'T | nope', 'T | where Level = "a"', 'T | sort by Value ascending', 'T count', 'T | count()',
  'print 1 +* 2', 'print (', 'print )', 'print [1]', 'print 1..2', 'print 0x', 'print datetime(', 'print dynamic([1,])',
  'T | where Level == "a" and and Count > 1', 'T | project Value Value', 'T | summarize by', 'let = 1; print 1',
  'T | join on Key', 'T | top 3 by', 'T | make-series on Timestamp step 1h', 'T | render timechart with',
  'T | where Level in ("a",)', 'print 1;;', 'T | extend x = 1,', 'T | distinct ,', 'T | project-away',
  'T | summarize count() by bin(Timestamp, 1m', 'T | take 10 | ', 'T | where Level == @"a', 'print 1 print 2');

section('semantic errors');
q('Nope | count', 'T | where Nope == 1', 'T | project Nope', 'X | join Nope on Key', 'T | where Level + 1 > 2',
  'T | where strlen(Level, 1) > 1', 'T | where nope(Level)', 'T | where Level', 'T | summarize count() by Nope',
  'T | sort by Nope', 'T | top 3 by Nope', 'T | extend x = Level * 2', 'T | where Timestamp > ago("x")',
  'T | where Timestamp > ago(1)', 'print ago(1)', 'print strlen(1)', 'print tolower(1)', 'print substring("a", "b")',
  'print bin(now(), "a")', 'print datetime_add("nope", 1, now())', 'print 1 + "a"', 'print now() + now()',
  'print iff(1, 2, 3)', 'print iff("a", 2, 3)', 'print case(1, 2, 3)', 'print not(1)', 'print -"a"', 'print !true',
  'T | summarize sum(Level)', 'T | summarize avg(Props)', 'T | summarize percentile(Level, 50)',
  'T | summarize percentile(Value, "x")', 'T | summarize countif(Value)', 'T | summarize dcount(Level, "x")',
  'T | summarize make_list(Level, "x")', 'T | summarize arg_max(Level)', 'T | summarize arg_max()',
  'T | extend count()', 'T | where count() > 1', 'T | project sum(Value)', 'print count()', 'print sum(1)',
  'T | mv-expand Nope', 'T | getschema | where Nope == 1', 'T | distinct Level | project Value',
  'T | summarize count() by Level | project Value', 'T | project Level | where Value > 1', 'T | count | project Level',
  'X | join Y on $left.Key == $right.Value2', 'T | where Props > 1', 'T | where Level > "a"', 'T | take 1.5',
  'T | top 1.5 by Value', 'T | sort by Props.a', 'T | where Level has 1', 'T | where Count contains "1"',
  'T | where Level in (1, 2)', 'T | where Value between ("a" .. "b")', 'T | where Timestamp between (1 .. 2)',
  'T | make-series count() on Level step 1h', 'T | extend x = Timestamp * 2', 'T | extend x = Timestamp / 2',
  'T | where isnull()', 'T | where isempty(1)', 'T | project tostring()', 'T | project todouble(Props)',
  'T | project toint("1")', 'T | project tolong(Timestamp)', 'T | project todatetime(Count)', 'T | project totimespan(Value)');

process.stdout.write(['# Corpus for tests/query/conformance_test.cpp: one query a line, "#" starts a comment.',
  '# Written by tests/query/oracle/generate.js (edit that, then run scripts/kql-oracle).'].concat(out).join('\n') + '\n');
