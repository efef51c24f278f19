// The two runtime-internal modules the `workers` SDK (PyPI workers-runtime-sdk) imports. In workerd
// both are JS objects handed to pyodide.registerJsModule (python-entrypoint-helper.ts); these are
// the same shapes, reduced to what the SDK reads:
//   _pyodide_entrypoint_helper: patchWaitUntil, cloudflareWorkersModule, cloudflareSocketsModule,
//                               doAnImport, patch_env_helper
//   _cloudflare_compat_flags:   python_request_headers_preserve_commas,
//                               python_workflows_implicit_dependencies (read with getattr(…, False))
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./build.mjs";

const patched = new WeakSet();

/**
 * workerd's patchWaitUntil, restated. `ctx.waitUntil(coro)` from Python hands JS a *borrowed*
 * PyProxy that Pyodide destroys when the call returns, so the patched waitUntil copies it first,
 * then awaits it (a PyProxy of an awaitable is thenable: Pyodide schedules it with ensure_future)
 * and destroys the copy. Like workerd, it only touches a real ExecutionContext.
 */
function patchWaitUntil(ctx) {
  if (Object.prototype.toString.call(ctx) !== "[object ExecutionContext]" || patched.has(ctx)) return;
  const original = ctx.waitUntil.bind(ctx);
  ctx.waitUntil = (awaitable) => {
    const owned = typeof awaitable?.copy === "function" ? awaitable.copy() : awaitable;
    original(
      (async () => {
        try {
          await owned;
        } finally {
          if (typeof owned?.destroy === "function") owned.destroy();
        }
      })(),
    );
  };
  patched.add(ctx);
}

/** `cloudflareWorkers` stands in for `import("cloudflare:workers")`: {env, waitUntil}. */
export function entrypointHelper(cloudflareWorkers) {
  return {
    patchWaitUntil,
    cloudflareWorkersModule: cloudflareWorkers,
    cloudflareSocketsModule: undefined, // no TCP sockets (workers `connect`) locally
    async doAnImport(name) {
      if (name === "cloudflare:workers") return cloudflareWorkers;
      throw new Error(`the local edge cannot import the JS module ${JSON.stringify(name)}`);
    },
    // workers.patch_env(...): a generator that swaps env entries for the duration of a `with`.
    *patch_env_helper(patch) {
      const env = cloudflareWorkers.env;
      const keys = Object.keys(patch);
      const saved = new Map(keys.map((key) => [key, Object.getOwnPropertyDescriptor(env, key)]));
      Object.assign(env, patch);
      try {
        yield;
      } finally {
        for (const [key, descriptor] of saved) {
          if (descriptor) Object.defineProperty(env, key, descriptor);
          else delete env[key];
        }
      }
    },
  };
}

// Compatibility flags the SDK reads: the date from which python_workers turns each on and the flag
// that turns it off (workerd's compatibility-date.capnp: $compatEnableDate / $impliedByAfterDate).
const DATED_FLAGS = {
  python_workers_20250116: ["2025-09-29", "no_python_workers_20250116"], // Pyodide 0.28.2, Python 3.13
  python_request_headers_preserve_commas: ["2026-02-17", "disable_python_request_headers_preserve_commas"],
  python_workflows_implicit_dependencies: ["2026-02-25", "no_python_workflows_implicit_dependencies"],
};

/** The flags object for `compatibility_date` / `compatibility_flags` in wrangler.toml. */
export function compatFlags(wranglerToml = readFileSync(join(REPO_ROOT, "wrangler.toml"), "utf8")) {
  const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(wranglerToml)?.[1];
  const listed = /^compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(wranglerToml)?.[1] ?? "";
  const explicit = [...listed.matchAll(/"([^"]+)"/g)].map((match) => match[1]);
  if (!date || !explicit.includes("python_workers")) {
    throw new Error("wrangler.toml needs compatibility_date and the python_workers compatibility flag");
  }
  const flags = { python_workers: true };
  for (const [name, [since, off]] of Object.entries(DATED_FLAGS)) {
    flags[name] = explicit.includes(name) || (date >= since && !explicit.includes(off));
  }
  return flags;
}
