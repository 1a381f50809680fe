/** The configuration module: re-exports only. */
export type * from "./types.ts";
export { backendWhere, configLine, configWarnings, loadConfig, parseConfig } from "./load.ts";
export { parseDuration, formatDuration } from "./duration.ts";
export { parseListen, parseServerAddress, listenOverlaps, isIPv4, isIPv6, isHostName, type HostPort } from "./address.ts";
export { SCHEMA, MAX_DURATION_MS, describeKeys, keyDef, keysFor, type KeyDef, type KeyScope, type KeyType } from "./schema.ts";
export { didYouMean, editDistance, formatDiagnostic, formatDiagnostics, type Diagnostic } from "./diagnostics.ts";
