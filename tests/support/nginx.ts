/** A real nginx (Debian's package) on loopback with a config the test gives. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Nginx {
  readonly dir: string;
  stop(): Promise<void>;
}

/** Start nginx in the foreground with `http { … }` body `httpBlock`; resolves once `port` accepts. */
export async function startNginx(httpBlock: string, port: number): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), "plb-nginx-"));
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  ${httpBlock}
}
`,
  );
  const proc = Bun.spawn(["nginx", "-p", dir, "-c", conf], { stdout: "ignore", stderr: "pipe" });
  for (let i = 0; i < 200; i++) {
    const up = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then(
      (s) => (s.end(), true),
      () => false,
    );
    if (up) break;
    if (proc.exitCode !== null) throw new Error(`nginx exited: ${await new Response(proc.stderr).text()}`);
    await Bun.sleep(20);
  }
  return {
    dir,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}
