/**
 * Finds the line of a key in TOML source text. @iarna/toml reports no
 * positions for values, so this small scanner walks the text once, tracking
 * the current table header (`[[service]]` number k) and recording the line
 * of every `key =` and of every element of a multi-line array
 * (`servers = [ "a:1",\n { address = "b:2" } ]`). It only runs on text the
 * parser accepted, so it is lenient: unknown shapes just aren't located.
 */

/** Where to look: a global key, a service or backend (its header), one of its keys, or an element of an array key. */
export interface KeyWhere {
  /** 0-based [[service]] number; absent for the top level. */
  readonly service?: number;
  /** 0-based [[backend]] number (instead of service). */
  readonly backend?: number;
  readonly key?: string;
  /** 0-based element of the key's array value. */
  readonly index?: number;
  /** A key inside the key's table when written as its own `[service.tls]` table (`cert`), or inside element `index` written as `[[service.route]]`. */
  readonly sub?: string;
}

export interface SourceIndex {
  /** 1-based line, or undefined when not found. Falls back to the enclosing key or header. */
  line(where: KeyWhere): number | undefined;
}

interface Entry {
  line: number;
  elements: number[];
}

const BARE_KEY = /[A-Za-z0-9_-]/;

export function indexSource(text: string): SourceIndex {
  const entries = new Map<string, Entry>();
  /** The header line of each [[service]] and [[backend]], by kind. */
  const headers: Record<string, number[]> = { service: [], backend: [] };
  const counts: Record<string, number> = { service: -1, backend: -1 };
  let table = "";
  let i = 0;
  let line = 1;

  const record = (tbl: string, key: string, at: number): Entry => {
    const id = `${tbl}|${key}`;
    let e = entries.get(id);
    if (!e) entries.set(id, (e = { line: at, elements: [] }));
    return e;
  };

  const skipString = (): void => {
    const q = text[i];
    const triple = text.startsWith(q.repeat(3), i);
    i += triple ? 3 : 1;
    while (i < text.length) {
      const c = text[i];
      if (c === "\\" && q === '"') {
        i += 2;
        continue;
      }
      if (c === "\n") {
        if (!triple) return;
        line++;
      }
      if (c === q && (!triple || text.startsWith(q.repeat(3), i))) {
        i += triple ? 3 : 1;
        while (triple && text[i] === q) i++;
        return;
      }
      i++;
    }
  };

  const skipComment = (): void => {
    while (i < text.length && text[i] !== "\n") i++;
  };

  /** Dotted key or header path up to `stop` ("=" or "]"); returns the unquoted segments. */
  const readPath = (stop: string): string[] => {
    const parts: string[] = [];
    while (i < text.length && text[i] !== stop && text[i] !== "\n") {
      const c = text[i];
      if (c === '"' || c === "'") {
        const start = i;
        skipString();
        const raw = text.slice(start, i);
        try {
          parts.push(c === '"' ? JSON.parse(raw) : raw.slice(1, -1));
        } catch {
          parts.push(raw.slice(1, -1));
        }
      } else if (BARE_KEY.test(c)) {
        const start = i;
        while (i < text.length && BARE_KEY.test(text[i])) i++;
        parts.push(text.slice(start, i));
      } else {
        i++;
      }
    }
    return parts;
  };

  /** Skips one value, recording the start line of each element when it is an array. */
  const scanValue = (entry: Entry): void => {
    const stack: string[] = [];
    let expectElement = false;
    while (i < text.length) {
      const c = text[i];
      if (stack.length === 0 && (c === "\n" || c === "#")) return;
      if (c === "\n") {
        line++;
        i++;
        continue;
      }
      if (c === "#") {
        skipComment();
        continue;
      }
      if (c === " " || c === "\t" || c === "\r") {
        i++;
        continue;
      }
      if (expectElement && stack.length === 1 && c !== "]") {
        entry.elements.push(line);
        expectElement = false;
      }
      if (c === '"' || c === "'") {
        skipString();
      } else if (c === "[" || c === "{") {
        stack.push(c);
        if (stack.length === 1 && c === "[") expectElement = true;
        i++;
      } else if (c === "]" || c === "}") {
        stack.pop();
        i++;
        if (stack.length === 0) return;
      } else {
        if (c === "," && stack.length === 1 && stack[0] === "[") expectElement = true;
        i++;
      }
    }
  };

  while (i < text.length) {
    const c = text[i];
    if (c === "\n") {
      line++;
      i++;
    } else if (c === " " || c === "\t" || c === "\r") {
      i++;
    } else if (c === "#") {
      skipComment();
    } else if (c === "[") {
      const array = text[i + 1] === "[";
      i += array ? 2 : 1;
      const path = readPath("]");
      const name = path.join(".");
      const kind = path[0] === "service" || path[0] === "backend" ? path[0] : undefined;
      if (array && kind !== undefined && path.length === 1) {
        counts[kind]++;
        headers[kind].push(line);
        table = `${kind}#${counts[kind]}`;
      } else if (array && kind !== undefined && path.length === 2 && counts[kind] >= 0) {
        // [[service.servers]]: one more element of this service's key.
        const owner = `${kind}#${counts[kind]}`;
        const e = record(owner, path[1], line);
        e.elements.push(line);
        table = `${owner}.${path[1]}#${e.elements.length - 1}`;
      } else if (kind !== undefined && counts[kind] >= 0 && path.length > 1) {
        record(`${kind}#${counts[kind]}`, path[1], line);
        table = `${kind}#${counts[kind]}.${path.slice(1).join(".")}`;
      } else {
        if (path.length > 0) record("", path[0], line);
        table = `table:${name}`;
      }
      skipComment();
    } else {
      const path = readPath("=");
      if (text[i] === "=") i++;
      if (path.length > 0) scanValue(record(table, path[0], line));
      else skipComment();
    }
  }

  return {
    line(where: KeyWhere): number | undefined {
      const kind = where.service !== undefined ? "service" : where.backend !== undefined ? "backend" : undefined;
      const n = where.service ?? where.backend ?? 0;
      const top = kind === undefined;
      const tbl = top ? "" : `${kind}#${n}`;
      // A service written inline (`service = [{ … }]`) is an element of the top-level key.
      const inline = top ? undefined : entries.get(`|${kind}`)?.elements[n];
      const header = top ? undefined : headers[kind][n] ?? inline;
      if (where.key === undefined) return header;
      const e = entries.get(`${tbl}|${where.key}`);
      if (!e) return header;
      if (where.index !== undefined) {
        // A key of the element when written as its own table ([[service.route]] number `index`: `path`).
        const own = where.sub === undefined ? undefined : entries.get(`${tbl}.${where.key}#${where.index}|${where.sub}`)?.line;
        return own ?? e.elements[where.index] ?? e.line;
      }
      if (where.sub !== undefined) return entries.get(top ? `table:${where.key}|${where.sub}` : `${tbl}.${where.key}|${where.sub}`)?.line ?? e.line;
      return e.line;
    },
  };
}
