// The KV binding for the local edge. The `workers` SDK wraps an env entry as a KV binding only when
// its JS class is named exactly `KvNamespace`, so that name is part of the contract.
//
// KvNamespace speaks the Workers KV binding API (get/getWithMetadata/put/delete/list); a store
// behind it holds the bytes: Cloudflare's REST API (the real one or tests/fakes/cloudflare_api.py,
// which is what the origin publishes to), or memory (KV_MEMORY=1).

const MIN_TTL_SECONDS = 60;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function toBytes(value) {
  if (typeof value === "string") return encoder.encode(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0));
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength).slice();
  if (value instanceof ReadableStream) return new Uint8Array(await new Response(value).arrayBuffer());
  throw new TypeError("KV put() accepts a string, ArrayBuffer, ArrayBufferView or ReadableStream");
}

function fromBytes(bytes, type) {
  switch (type) {
    case "text":
      return decoder.decode(bytes);
    case "json":
      return JSON.parse(decoder.decode(bytes));
    case "arrayBuffer":
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    case "stream":
      return new Response(bytes).body;
    default:
      throw new TypeError(`Unknown KV response type ${JSON.stringify(type)}`);
  }
}

/** Absolute expiry in epoch seconds, from put()'s {expiration, expirationTtl}. */
function expiresAt({ expiration, expirationTtl } = {}) {
  if (expiration !== undefined && expiration !== null) return Number(expiration);
  if (expirationTtl !== undefined && expirationTtl !== null) {
    return Math.floor(Date.now() / 1000) + Number(expirationTtl);
  }
  return undefined;
}

export class KvNamespace {
  #store;

  constructor(store) {
    this.#store = store;
  }

  async get(key, options) {
    return (await this.getWithMetadata(key, options, { metadata: false })).value;
  }

  async getWithMetadata(key, options, { metadata = true } = {}) {
    const type = (typeof options === "string" ? options : options?.type) ?? "text";
    const entry = await this.#store.get(String(key), { metadata });
    if (entry === null) return { value: null, metadata: null };
    return { value: fromBytes(entry.value, type), metadata: entry.metadata ?? null };
  }

  async put(key, value, options = {}) {
    if (options.expirationTtl !== undefined && options.expirationTtl < MIN_TTL_SECONDS) {
      // Workers KV refuses these too; catching it here keeps the memory store honest.
      throw new Error(`KV PUT failed: 400 Invalid expiration_ttl of ${options.expirationTtl}. Must be at least 60.`);
    }
    await this.#store.put(String(key), await toBytes(value), {
      expiration: expiresAt(options),
      expirationTtl: options.expirationTtl,
      metadata: options.metadata,
    });
  }

  async delete(key) {
    await this.#store.delete(String(key));
  }

  /** {keys: [{name, expiration?, metadata?}], list_complete, cursor?} */
  async list({ prefix = "", limit = 1000, cursor } = {}) {
    return this.#store.list({ prefix, limit, cursor });
  }
}

export class MemoryStore {
  #entries = new Map();

  #live(key) {
    const entry = this.#entries.get(key);
    if (entry?.expiration !== undefined && entry.expiration <= Date.now() / 1000) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  async get(key) {
    return this.#live(key) ?? null;
  }

  async put(key, value, { expiration, metadata }) {
    this.#entries.set(key, { value, expiration, metadata });
  }

  async delete(key) {
    this.#entries.delete(key);
  }

  async list({ prefix, limit, cursor }) {
    const names = [...this.#entries.keys()].filter((name) => name.startsWith(prefix) && this.#live(name));
    names.sort();
    const start = cursor ? Number(cursor) : 0;
    const page = names.slice(start, start + limit).map((name) => {
      const { expiration, metadata } = this.#entries.get(name);
      const item = { name };
      if (expiration !== undefined) item.expiration = expiration;
      if (metadata !== undefined) item.metadata = metadata;
      return item;
    });
    const more = start + limit < names.length;
    return { keys: page, list_complete: !more, ...(more && { cursor: String(start + limit) }) };
  }
}

/** Cloudflare's REST API: /accounts/{account}/storage/kv/namespaces/{namespace}/… */
export class CloudflareApiStore {
  constructor({ baseUrl, account, namespace, token }) {
    this.root = `${baseUrl.replace(/\/+$/, "")}/accounts/${account}/storage/kv/namespaces/${namespace}`;
    this.token = token;
  }

  async #call(method, path, { body, query } = {}) {
    const url = new URL(`${this.root}/${path}`);
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const response = await fetch(url, { method, body, headers: { authorization: `Bearer ${this.token}` } });
    if (response.status === 404) return null;
    if (!response.ok) {
      const detail = (await response.text()).slice(0, 200);
      throw new Error(`KV ${method} ${path}: HTTP ${response.status} ${detail}`);
    }
    return response;
  }

  async get(key, { metadata }) {
    const response = await this.#call("GET", `values/${encodeURIComponent(key)}`);
    if (response === null) return null;
    const value = new Uint8Array(await response.arrayBuffer());
    if (!metadata) return { value };
    const meta = await this.#call("GET", `metadata/${encodeURIComponent(key)}`);
    return { value, metadata: meta === null ? null : ((await meta.json()).result ?? null) };
  }

  async put(key, value, { expiration, expirationTtl, metadata }) {
    // The API takes a raw body, or multipart when metadata comes along.
    let body = value;
    if (metadata !== undefined) {
      body = new FormData();
      body.set("value", new Blob([value]));
      body.set("metadata", JSON.stringify(metadata));
    }
    const query = expirationTtl !== undefined ? { expiration_ttl: expirationTtl } : { expiration };
    await this.#call("PUT", `values/${encodeURIComponent(key)}`, { body, query });
  }

  async delete(key) {
    await this.#call("DELETE", `values/${encodeURIComponent(key)}`);
  }

  async list({ prefix, limit, cursor }) {
    const query = { prefix: prefix || undefined, limit, cursor };
    const response = await this.#call("GET", "keys", { query });
    const payload = response === null ? { result: [] } : await response.json();
    const next = payload.result_info?.cursor || undefined;
    return { keys: payload.result ?? [], list_complete: !next, ...(next && { cursor: next }) };
  }
}

/** The binding described by the environment: KV_MEMORY=1, or CF_API_BASE_URL & co. */
export function kvFromEnv(environ, required) {
  if (environ.KV_MEMORY === "1") return new KvNamespace(new MemoryStore());
  return new KvNamespace(
    new CloudflareApiStore({
      baseUrl: required("CF_API_BASE_URL"),
      account: required("CF_ACCOUNT_ID"),
      namespace: required("CF_KV_NAMESPACE_ID"),
      token: required("CF_API_TOKEN"),
    }),
  );
}
