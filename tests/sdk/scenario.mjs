// Kusto's own npm SDKs (azure-kusto-data 7.0.4, azure-kusto-ingest 7.0.1), unmodified, against a
// real node's REST API: management commands, streaming ingestion of csv, tsv, json with a mapping,
// multijson and a pre-gzipped file, queries (v2 and v1), and the errors the SDKs raise. Prints one
// JSON line per step: {"step":..,"ok":..,...}; tests/e2e/sdk_test.cpp checks them.
//
// usage: node scenario.mjs http://127.0.0.1:PORT WORKDIR
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { Readable } from "node:stream";
import { Client, KustoConnectionStringBuilder, ClientRequestProperties } from "azure-kusto-data";
import { StreamingIngestClient, IngestionProperties, DataFormat } from "azure-kusto-ingest";

const [cluster, work] = process.argv.slice(2);
const db = "SdkDb";
const say = (step, fields) => console.log(JSON.stringify({ step, ...fields }));
const client = new Client(new KustoConnectionStringBuilder(cluster));
const ingestTo = (table, format, mapping) =>
  new StreamingIngestClient(new KustoConnectionStringBuilder(cluster),
    new IngestionProperties({ database: db, table, format, ingestionMappingReference: mapping }));
const rowsOf = (res) => [...res.primaryResults[0].rows()].map((r) => r.toJSON());
async function step(name, fn) {
  try { say(name, { ok: true, ...(await fn()) }); }
  catch (e) {
    const inner = e.inner ?? e;
    say(name, { ok: false, error: e.name, message: String(e.message).slice(0, 300),
                status: e.response?.status ?? inner.response?.status, body: e.response?.data ?? inner.response?.data });
  }
}

await step("create", async () => {
  await client.execute("", ".create database SdkDb");
  await client.execute(db, ".create table T (a:long, b:string, ts:datetime)");
  await client.execute(db, ".create table J (a:long, b:string)");
  await client.execute(db, `.create table J ingestion json mapping "m" '[{"column":"a","Properties":{"Path":"$.x"}},{"column":"b","Properties":{"Path":"$.y"}}]'`);
  await client.execute(db, ".alter database SdkDb policy streamingingestion enable");
  const tables = await client.execute(db, ".show tables");
  return { tables: rowsOf(tables).map((r) => r.TableName).sort() };
});

await step("ingest_csv_stream", async () => {
  const r = await ingestTo("T", DataFormat.CSV).ingestFromStream(Readable.from([Buffer.from("1,one,2024-01-01T00:00:00Z\n2,two,2024-01-02T00:00:00Z\n")]));
  return { consumed: r.Tables?.[0]?.Rows?.[0]?.[0] };
});
await step("ingest_tsv_file", async () => {
  const f = path.join(work, "rows.tsv");
  fs.writeFileSync(f, "3\tthree\t2024-01-03T00:00:00Z\n");
  await ingestTo("T", DataFormat.TSV).ingestFromFile(f);
  return {};
});
await step("ingest_gzip_file", async () => {
  const f = path.join(work, "rows.csv.gz");
  fs.writeFileSync(f, zlib.gzipSync("4,four,2024-01-04T00:00:00Z\n5,five,2024-01-05T00:00:00Z\n"));
  await ingestTo("T", DataFormat.CSV).ingestFromFile(f);
  return {};
});
await step("ingest_json_mapping", async () => {
  await ingestTo("J", DataFormat.JSON, "m").ingestFromStream(Readable.from([Buffer.from('{"x":10,"y":"ten"}\n{"x":11,"y":"eleven"}\n')]));
  return {};
});
await step("ingest_multijson_mapping", async () => {
  await ingestTo("J", DataFormat.MULTIJSON, "m").ingestFromStream(Readable.from([Buffer.from('[{"x":12,"y":"twelve"},\n{"x":13,"y":"thirteen"}]')]));
  return {};
});

await step("query_v2", async () => ({ rows: rowsOf(await client.execute(db, "T | order by a asc | project a, b, ts")) }));
await step("query_v2_json", async () => ({ rows: rowsOf(await client.execute(db, "J | order by a asc")) }));
await step("query_v1", async () => ({ rows: rowsOf(await client.executeQueryV1(db, "T | summarize n = count()")) }));
await step("query_properties", async () => {
  const crp = new ClientRequestProperties();
  crp.setOption("servertimeout", 60000);
  crp.clientRequestId = "MyApp.query;1";
  return { rows: rowsOf(await client.execute(db, "T | count", crp)) };
});

await step("error_unknown_table_query", async () => { await client.execute(db, "Nope | count"); return {}; });
await step("error_unknown_table_ingest", async () => {
  await ingestTo("Nope", DataFormat.CSV).ingestFromStream(Readable.from([Buffer.from("1,x,2024-01-01\n")])); return {};
});
await step("error_bad_data", async () => {
  await ingestTo("T", DataFormat.CSV).ingestFromStream(Readable.from([Buffer.from("notanumber,x,2024-01-01\n")])); return {};
});
await step("error_too_large", async () => {
  const big = Buffer.alloc(5 * 1024 * 1024, "1,x,2024-01-01T00:00:00Z\n");
  await ingestTo("T", DataFormat.CSV).ingestFromStream(Readable.from([big])); return {};
});
await step("error_syntax", async () => { await client.execute(db, "T | where"); return {}; });
await step("count_after_errors", async () => ({ rows: rowsOf(await client.execute(db, "T | count")) }));
client.close();
