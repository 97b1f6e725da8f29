// Runs the steps benchmark (benches/steps) in Node's V8 with Liftoff off, as Envoy compiles a
// module with TurboFan: `node --no-liftoff benches/steps.mjs steps.wasm`. The filter's proxy-wasm
// imports are linked in but never called: they are stubbed.
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';

const wasi = new WASI({ version: 'preview1', args: [], env: {} });
const module = await WebAssembly.compile(await readFile(process.argv[2]));
const imports = wasi.getImportObject();
for (const { module: from, name } of WebAssembly.Module.imports(module)) {
  imports[from] ??= {};
  imports[from][name] ??= () => 0;
}
const instance = await WebAssembly.instantiate(module, imports);
// The filter's `_initialize` (a reactor's) must not be run as well as the command's `_start`.
const { _initialize, ...exports } = instance.exports;
wasi.start({ exports });
