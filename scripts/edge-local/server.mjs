// The local edge: an HTTP server whose every request is a fetch event for the real Worker code,
// run in Pyodide (pyodide-worker.mjs). Responses stream back chunk by chunk, as SSE needs.
//
// Environment:
//   EDGE_PORT (0 = any free port), EDGE_COLO (request.cf.colo, default LOC)
//   ORIGIN_URL, KEY_PEPPER, INGEST_SECRET                        the Worker's vars and secrets
//   CF_API_BASE_URL, CF_ACCOUNT_ID, CF_KV_NAMESPACE_ID, CF_API_TOKEN   the KV binding, or KV_MEMORY=1
//   EDGE_SOURCE_ROOT   where edge/, shared/ and wrangler.toml are read (default: this repository)
//
// /__edge/health and /__edge/stats are answered here, never by the Worker.
import http from "node:http";
import { REPO_ROOT } from "./build.mjs";
import { kvFromEnv } from "./kv.mjs";
import { describe, loadWorker } from "./pyodide-worker.mjs";

const HOST = "127.0.0.1";

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`local edge: set ${name}`);
    process.exit(2);
  }
  return value;
}

const env = {
  KV: kvFromEnv(process.env, required),
  ORIGIN_URL: required("ORIGIN_URL"),
  KEY_PEPPER: required("KEY_PEPPER"),
  INGEST_SECRET: required("INGEST_SECRET"),
};
const colo = process.env.EDGE_COLO || "LOC";
const worker = await loadWorker({ env, colo, sourceRoot: process.env.EDGE_SOURCE_ROOT || REPO_ROOT });
const counts = { requests: 0, inflight: 0, errors: 0 };

function stats() {
  const { pending, settled, failed } = worker.waitUntil;
  return {
    ...counts,
    wait_until: { pending: pending.size, settled, failed },
    boot_ms: worker.bootMs,
    import_ms: worker.importMs,
  };
}

function json(res, status, value) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(value));
}

function responseHeaders(headers) {
  const flat = [];
  // undici's fetch has already decoded a compressed body, so its encoding and length no longer hold.
  const decoded = headers.has("content-encoding");
  for (const [name, value] of headers) {
    if (name === "set-cookie" || name === "transfer-encoding" || name === "connection") continue;
    if (decoded && (name === "content-encoding" || name === "content-length")) continue;
    flat.push(name, value);
  }
  for (const cookie of headers.getSetCookie()) flat.push("set-cookie", cookie);
  return flat;
}

async function pipeBody(body, res) {
  const reader = body.getReader();
  // A client that goes away cancels the Worker's stream, and with it any origin fetch it reads.
  res.on("close", () => {
    if (!res.writableFinished) reader.cancel().catch(() => {});
  });
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!res.write(value)) await new Promise((resolve) => res.once("drain", resolve).once("close", resolve));
    if (res.destroyed) break;
  }
}

async function serveWorker(req, res) {
  counts.requests++;
  counts.inflight++;
  try {
    const response = await worker.handle({
      method: req.method,
      url: `http://${req.headers.host ?? `${HOST}:${server.address().port}`}${req.url}`,
      rawHeaders: req.rawHeaders,
      // As in Workers, a request without content has a null body rather than an empty stream.
      body: Number(req.headers["content-length"] ?? 0) > 0 || "transfer-encoding" in req.headers ? req : null,
    });
    // An empty statusText means the standard reason phrase (Node picks it when given undefined).
    res.writeHead(response.status, response.statusText || undefined, responseHeaders(response.headers));
    res.flushHeaders();
    if (response.body && req.method !== "HEAD") await pipeBody(response.body, res);
    res.end();
  } catch (error) {
    counts.errors++;
    console.error(`${req.method} ${req.url} failed in the Worker: ${describe(error)}`);
    // workerd answers an uncaught exception with a 500 (Cloudflare's "error 1101"), and cuts a
    // response whose body fails midway.
    if (!res.headersSent) json(res, 500, { error: "Worker threw exception" });
    else res.destroy();
  } finally {
    counts.inflight--;
  }
}

// Lenient parsing: Node's strict parser refuses header bytes (DEL, other control characters) that the
// Fetch API lets through; with it off, the Worker's own parsers (shared/) decide, as the tests expect.
const server = http.createServer({ insecureHTTPParser: true }, (req, res) => {
  if (req.method === "GET" && req.url === "/__edge/health") return json(res, 200, { ok: true });
  if (req.method === "GET" && req.url === "/__edge/stats") return json(res, 200, stats());
  serveWorker(req, res);
});

async function shutdown() {
  server.close();
  server.closeAllConnections();
  // Let usage hand-offs still in waitUntil finish, as the runtime would, but not forever.
  const deadline = new Promise((resolve) => setTimeout(resolve, 5000).unref());
  await Promise.race([Promise.allSettled([...worker.waitUntil.pending]), deadline]);
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

server.listen(Number(process.env.EDGE_PORT || 0), HOST, () => {
  const url = `http://${HOST}:${server.address().port}`;
  console.log(`LOCAL EDGE (real Worker code in Pyodide) listening on ${url}`);
  console.error(`local edge: Pyodide ${worker.bootMs} ms, Worker import ${worker.importMs} ms, colo ${colo}`);
});
