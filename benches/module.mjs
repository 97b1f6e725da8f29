// A whole module on GETs, under a proxy-wasm host written in JavaScript: Node's V8 (TurboFan, as
// Envoy compiles it) runs the module's callbacks in Envoy's order for a GET the filter serves
// (context created, request headers, the callout's answer, the local reply's headers and body,
// log, done, delete), with the host calls answered from memory. Unlike benches/steps, it times
// the module as shipped: the proxy-wasm SDK's dispatch, the shell and the host calls' Wasm side
// included, the Envoy side of the host calls excluded. Benchmark only, not a test.
//
//   node --no-liftoff benches/module.mjs target/lambda-wasm.wasm [GETs]
//   node --no-liftoff --cpu-prof benches/module.mjs <module built with names> [GETs]
//
// The second form writes a CPU profile whose Wasm frames carry the functions' names when the
// module keeps its name section (a release build with CARGO_PROFILE_RELEASE_STRIP=false, then
// wasm-opt with -g). Any module serving GET /bench/{id} through a callout can be measured,
// benches/ladder's included.
import fs from "fs";

const [wasmPath, runs = "20000"] = process.argv.slice(2);
if (!wasmPath) {
  console.error("usage: node --no-liftoff benches/module.mjs <module.wasm> [GETs]");
  process.exit(2);
}

const te = new TextEncoder();
const td = new TextDecoder();
let memory, exports;
const bytesOf = () => new Uint8Array(memory.buffer);
const view = () => new DataView(memory.buffer);

// The proxy-wasm ABI's map serialization: a count, each pair's two lengths, then each key and
// value followed by a NUL.
function serialize(pairs) {
  const encoded = pairs.map(([k, v]) => [te.encode(k), te.encode(v)]);
  let size = 4;
  for (const [k, v] of encoded) size += 8 + k.length + v.length + 2;
  const out = new Uint8Array(size);
  const d = new DataView(out.buffer);
  d.setUint32(0, encoded.length, true);
  let at = 4;
  for (const [k, v] of encoded) {
    d.setUint32(at, k.length, true);
    d.setUint32(at + 4, v.length, true);
    at += 8;
  }
  for (const [k, v] of encoded) {
    out.set(k, at);
    at += k.length + 1;
    out.set(v, at);
    at += v.length + 1;
  }
  return out;
}

// A host call's answer, allocated in the module's memory as Envoy allocates it.
function answer(data, ptrPtr, sizePtr) {
  const at = exports.proxy_on_memory_allocate(data.length);
  bytesOf().set(data, at);
  view().setUint32(ptrPtr, at, true);
  view().setUint32(sizePtr, data.length, true);
  return 0;
}

const ARN = "arn:aws:lambda:us-east-1:123456789012:function:bench";
const plugin = te.encode(JSON.stringify({
  credentials: { access_key_id: "AKIDEXAMPLE", secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" },
  endpoints: [{ endpoint: "/bench/{id}", backend: [{ host: ["x"], url_pattern: "/x",
    extra_config: { "backend/lambda": { function_name: ARN, region: "us-east-1" } } }] }],
}));
// What Envoy hands the filter for wrk's GET, and what the benchmark's fake Lambda answers.
const requestHeaders = [[":authority", "127.0.0.1:10000"], [":path", "/bench/42"], [":method", "GET"],
  [":scheme", "http"], ["x-forwarded-proto", "http"], ["x-request-id", "0b6e5b4e-7d0a-4a8e-9c0e-1f6e2a3b4c5d"]];
const calloutHeaders = [[":status", "200"], ["x-amzn-requestid", "00000000-bench"], ["x-amz-executed-version", "$LATEST"],
  ["content-type", "application/json"], ["content-length", "11"], ["date", "Wed, 02 Dec 2026 07:00:00 GMT"],
  ["server", "envoy"], ["x-envoy-upstream-service-time", "0"]];
const calloutBody = te.encode('{"ok":true}');
const maps = { 0: serialize(requestHeaders), 6: serialize(calloutHeaders) };
const values = new Map();
const valueOf = (type, name) => {
  const key = `${type}:${name}`;
  if (!values.has(key)) {
    const found = (type === 0 ? requestHeaders : calloutHeaders).find(([k]) => k === name);
    values.set(key, found ? te.encode(found[1]) : null);
  }
  return values.get(key);
};

let token = 0;
let callouts = 0;
let clock = 1796000000000; // ms
const BUFFER = { PLUGIN_CONFIGURATION: 7, HTTP_CALL_RESPONSE_BODY: 4 };
const env = {
  proxy_log: (level, at, len) => {
    if (level >= 3) console.error("log", level, td.decode(bytesOf().slice(at, at + len)));
    return 0;
  },
  proxy_get_log_level: (at) => { view().setUint32(at, 2, true); return 0; },
  proxy_get_buffer_bytes: (type, start, len, ptrPtr, sizePtr) => {
    const data = type === BUFFER.PLUGIN_CONFIGURATION ? plugin
      : type === BUFFER.HTTP_CALL_RESPONSE_BODY ? calloutBody : new Uint8Array(0);
    return answer(data.subarray(start, start + Math.min(len >>> 0, data.length)), ptrPtr, sizePtr);
  },
  proxy_get_header_map_pairs: (type, ptrPtr, sizePtr) => answer(maps[type] ?? serialize([]), ptrPtr, sizePtr),
  proxy_get_header_map_value: (type, at, len, ptrPtr, sizePtr) => {
    const value = valueOf(type, td.decode(bytesOf().subarray(at, at + len)));
    return value ? answer(value, ptrPtr, sizePtr) : 1; // NotFound
  },
  proxy_get_current_time_nanoseconds: (at) => {
    view().setBigUint64(at, BigInt(clock++) * 1000000n, true);
    return 0;
  },
  proxy_http_call: (...args) => {
    callouts++;
    view().setUint32(args[args.length - 1], ++token, true);
    return 0;
  },
  proxy_define_metric: (type, at, len, idAt) => { view().setUint32(idAt, 1, true); return 0; },
  proxy_get_shared_data: () => 1, // NotFound
  proxy_get_property: () => 1, // NotFound
};
const ok = () => 0;
const imports = {
  env: new Proxy(env, { get: (target, name) => target[name] ?? ok }),
  wasi_snapshot_preview1: new Proxy({}, {
    get: (_, name) => name === "random_get" ? (at, len) => { bytesOf().fill(7, at, at + len); return 0; }
      : name === "environ_sizes_get" || name === "args_sizes_get"
        ? (a, b) => { view().setUint32(a, 0, true); view().setUint32(b, 0, true); return 0; }
        : ok,
  }),
};

const { instance } = await WebAssembly.instantiate(fs.readFileSync(wasmPath), imports);
exports = instance.exports;
memory = exports.memory;
(exports._initialize ?? exports._start ?? (() => {}))();
const ROOT = 1;
exports.proxy_on_context_create(ROOT, 0);
exports.proxy_on_vm_start(ROOT, 0);
if (!exports.proxy_on_configure(ROOT, plugin.length)) throw new Error("the module refused its configuration");

let context = ROOT + 1;
function get() {
  const id = context++;
  exports.proxy_on_context_create(id, ROOT);
  exports.proxy_on_request_headers(id, requestHeaders.length, 1);
  exports.proxy_on_http_call_response(id, token, calloutHeaders.length, calloutBody.length, 0);
  exports.proxy_on_response_headers(id, 3, 0);
  exports.proxy_on_response_body(id, calloutBody.length, 1);
  exports.proxy_on_log(id);
  exports.proxy_on_done(id);
  exports.proxy_on_delete(id);
}

for (let i = 0; i < 2000; i++) get(); // warm-up: V8 compiles and the caches fill
const n = Number(runs);
const sent = callouts;
const start = process.hrtime.bigint();
for (let i = 0; i < n; i++) get();
const us = Number(process.hrtime.bigint() - start) / 1000 / n;
if (callouts - sent !== n) throw new Error(`expected ${n} callouts, the module made ${callouts - sent}`);
console.log(`${us.toFixed(2)} µs per GET`);
