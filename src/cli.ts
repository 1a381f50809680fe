#!/usr/bin/env bun
/**
 * The entry point: catch signals first (a SIGHUP in the first milliseconds
 * must not kill plb), then load the command (command.ts) and run it.
 * Everything else is imported only after the handlers are in place.
 */
import { catchSignals } from "./process/signals.ts";

catchSignals();

if (import.meta.main) {
  void import("./command.ts").then(({ main, fail }) =>
    main(process.argv.slice(2)).catch((err: unknown) => fail(2, (err as Error)?.stack ?? String(err))),
  );
}
