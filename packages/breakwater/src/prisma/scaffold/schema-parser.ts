// Prisma's schema parser (`prisma_schema_build_bg.wasm`, which every Prisma CLI since 5.0 bundles
// in `node_modules/prisma/build/`) loaded without its JavaScript glue, which the CLI bundles
// inside its own index.js. The module needs only 3–4 imports (an Error constructor, a panic
// message setter, `throw`, and the externref table's set-up) and exports string → string
// functions in one of two wasm-bindgen calling conventions:
// - Prisma 5.0 – 6.5: results written at a return pointer (`__wbindgen_add_to_stack_pointer`),
//   errors as indexes into a table of JavaScript objects kept on this side;
// - Prisma 6.6 and later: results returned as multiple values, errors in the module's externref table.

export interface SchemaParser {
  get_dmmf(params: string): string;
  preview_features(): string;
}

// The WebAssembly global, typed for what is used here (the project compiles without DOM types).
interface WasmTable {
  get(index: number): unknown;
  set(index: number, value: unknown): void;
  grow(delta: number): number;
}
interface WasmMemory {
  buffer: ArrayBuffer;
}
interface WasmModule {
  readonly __brand: "WebAssembly.Module";
}
const wasmApi = (
  globalThis as unknown as {
    WebAssembly: {
      Module: { new (bytes: Uint8Array): WasmModule; imports(module: WasmModule): { module: string; name: string }[] };
      Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
    };
  }
).WebAssembly;

type Call = (...args: number[]) => unknown;

/** Instantiates a `prisma_schema_build_bg.wasm` of any Prisma version from 5.0 on. */
export function instantiateSchemaParser(bytes: Uint8Array): SchemaParser {
  const module = new wasmApi.Module(bytes);
  const encoder = new TextEncoder();
  const decoder = new TextDecoder("utf-8", { fatal: true });
  // Objects handed to the old convention by index; 128–131 are wasm-bindgen's undefined/null/true/false.
  const objects = new Map<number, unknown>();
  let nextObject = 132;
  let panic: string | undefined;
  let exports: Record<string, unknown> = {};
  const memory = () => (exports.memory as WasmMemory).buffer;
  const text = (ptr: number, len: number) => decoder.decode(new Uint8Array(memory(), ptr, len));
  const externrefs = () => (exports.__wbindgen_externrefs ?? exports.__wbindgen_export_0) as WasmTable;
  const oldConvention = () => typeof exports.__wbindgen_add_to_stack_pointer === "function";

  const imports: Record<string, unknown> = {};
  for (const { module: from, name } of wasmApi.Module.imports(module)) {
    if (from !== "__wbindgen_placeholder__") throw new Error(`unexpected import ${from}.${name}`);
    if (name === "__wbindgen_error_new" || name.startsWith("__wbg_Error_")) {
      imports[name] = (ptr: number, len: number) => {
        const error = new Error(text(ptr, len));
        if (!oldConvention()) return error;
        objects.set(nextObject, error);
        return nextObject++;
      };
    } else if (/^__wbg_set_?message_/.test(name)) {
      imports[name] = (ptr: number, len: number) => {
        panic = text(ptr, len);
      };
    } else if (name === "__wbindgen_throw" || name.startsWith("__wbg___wbindgen_throw_")) {
      imports[name] = (ptr: number, len: number) => {
        throw new Error(text(ptr, len));
      };
    } else if (name === "__wbindgen_init_externref_table") {
      imports[name] = () => {
        const table = externrefs();
        const offset = table.grow(4);
        table.set(0, undefined);
        [undefined, null, true, false].forEach((value, i) => table.set(offset + i, value));
      };
    } else {
      throw new Error(`unknown import ${name}`);
    }
  }
  exports = new wasmApi.Instance(module, { __wbindgen_placeholder__: imports }).exports;
  if (typeof exports.__wbindgen_start === "function") (exports.__wbindgen_start as Call)();

  const fn = (name: string) => exports[name] as Call;
  const passString = (value: string): [number, number] => {
    const bytes = encoder.encode(value);
    const ptr = fn("__wbindgen_malloc")(bytes.length, 1) as number;
    new Uint8Array(memory(), ptr, bytes.length).set(bytes);
    return [ptr, bytes.length];
  };
  const takeError = (index: number): unknown => {
    if (oldConvention()) {
      const error = objects.get(index);
      objects.delete(index);
      return error;
    }
    const error = externrefs().get(index);
    fn("__externref_table_dealloc")(index);
    return error;
  };
  /** Calls an export returning `String` or `Result<String, JsError>`; the four result words are [ptr, len, error, isError]. */
  const callString = (name: string, args: number[], fallible: boolean): string => {
    let words: number[];
    try {
      if (oldConvention()) {
        const retptr = fn("__wbindgen_add_to_stack_pointer")(-16) as number;
        try {
          fn(name)(retptr, ...args);
          const view = new DataView(memory());
          words = [0, 1, 2, 3].map((i) => view.getInt32(retptr + 4 * i, true));
        } finally {
          fn("__wbindgen_add_to_stack_pointer")(16);
        }
      } else {
        words = fn(name)(...args) as number[];
      }
    } catch (error) {
      // A Rust panic traps (`unreachable`) after setting its message.
      if (panic !== undefined) throw new Error(`Prisma's schema parser panicked: ${panic}`);
      throw error;
    }
    if (fallible && words[3]) throw takeError(words[2]!);
    const [ptr, len] = words as [number, number];
    try {
      return text(ptr, len);
    } finally {
      fn("__wbindgen_free")(ptr, len, 1);
    }
  };
  return {
    get_dmmf: (params) => callString("get_dmmf", passString(params), true),
    preview_features: () => callString("preview_features", [], false),
  };
}
