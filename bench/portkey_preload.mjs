// Loaded with `node --import` into the Portkey gateway that bench/peers.py starts.
import net from "node:net";

// Its start-server.js listens on every interface; the bench binds it to 127.0.0.1 only.
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (port, host, ...rest) {
  if (typeof port === "number" && typeof host !== "string") {
    return listen.call(this, port, "127.0.0.1", ...(host === undefined ? rest : [host, ...rest]));
  }
  return listen.call(this, port, host, ...rest);
};

// Under Node, a streamed answer reaches Portkey's header update with fetch's immutable headers and
// fails ("TypeError: immutable", Portkey-AI/gateway issues 1389 and 1550); a copy of them is mutable.
const NativeResponse = globalThis.Response;
const nativeFetch = globalThis.fetch;
globalThis.fetch = async (...args) => {
  const answer = await nativeFetch(...args);
  const { status, statusText } = answer;
  return new NativeResponse(answer.body, { status, statusText, headers: new Headers(answer.headers) });
};
