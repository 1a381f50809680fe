/**
 * Delta debugging, simplified (Zeller's ddmin without the complement
 * bookkeeping): first shorten long runs of one byte while the input still
 * fails (a huge input is mostly such a run), then remove chunks of halving
 * size, down to single bytes. At most `budget` calls of `fails` and about
 * `ms` milliseconds: a failure on a 1 MiB input is reported in seconds,
 * perhaps not fully minimized (the limit makes the result depend on the
 * machine's speed; the failure itself replays from the seed).
 */
export function shrink(input: Uint8Array, fails: (b: Uint8Array) => boolean, budget = 4000, ms = 10_000): Uint8Array {
  let best = input;
  let calls = 0;
  const until = performance.now() + ms;
  const tryIt = (b: Uint8Array): boolean => {
    if (calls++ >= budget || performance.now() > until) return false;
    if (!fails(b)) return false;
    best = b;
    return true;
  };
  const without = (at: number, n: number): Uint8Array => {
    const cut = new Uint8Array(best.length - n);
    cut.set(best.subarray(0, at));
    cut.set(best.subarray(at + n), at);
    return cut;
  };
  // Runs of 8 or more equal bytes, cut by half of them, else a quarter, an eighth…, while it still fails.
  for (let at = 0; at < best.length; ) {
    let end = at + 1;
    while (end < best.length && best[end] === best[at]) end++;
    let len = end - at;
    for (let step = len >> 1; len >= 8 && step >= 1; ) {
      if (tryIt(without(at, step))) len -= step;
      else step >>= 1;
      step = Math.min(step, len >> 1);
    }
    at += len;
  }
  for (let size = Math.max(1, best.length >> 1); ; size >>= 1) {
    let changed = true;
    while (changed && calls < budget) {
      changed = false;
      for (let at = 0; at < best.length && calls < budget; ) {
        if (tryIt(without(at, Math.min(size, best.length - at)))) changed = true;
        else at += size;
      }
    }
    if (size <= 1 || performance.now() > until) break;
  }
  return best;
}
