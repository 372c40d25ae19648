// Kusto's own npm SDKs (azure-kusto-data 7.0.4, azure-kusto-ingest 7.0.1), unmodified, against a
// real node's REST API: management commands, streaming ingestion of csv, tsv, json with a mapping,
// multijson and a pre-gzipped file, queries (v2 and v1), the managed streaming client and its
// retries, and the errors the SDKs raise (throttling against a second node that throttles every
// ingest; the cluster's streaming switch turned off last). Prints one JSON line per step:
// {"step":..,"ok":..,...}; tests/e2e/sdk_test.cpp checks them.
//
// usage: node scenario.mjs http://127.0.0.1:PORT WORKDIR http://127.0.0.1:THROTTLING_PORT
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { Readable } from "node:stream";
import { Client, KustoConnectionStringBuilder, ClientRequestProperties } from "azure-kusto-data";
import { StreamingIngestClient, ManagedStreamingIngestClient, IngestionProperties, DataFormat } from "azure-kusto-ingest";

const [cluster, work, throttling] = process.argv.slice(2);
const db = "SdkDb";
const say = (step, fields) => console.log(JSON.stringify({ step, ...fields }));
const client = new Client(new KustoConnectionStringBuilder(cluster));
const propertiesOf = (table, format, mapping) =>
  new IngestionProperties({ database: db, table, format, ingestionMappingReference: mapping });
const ingestTo = (table, format, mapping, url = cluster) =>
  new StreamingIngestClient(new KustoConnectionStringBuilder(url), propertiesOf(table, format, mapping));
const managedTo = (table, format) =>
  new ManagedStreamingIngestClient(new KustoConnectionStringBuilder(cluster), new KustoConnectionStringBuilder(cluster),
    propertiesOf(table, format));
const csv = (text) => Readable.from([Buffer.from(text)]);
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
  await client.execute(db, ".create table Later (a:long, b:string)");
  await client.execute(db, ".create table Off (a:long, b:string)");
  await client.execute(db, ".alter database SdkDb policy streamingingestion enable");
  await client.execute(db, ".alter table Later policy streamingingestion disable");
  await client.execute(db, ".alter table Off policy streamingingestion disable");
  const tables = await client.execute(db, ".show tables");
  return { tables: rowsOf(tables).map((r) => r.TableName).sort() };
});
const countOf = async (table) => rowsOf(await client.execute(db, `${table} | count`))[0].Count;

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
await step("error_policy_disabled", async () => {
  await ingestTo("Off", DataFormat.CSV).ingestFromStream(csv("1,x\n")); return {};
});
// Against a node that throttles every ingest (--max-ingest-bytes-in-flight below one request):
// 429, which the SDK raises as ThrottlingError (and retries, where it retries).
await step("error_throttled", async () => {
  await ingestTo("T", DataFormat.CSV, undefined, throttling).ingestFromStream(csv("1,x,2024-01-01\n")); return {};
});

// The managed streaming client: streams, and retries a failed attempt (1 s, then 2 s later) with a
// new attempt number in the request id. Its first attempt here meets a disabled policy, enabled
// while it waits: the rows arrive once.
await step("managed_stream", async () => {
  await managedTo("T", DataFormat.CSV).ingestFromStream(csv("6,six,2024-01-06T00:00:00Z\n"));
  return { count: await countOf("T") };
});
await step("managed_retry", async () => {
  const started = Date.now();
  const enable = new Promise((resolve) => setTimeout(resolve, 300))
    .then(() => client.execute(db, ".alter table Later policy streamingingestion enable"));
  await managedTo("Later", DataFormat.CSV).ingestFromStream(csv("1,one\n2,two\n3,three\n"));
  await enable;
  return { count: await countOf("Later"), ms: Date.now() - started };
});
// Three failed attempts: the client falls back to queued ingestion, which asks for
// `.get ingestion resources`; the node says clearly it has none.
await step("managed_fallback_refused", async () => {
  await managedTo("Off", DataFormat.CSV).ingestFromStream(csv("1,x\n")); return {};
});
await step("count_after_errors", async () => ({ rows: rowsOf(await client.execute(db, "T | count")) }));

// The cluster's switch off (after every policy is dropped; the rowstore's rows move to extents):
// the ingest endpoint answers 404 as Kusto's does, and every row is still there.
await step("switch_off", async () => {
  await client.execute(db, ".delete database SdkDb policy streamingingestion");
  for (const t of ["Later", "Off"]) await client.execute(db, `.delete table ${t} policy streamingingestion`);
  await client.execute(db, ".alter cluster policy streamingingestion disable");
  return {};
});
await step("error_switch_off", async () => {
  await ingestTo("T", DataFormat.CSV).ingestFromStream(csv("9,nine,2024-01-09\n")); return {};
});
await step("count_after_switch_off", async () => ({ count: await countOf("T"), later: await countOf("Later") }));
client.close();
