/**
 * Signals from the first milliseconds on. With no handler, SIGHUP, SIGUSR1
 * and SIGUSR2 kill the process, and systemd may send SIGHUP right after
 * start (a reload) while plb is still loading its modules and its
 * configuration. The entry point calls `catchSignals()` before it loads
 * anything else; signals that arrive before plb can act on them wait here
 * and are handed, in order, to the handler `handleSignals` installs.
 *
 * This module imports nothing, so that loading it costs nothing.
 */
export const SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2"] as const;
export type SignalName = (typeof SIGNALS)[number];

let handler: ((sig: SignalName) => void) | undefined;
const pending: SignalName[] = [];
let caught = false;

/** Install the handlers (once); until `handleSignals`, signals are kept. */
export function catchSignals(): void {
  if (caught) return;
  caught = true;
  for (const sig of SIGNALS) {
    try {
      process.on(sig, () => {
        if (handler) handler(sig);
        else pending.push(sig);
      });
    } catch {
      // a signal this system does not have (Windows: SIGUSR1, SIGUSR2)
    }
  }
}

/** From now on `h` gets every signal, first those that came before. */
export function handleSignals(h: (sig: SignalName) => void): void {
  catchSignals();
  handler = h;
  for (const sig of pending.splice(0)) h(sig);
}
