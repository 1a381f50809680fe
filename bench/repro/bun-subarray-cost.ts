/**
 * Reproduction of a JavaScriptCore cost plb works around (src/http/types.ts
 * decode, src/http/serialize.ts, src/http/response.ts): the first view
 * (`subarray`, `.buffer`) of a fresh small typed array — which is what
 * every socket read is — makes the engine move its bytes into an
 * ArrayBuffer of its own, ~0.2 µs, where the view itself costs ~0.04 µs.
 * A proxied http request took 3-4 such views (TextDecoder needs a view;
 * ranges were copied with set(subarray); the body after a head was a
 * view): 9 % of plb's CPU samples were `subarray`.
 *
 *   bun bench/repro/bun-subarray-cost.ts
 *
 * Prints ns per operation on a fresh 300-byte array. Bun 1.4.5, this VM
 * (two runs, the second with other load on the machine): fresh only 28,
 * + subarray 200-335, + set(subarray) 170-340, + Buffer.prototype.copy.call
 * 45-80, + TextDecoder.decode(subarray) 430-690, + Buffer.prototype
 * .latin1Slice.call 150-230. plb copies with the copy and decodes with
 * latin1Slice (exact latin1, where TextDecoder("latin1") is windows-1252).
 */
const N = 1_000_000;
function bench(name: string, fn: () => number): void {
  for (let round = 0; round < 2; round++) {
    let sink = 0;
    const t = performance.now();
    for (let i = 0; i < N; i++) sink += fn();
    if (round === 1) console.log(`${name}: ${(((performance.now() - t) / N) * 1e6).toFixed(0)} ns${sink < 0 ? "" : ""}`);
  }
}

const out = new Uint8Array(1024);
const copy = Buffer.prototype.copy as (this: Uint8Array, target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number) => number;
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, a: number, b: number): string }).latin1Slice;
const decoder = new TextDecoder("latin1");

bench("fresh 300-byte array only", () => new Uint8Array(300).length);
bench("fresh + subarray(10, 260)", () => new Uint8Array(300).subarray(10, 260).length);
bench("fresh + a second subarray (the first paid)", () => {
  const a = new Uint8Array(300);
  a.subarray(0, 1);
  return a.subarray(10, 260).length;
});
bench("fresh + out.set(subarray(10, 260))", () => {
  out.set(new Uint8Array(300).subarray(10, 260));
  return 1;
});
bench("fresh + Buffer.prototype.copy.call(…, 10, 260)", () => copy.call(new Uint8Array(300), out, 0, 10, 260));
bench("fresh + TextDecoder.decode(subarray(10, 260))", () => decoder.decode(new Uint8Array(300).subarray(10, 260)).length);
bench("fresh + Buffer.prototype.latin1Slice.call(…, 10, 260)", () => latin1Slice.call(new Uint8Array(300), 10, 260).length);
