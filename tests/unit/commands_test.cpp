#include <gtest/gtest.h>

#include "test_util.hpp"

namespace tributary::testing {
namespace {

using change_kind = model::change::kind;

// --- databases ---

TEST(create_database, creates_with_a_fresh_id_one_change_and_one_version) {
  model::catalog cat;
  auto ex = run(cat, ".create database Telemetry");
  EXPECT_EQ(ex.kind, "create_database");
  auto r = table_of(ex);
  EXPECT_EQ(column_names(r), "DatabaseName,PersistentStorage,Version,IsCurrent,DatabaseAccessMode,PrettyName,DatabaseId");
  EXPECT_EQ(r.columns[3].type, model::column_type::bool_);
  EXPECT_EQ(r.columns[6].type, model::column_type::guid);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(cell(r, 0, "DatabaseName"), "Telemetry");
  EXPECT_EQ(cell(r, 0, "IsCurrent"), "false");
  EXPECT_EQ(cell(r, 0, "DatabaseAccessMode"), "ReadWrite");
  EXPECT_EQ(cell(r, 0, "DatabaseId"), "00000000-0000-0000-0000-000000000001");
  ASSERT_EQ(ex.changes.size(), 1u);
  EXPECT_EQ(ex.changes[0].what, change_kind::put_database);
  EXPECT_EQ(ex.changes[0].database, model::database_id{1});
  EXPECT_EQ(ex.changes[0].database_name, "Telemetry");
  EXPECT_EQ(cat.version, 1u);
  EXPECT_EQ(cat.next_id, 2u);
  ASSERT_NE(cat.find_database("Telemetry"), nullptr);
}

TEST(create_database, existing_fails_unless_ifnotexists_which_changes_nothing) {
  model::catalog cat;
  ok(cat, ".create database D");
  auto before = snapshot(cat);
  auto e = fails(cat, ".create database D");
  EXPECT_EQ(e.code, "BadRequest_EntityAlreadyExists");
  EXPECT_HAS(e.message, "Database 'D' already exists");
  EXPECT_HAS(e.message, ".create database D ifnotexists");
  EXPECT_EQ(snapshot(cat), before);
  auto ex = run(cat, ".create database D ifnotexists", "D");
  EXPECT_TRUE(ex.changes.empty());
  auto r = table_of(ex);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(cell(r, 0, "IsCurrent"), "true");
  EXPECT_EQ(snapshot(cat), before);
}

TEST(show_databases, sorted_with_is_current_and_needs_no_context) {
  model::catalog cat;
  ok(cat, ".create database b");
  ok(cat, ".create database A");
  ok(cat, ".create database c");
  auto ex = run(cat, ".show databases", "b");
  EXPECT_EQ(ex.kind, "show_databases");
  EXPECT_TRUE(ex.changes.empty());
  auto r = table_of(ex);
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_TRUE(well_formed(r));
  EXPECT_EQ(cell(r, 0, "DatabaseName"), "A");
  EXPECT_EQ(cell(r, 1, "DatabaseName"), "b");
  EXPECT_EQ(cell(r, 2, "DatabaseName"), "c");
  EXPECT_EQ(cell(r, 1, "IsCurrent"), "true");
  EXPECT_EQ(cell(r, 0, "IsCurrent"), "false");
  EXPECT_EQ(table_of(run(cat, ".show databases")).rows.size(), 3u);
}

TEST(drop_database, deletes_it_with_its_tables_and_returns_the_rest) {
  auto cat = sample_catalog();
  ok(cat, ".create database Other");
  auto id = cat.find_database("Db")->id;
  auto version = cat.version;
  auto ex = run(cat, ".drop database Db");
  EXPECT_EQ(ex.kind, "drop_database");
  ASSERT_EQ(ex.changes.size(), 1u);
  EXPECT_EQ(ex.changes[0].what, change_kind::delete_database);
  EXPECT_EQ(ex.changes[0].database, id);
  EXPECT_EQ(ex.changes[0].database_name, "Db");
  auto r = table_of(ex);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(cell(r, 0, "DatabaseName"), "Other");
  EXPECT_EQ(cat.find_database("Db"), nullptr);
  EXPECT_EQ(cat.version, version + 1);
}

TEST(drop_database, missing_fails_unless_ifexists) {
  model::catalog cat;
  ok(cat, ".create database A");
  auto e = fails(cat, ".drop database Nope");
  EXPECT_EQ(e.code, "BadRequest_DatabaseNotExist");
  EXPECT_HAS(e.message, "Database 'Nope' does not exist");
  EXPECT_HAS(e.message, "existing databases: 'A'");
  auto ex = run(cat, ".drop database Nope ifexists");
  EXPECT_TRUE(ex.changes.empty());
  EXPECT_EQ(table_of(ex).rows.size(), 1u);
  EXPECT_EQ(cat.version, 1u);
}

// --- tables ---

TEST(create_table, returns_the_schema_and_records_the_change) {
  model::catalog cat;
  ok(cat, ".create database Db");
  auto ex = run(cat, ".create table Logs (Timestamp:datetime, ['Level name']:string, Count:long) with (folder='Ops', docstring='App logs')", "Db");
  EXPECT_EQ(ex.kind, "create_table");
  auto r = table_of(ex);
  EXPECT_EQ(column_names(r), "TableName,Schema,DatabaseName,Folder,DocString");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(cell(r, 0, "TableName"), "Logs");
  EXPECT_EQ(cell(r, 0, "Schema"), "Timestamp:datetime, ['Level name']:string, Count:long");
  EXPECT_EQ(cell(r, 0, "DatabaseName"), "Db");
  EXPECT_EQ(cell(r, 0, "Folder"), "Ops");
  EXPECT_EQ(cell(r, 0, "DocString"), "App logs");
  ASSERT_EQ(ex.changes.size(), 1u);
  EXPECT_EQ(ex.changes[0].what, change_kind::put_table);
  EXPECT_EQ(ex.changes[0].database_name, "Db");
  EXPECT_EQ(ex.changes[0].database, cat.find_database("Db")->id);
  EXPECT_EQ(ex.changes[0].table_name, "Logs");
  EXPECT_EQ(ex.changes[0].table, cat.find_database("Db")->tables.at("Logs").id);
  EXPECT_EQ(cat.version, 2u);
}

TEST(create_table, existing_table_is_returned_unchanged_even_with_another_schema) {
  auto cat = sample_catalog();
  auto before = snapshot(cat);
  auto ex = run(cat, ".create table T (x:string) with (folder='Else')", "Db");
  EXPECT_TRUE(ex.changes.empty());
  auto r = table_of(ex);
  EXPECT_EQ(cell(r, 0, "Schema"), "a:int, b:string, c:datetime");
  EXPECT_EQ(cell(r, 0, "Folder"), "");
  EXPECT_EQ(snapshot(cat), before);
}

TEST(create_table, needs_a_database_in_context_that_exists) {
  model::catalog cat;
  ok(cat, ".create database Db");
  auto e = fails(cat, ".create table T (a:int)");
  EXPECT_EQ(e.code, "BadRequest_DatabaseNotSpecified");
  EXPECT_HAS(e.message, ".create table runs in a database, but no database is in context");
  EXPECT_HAS(e.message, "--database");
  e = fails(cat, ".create table T (a:int)", "Nope");
  EXPECT_EQ(e.code, "BadRequest_DatabaseNotExist");
  EXPECT_HAS(e.message, "Database 'Nope' does not exist; create it with .create database Nope");
  EXPECT_EQ(cat.find_database("Nope"), nullptr);
  EXPECT_EQ(cat.version, 1u);
}

TEST(create_merge_table, creates_when_missing) {
  model::catalog cat;
  ok(cat, ".create database Db");
  auto ex = run(cat, ".create-merge table M (a:int)", "Db");
  EXPECT_EQ(ex.kind, "create_merge_table");
  EXPECT_EQ(ex.changes.size(), 1u);
  EXPECT_EQ(cell(table_of(ex), 0, "Schema"), "a:int");
}

TEST(create_merge_table, adds_new_columns_in_order_and_keeps_existing_ones) {
  auto cat = sample_catalog();
  auto ex = run(cat, ".create-merge table T (b:string, d:real, a:int, e:bool) with (docstring='merged')", "Db");
  ASSERT_EQ(ex.changes.size(), 1u);
  EXPECT_EQ(ex.changes[0].what, change_kind::put_table);
  auto r = table_of(ex);
  EXPECT_EQ(cell(r, 0, "Schema"), "a:int, b:string, c:datetime, d:real, e:bool");
  EXPECT_EQ(cell(r, 0, "DocString"), "merged");
  auto version = cat.version;
  auto same = run(cat, ".create-merge table T (a:int, e:bool)", "Db");
  EXPECT_TRUE(same.changes.empty());
  EXPECT_EQ(cat.version, version);
}

TEST(create_merge_table, type_conflict_names_the_column_and_changes_nothing) {
  auto cat = sample_catalog();
  auto before = snapshot(cat);
  auto e = fails(cat, ".create-merge table T (z:int, b:long)", "Db");
  EXPECT_EQ(e.code, "BadRequest_ColumnTypeMismatch");
  EXPECT_HAS(e.message, "Column 'b' of table 'T' is of type string, but .create-merge gives it type long");
  EXPECT_EQ(snapshot(cat), before);
}

TEST(drop_table, removes_it_and_returns_the_remaining_tables) {
  auto cat = sample_catalog();
  ok(cat, ".create table U (a:int)", "Db");
  auto id = cat.find_database("Db")->tables.at("T").id;
  auto ex = run(cat, ".drop table T", "Db");
  EXPECT_EQ(ex.kind, "drop_table");
  ASSERT_EQ(ex.changes.size(), 1u);
  EXPECT_EQ(ex.changes[0].what, change_kind::delete_table);
  EXPECT_EQ(ex.changes[0].table, id);
  EXPECT_EQ(ex.changes[0].table_name, "T");
  auto r = table_of(ex);
  EXPECT_EQ(column_names(r), "TableName,DatabaseName");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(cell(r, 0, "TableName"), "U");
  EXPECT_EQ(cat.find_database("Db")->tables.count("T"), 0u);
}

TEST(drop_table, missing_fails_unless_ifexists_and_never_creates) {
  auto cat = sample_catalog();
  auto before = snapshot(cat);
  auto e = fails(cat, ".drop table Nope", "Db");
  EXPECT_EQ(e.code, "BadRequest_TableNotExist");
  EXPECT_HAS(e.message, "Table 'Nope' does not exist in database 'Db'");
  EXPECT_HAS(e.message, "its tables: 'T'");
  auto ex = run(cat, ".drop table Nope ifexists", "Db");
  EXPECT_TRUE(ex.changes.empty());
  EXPECT_EQ(table_of(ex).rows.size(), 1u);
  EXPECT_EQ(snapshot(cat), before);
}

TEST(show_tables, lists_tables_sorted_with_folder_and_docstring) {
  auto cat = sample_catalog();
  ok(cat, ".create table Alpha (a:int) with (folder='F', docstring='D')", "Db");
  auto ex = run(cat, ".show tables", "Db");
  EXPECT_EQ(ex.kind, "show_tables");
  auto r = table_of(ex);
  EXPECT_EQ(column_names(r), "TableName,DatabaseName,Folder,DocString");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(cell(r, 0, "TableName"), "Alpha");
  EXPECT_EQ(cell(r, 0, "Folder"), "F");
  EXPECT_EQ(cell(r, 0, "DocString"), "D");
  EXPECT_EQ(cell(r, 1, "TableName"), "T");
  EXPECT_EQ(cell(r, 1, "DatabaseName"), "Db");
  EXPECT_EQ(fails(cat, ".show tables").code, "BadRequest_DatabaseNotSpecified");
}

TEST(show_table, one_row_per_column_in_schema_order_with_dotnet_types) {
  auto cat = sample_catalog();
  auto ex = run(cat, ".show table T", "Db");
  EXPECT_EQ(ex.kind, "show_table");
  auto r = table_of(ex);
  EXPECT_EQ(column_names(r), "AttributeName,AttributeType,ExtentSize,CompressionRatio,IndexSize,StringSize");
  ASSERT_EQ(r.rows.size(), 3u);
  EXPECT_TRUE(well_formed(r));
  EXPECT_EQ(cell(r, 0, "AttributeName"), "a");
  EXPECT_EQ(cell(r, 0, "AttributeType"), "System.Int32");
  EXPECT_EQ(cell(r, 1, "AttributeType"), "System.String");
  EXPECT_EQ(cell(r, 2, "AttributeName"), "c");
  EXPECT_EQ(cell(r, 2, "AttributeType"), "System.DateTime");
  EXPECT_EQ(fails(cat, ".show table Nope", "Db").code, "BadRequest_TableNotExist");
}

TEST(show_table_details, kusto_columns_and_the_effective_policy) {
  auto cat = sample_catalog();
  auto ex = run(cat, ".show table T details", "Db");
  EXPECT_EQ(ex.kind, "show_table_details");
  auto r = table_of(ex);
  EXPECT_EQ(column_names(r),
            "TableName,DatabaseName,Folder,DocString,TotalExtents,TotalExtentSize,TotalOriginalSize,TotalRowCount,"
            "HotExtents,HotExtentSize,HotOriginalSize,HotRowCount,AuthorizedPrincipals,RetentionPolicy,CachingPolicy,"
            "ShardingPolicy,MergePolicy,StreamingIngestionPolicy,IngestionBatchingPolicy,MinExtentsCreationTime,"
            "MaxExtentsCreationTime,RowOrderPolicy,TableId");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_TRUE(well_formed(r));
  EXPECT_EQ(r.columns[static_cast<size_t>(column_index(r, "TotalExtents"))].type, model::column_type::long_);
  EXPECT_EQ(r.columns[static_cast<size_t>(column_index(r, "TotalExtentSize"))].type, model::column_type::real);
  EXPECT_EQ(r.columns[static_cast<size_t>(column_index(r, "MinExtentsCreationTime"))].type, model::column_type::datetime);
  EXPECT_EQ(cell(r, 0, "StreamingIngestionPolicy"), "<null>");
  EXPECT_EQ(cell(r, 0, "TotalRowCount"), "0");
  EXPECT_EQ(cell(r, 0, "TableId").size(), 36u);
  ok(cat, ".alter database Db policy streamingingestion '{\"IsEnabled\": true, \"HintAllocatedRate\": 2.1}'");
  EXPECT_EQ(cell(ok(cat, ".show table T details", "Db"), 0, "StreamingIngestionPolicy"),
            R"({"IsEnabled":true,"HintAllocatedRate":2.1})");
  ok(cat, ".alter table T policy streamingingestion disable", "Db");
  EXPECT_EQ(cell(ok(cat, ".show table T details", "Db"), 0, "StreamingIngestionPolicy"),
            R"({"IsEnabled":false,"HintAllocatedRate":null})");
}

// --- mappings ---

constexpr std::string_view csv_mapping =
    R"(.create table T ingestion csv mapping 'm1' '[{"Column":"a","Properties":{"Ordinal":"0"}},{"Column":"b","Properties":{"Ordinal":"1"}}]')";

TEST(create_mapping, stores_the_normalised_mapping_and_returns_it) {
  auto cat = sample_catalog();
  auto ex = run(cat, csv_mapping, "Db");
  EXPECT_EQ(ex.kind, "create_mapping");
  ASSERT_EQ(ex.changes.size(), 1u);
  EXPECT_EQ(ex.changes[0].what, change_kind::put_table);
  EXPECT_EQ(ex.changes[0].table_name, "T");
  auto r = table_of(ex);
  EXPECT_EQ(column_names(r), "Name,Kind,Mapping,LastUpdatedOn,Database,Table");
  EXPECT_EQ(r.columns[3].type, model::column_type::datetime);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(cell(r, 0, "Name"), "m1");
  EXPECT_EQ(cell(r, 0, "Kind"), "Csv");
  EXPECT_EQ(cell(r, 0, "Mapping"),
            R"([{"Column":"a","Properties":{"Ordinal":"0"}},{"Column":"b","Properties":{"Ordinal":"1"}}])");
  EXPECT_EQ(cell(r, 0, "LastUpdatedOn"), std::to_string(test_now_ticks));
  EXPECT_EQ(cell(r, 0, "Database"), "Db");
  EXPECT_EQ(cell(r, 0, "Table"), "T");
  const auto& t = cat.find_database("Db")->tables.at("T");
  ASSERT_EQ(t.mappings.size(), 1u);
  EXPECT_EQ(t.mappings[0].elements[1].ordinal, 1);
}

TEST(create_mapping, existing_name_fails_but_create_or_alter_replaces) {
  auto cat = sample_catalog();
  ok(cat, csv_mapping, "Db");
  auto before = snapshot(cat);
  auto e = fails(cat, csv_mapping, "Db");
  EXPECT_EQ(e.code, "BadRequest_EntityAlreadyExists");
  EXPECT_HAS(e.message, "Csv mapping 'm1' already exists on table 'T'; use .create-or-alter table T ingestion csv");
  EXPECT_EQ(snapshot(cat), before);
  auto ex = run(cat, R"(.create-or-alter table T ingestion csv mapping "m1" '[{"Column":"c","Ordinal":"5"}]')", "Db");
  EXPECT_EQ(ex.kind, "create_or_alter_mapping");
  EXPECT_EQ(ex.changes.size(), 1u);
  EXPECT_EQ(cell(table_of(ex), 0, "Mapping"), R"([{"Column":"c","Properties":{"Ordinal":"5"}}])");
  EXPECT_EQ(cat.find_database("Db")->tables.at("T").mappings.size(), 1u);
}

TEST(create_mapping, same_name_of_another_kind_is_a_different_mapping) {
  auto cat = sample_catalog();
  ok(cat, csv_mapping, "Db");
  ok(cat, R"(.create table T ingestion json mapping 'm1' '[{"Column":"a","Properties":{"Path":"$.a"}}]')", "Db");
  auto r = ok(cat, ".show table T ingestion mappings", "Db");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(cell(r, 0, "Kind"), "Csv");
  EXPECT_EQ(cell(r, 1, "Kind"), "Json");
  EXPECT_EQ(ok(cat, ".show table T ingestion json mappings", "Db").rows.size(), 1u);
  auto one = ok(cat, ".show table T ingestion json mapping 'm1'", "Db");
  ASSERT_EQ(one.rows.size(), 1u);
  EXPECT_EQ(cell(one, 0, "Mapping"), R"([{"Column":"a","Properties":{"Path":"$.a"}}])");
}

TEST(create_mapping, invalid_mapping_changes_nothing_and_names_the_problem) {
  auto cat = sample_catalog();
  auto before = snapshot(cat);
  auto e = fails(cat, R"(.create table T ingestion json mapping 'j' '[{"Column":"a","Properties":{"Path":"$.a"}},{"Column":"nope","Properties":{"Path":"$.b"}}]')", "Db");
  EXPECT_EQ(e.code, "BadRequest_InvalidMapping");
  EXPECT_HAS(e.message, "element [1] maps column 'nope', which table 'T' does not have");
  e = fails(cat, R"(.create table T ingestion json mapping 'j' '[{"Column":"a","Properties":{"Path":"$.a["}}]')", "Db");
  EXPECT_HAS(e.message, "invalid Path '$.a[': at position 5");
  EXPECT_EQ(fails(cat, csv_mapping, "").code, "BadRequest_DatabaseNotSpecified");
  EXPECT_EQ(fails(cat, R"(.create table Nope ingestion csv mapping 'm' '[{"Column":"a","Ordinal":0}]')", "Db").code,
            "BadRequest_TableNotExist");
  EXPECT_EQ(snapshot(cat), before);
}

TEST(drop_mapping, removes_it_and_returns_the_remaining_mappings) {
  auto cat = sample_catalog();
  ok(cat, csv_mapping, "Db");
  ok(cat, R"(.create table T ingestion csv mapping 'm2' '[{"Column":"a","Ordinal":0}]')", "Db");
  auto ex = run(cat, ".drop table T ingestion csv mapping 'm1'", "Db");
  EXPECT_EQ(ex.kind, "drop_mapping");
  ASSERT_EQ(ex.changes.size(), 1u);
  EXPECT_EQ(ex.changes[0].what, change_kind::put_table);
  auto r = table_of(ex);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(cell(r, 0, "Name"), "m2");
}

TEST(drop_mapping, missing_mapping_is_named_and_nothing_changes) {
  auto cat = sample_catalog();
  ok(cat, csv_mapping, "Db");
  auto before = snapshot(cat);
  auto e = fails(cat, ".drop table T ingestion json mapping 'm1'", "Db");
  EXPECT_EQ(e.code, "BadRequest_EntityNotFound");
  EXPECT_HAS(e.message, "Json mapping 'm1' does not exist on table 'T' in database 'Db'");
  EXPECT_HAS(fails(cat, ".show table T ingestion csv mapping 'zz'", "Db").message, "Csv mapping 'zz' does not exist");
  EXPECT_EQ(snapshot(cat), before);
}

TEST(show_mappings, table_without_mappings_gives_an_empty_table_with_columns) {
  auto cat = sample_catalog();
  auto ex = run(cat, ".show table T ingestion mappings", "Db");
  EXPECT_EQ(ex.kind, "show_mappings");
  auto r = table_of(ex);
  EXPECT_EQ(column_names(r), "Name,Kind,Mapping,LastUpdatedOn,Database,Table");
  EXPECT_TRUE(r.rows.empty());
}

TEST(mappings, are_listed_sorted_by_kind_then_name) {
  auto cat = sample_catalog();
  for (auto name : {"zeta", "alpha", "mid"}) {
    ok(cat, std::string(".create table T ingestion csv mapping '") + name + "' '[{\"Column\":\"a\",\"Ordinal\":0}]'", "Db");
  }
  ok(cat, ".create table T ingestion json mapping 'aaa' '[{\"Column\":\"a\",\"Path\":\"$\"}]'", "Db");
  auto r = ok(cat, ".show table T ingestion mappings", "Db");
  ASSERT_EQ(r.rows.size(), 4u);
  EXPECT_EQ(cell(r, 0, "Name"), "alpha");
  EXPECT_EQ(cell(r, 1, "Name"), "mid");
  EXPECT_EQ(cell(r, 2, "Name"), "zeta");
  EXPECT_EQ(cell(r, 3, "Name"), "aaa");
}

// --- versions and invariants ---

TEST(versions, bump_once_per_changing_command_and_never_for_reads_or_errors) {
  auto cat = sample_catalog();
  auto v = cat.version;
  for (auto text : {".show databases", ".show tables", ".show table T", ".show table T details",
                    ".show table T ingestion mappings", ".show table T policy streamingingestion",
                    ".show database Db policy streamingingestion", ".show cluster policy streamingingestion"}) {
    auto ex = run(cat, text, "Db");
    EXPECT_TRUE(std::holds_alternative<model::result_table>(ex.outcome)) << text;
    EXPECT_TRUE(ex.changes.empty()) << text;
  }
  EXPECT_EQ(cat.version, v);
  ok(cat, ".create table U (a:int)", "Db");
  EXPECT_EQ(cat.version, v + 1);
  fails(cat, ".create table U2 (a:int, a:int)", "Db");
  EXPECT_EQ(cat.version, v + 1);
}

TEST(ids, are_never_reused) {
  model::catalog cat;
  ok(cat, ".create database D");
  ok(cat, ".create table T (a:int)", "D");
  auto first = cat.find_database("D")->tables.at("T").id;
  ok(cat, ".drop table T", "D");
  ok(cat, ".create table T (a:int)", "D");
  EXPECT_NE(cat.find_database("D")->tables.at("T").id, first);
  EXPECT_EQ(cat.next_id, 4u);
}

TEST(invalid_commands, have_kind_invalid_and_no_changes) {
  model::catalog cat;
  auto ex = run(cat, ".create table (");
  EXPECT_EQ(ex.kind, "invalid");
  EXPECT_TRUE(ex.changes.empty());
  EXPECT_EQ(error_of(ex).code, "BadRequest_SyntaxError");
  auto exec_error = run(cat, ".show tables", "Missing");
  EXPECT_EQ(exec_error.kind, "show_tables");
  EXPECT_EQ(error_of(exec_error).code, "BadRequest_DatabaseNotExist");
}

}  // namespace
}  // namespace tributary::testing
