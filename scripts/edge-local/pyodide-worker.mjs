// The real Worker code (edge/ + shared/) and the real `workers` SDK, in Pyodide 0.28.2 under Node:
// what workerd would do for a fetch event, minus workerd.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, workerModules } from "./build.mjs";
import { bootPython, installWheel, prependSysPath, writeFiles } from "./python.mjs";
import { compatFlags, entrypointHelper } from "./runtime-stubs.mjs";

const WORKER_DIR = "/home/pyodide/worker";

/** build/wheels/workers_runtime_sdk-<version>-…whl, the version pinned in package.json. */
export function sdkWheel(root = REPO_ROOT) {
  const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).config.workers_runtime_sdk;
  const dir = join(root, "build/wheels");
  const prefix = `workers_runtime_sdk-${version}-`;
  const wheel = existsSync(dir) && readdirSync(dir).find((name) => name.startsWith(prefix));
  if (!wheel) throw new Error(`workers-runtime-sdk ${version} is not in build/wheels: run \`make setup\``);
  return join(dir, wheel);
}

/** A Python exception's traceback as Python prints it, without the wasm frames of its JS stack. */
export function describe(error) {
  return error?.constructor?.name === "PythonError" || error?.name === "PythonError"
    ? error.message.trimEnd()
    : (error?.stack ?? String(error));
}

/**
 * The `ctx` of one request. The toStringTag makes it an ExecutionContext to patchWaitUntil, as the
 * runtime's own is; waitUntil hands each promise to `track`, which keeps it running after the response.
 */
class ExecutionContext {
  #track;

  constructor(track) {
    this.#track = track;
  }

  get [Symbol.toStringTag]() {
    return "ExecutionContext";
  }

  waitUntil(promise) {
    this.#track(Promise.resolve(promise));
  }

  passThroughOnException() {}
}

// Cloudflare's front strips these before a Worker sees the request; undici's fetch would refuse some.
const NOT_FORWARDED = new Set([
  "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "expect",
]);

function requestHeaders(rawHeaders) {
  const headers = new Headers();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (!NOT_FORWARDED.has(rawHeaders[i].toLowerCase())) headers.append(rawHeaders[i], rawHeaders[i + 1]);
  }
  return headers;
}

/**
 * Loads Pyodide, the SDK, the stubs and the Worker's modules (under the names wrangler uploads them
 * as), imports `entry` and returns {handle, waitUntil, bootMs, importMs}.
 *
 * env: the Worker's bindings ({KV, ORIGIN_URL, KEY_PEPPER, INGEST_SECRET}); colo: request.cf.colo.
 */
export async function loadWorker({ env, colo = "LOC", sourceRoot = REPO_ROOT, wheel = sdkWheel() }) {
  const { pyodide, bootMs } = await bootPython();
  const started = performance.now();
  const waitUntil = { pending: new Set(), settled: 0, failed: 0 };

  function track(promise) {
    waitUntil.pending.add(promise);
    promise
      .then(
        () => waitUntil.settled++,
        (error) => {
          waitUntil.failed++;
          console.error(`waitUntil promise failed: ${describe(error)}`);
        },
      )
      .finally(() => waitUntil.pending.delete(promise));
  }

  installWheel(pyodide, wheel);
  pyodide.registerJsModule("_pyodide_entrypoint_helper", entrypointHelper({ env, waitUntil: track }));
  const wranglerToml = [sourceRoot, REPO_ROOT].map((dir) => join(dir, "wrangler.toml")).find(existsSync);
  pyodide.registerJsModule("_cloudflare_compat_flags", compatFlags(readFileSync(wranglerToml, "utf8")));
  writeFiles(pyodide, WORKER_DIR, workerModules(sourceRoot));
  prependSysPath(pyodide, WORKER_DIR);
  const entry = pyodide.pyimport("entry");
  const workers = pyodide.pyimport("workers");
  const importMs = Math.round(performance.now() - started);

  /**
   * One fetch event. `request`: {method, url, rawHeaders, body (AsyncIterable | null)}.
   * Resolves to {status, statusText, headers (Headers), body (ReadableStream | null)} once the
   * Worker returned its Response; the body may still be streaming.
   */
  async function handle({ method, url, rawHeaders, body }) {
    const hasBody = body && method !== "GET" && method !== "HEAD";
    const jsRequest = new Request(url, {
      method,
      headers: requestHeaders(rawHeaders),
      ...(hasBody && { body, duplex: "half" }),
    });
    // Node's Request has no `cf`; the SDK reads request.cf straight off the JS object.
    Object.defineProperty(jsRequest, "cf", { value: { colo }, enumerable: true });

    const proxies = [];
    const keep = (proxy) => (proxies.push(proxy), proxy);
    try {
      const instance = keep(entry.Default(new ExecutionContext(track), env));
      const fetch = keep(workers.handler(keep(instance.fetch)));
      const result = keep(await keep(fetch(jsRequest)));
      // As workerd does: a workers.Response carries its JS Response in .js_object.
      const response = result?.js_object ?? result;
      const { status, statusText, headers, body: stream } = response;
      return { status, statusText, headers, body: stream };
    } finally {
      for (const proxy of proxies) {
        try {
          proxy?.destroy?.();
        } catch {
          // already destroyed by Pyodide (an awaited coroutine's proxy may be)
        }
      }
    }
  }

  return { handle, waitUntil, bootMs, importMs, pyodide };
}
