/**
 * Delta debugging, simplified (Zeller's ddmin without the complement
 * bookkeeping): remove chunks of halving size while the input still fails,
 * then try each single byte. At most `budget` calls of `fails`.
 */
export function shrink(input: Uint8Array, fails: (b: Uint8Array) => boolean, budget = 4000): Uint8Array {
  let best = input;
  let calls = 0;
  const tryIt = (b: Uint8Array): boolean => {
    if (calls++ >= budget) return false;
    if (!fails(b)) return false;
    best = b;
    return true;
  };
  for (let size = Math.max(1, best.length >> 1); ; size = size > 1 ? size >> 1 : 0) {
    let changed = true;
    while (changed && calls < budget) {
      changed = false;
      for (let at = 0; at < best.length && calls < budget; ) {
        const cut = new Uint8Array(best.length - Math.min(size, best.length - at));
        cut.set(best.subarray(0, at));
        cut.set(best.subarray(at + size), at);
        if (tryIt(cut)) changed = true;
        else at += size;
      }
    }
    if (size <= 1) break;
  }
  return best;
}
