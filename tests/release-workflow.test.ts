/**
 * .github/workflows/release.yml cannot run here: this checks that it is
 * valid YAML, runs on version tags, and that every script, file and build
 * target it names exists (and what the Dockerfile copies is what
 * `bun build.ts image-root` writes).
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { ROOTFS_SPECS } from "../build/rootfs.ts";
import { ROOT } from "./support/plb.ts";

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
const wf = Bun.YAML.parse(readFileSync(join(ROOT, ".github/workflows/release.yml"), "utf8")) as {
  on: { push: { tags: string[] } };
  jobs: Record<string, { steps: Step[]; needs?: string }>;
};
const steps = Object.values(wf.jobs).flatMap((j) => j.steps);

test("it runs on version tags, builds binaries then the image", () => {
  expect(wf.on.push.tags).toEqual(["v*"]);
  expect(Object.keys(wf.jobs)).toEqual(["binaries", "image"]);
  expect(wf.jobs.image.needs).toBe("binaries");
});

test("every npm script it runs exists, and build.ts knows every target it asks for", () => {
  const scripts = pkg.scripts as Record<string, string>;
  const buildSource = readFileSync(join(ROOT, "build.ts"), "utf8");
  for (const s of steps) {
    for (const m of s.run?.matchAll(/npm run (\S+)(?: -- (\S+))?/g) ?? []) {
      expect(scripts[m[1]], `npm run ${m[1]}`).toBeDefined();
      if (m[1] === "build" && m[2]) expect(buildSource).toContain(JSON.stringify(m[2]));
    }
  }
  expect(steps.some((s) => s.run === "npm ci")).toBe(true);
  expect(existsSync(join(ROOT, "package-lock.json"))).toBe(true); // npm ci needs it
});

test("the files it uploads and builds from are what the build writes, and the Dockerfile exists and copies those trees", () => {
  const release = steps.find((s) => s.uses?.startsWith("softprops/action-gh-release"))!;
  expect(String(release.with!.files).trim().split("\n").map((l) => l.trim())).toEqual(["dist/plb-*", "dist/SHA256SUMS"]);
  const push = steps.find((s) => s.uses?.startsWith("docker/build-push-action"))!;
  expect(push.with!.platforms).toBe("linux/amd64,linux/arm64");
  const dockerfile = readFileSync(join(ROOT, String(push.with!.file)), "utf8");
  expect(dockerfile).toMatch(/^FROM scratch AS rootfs-amd64$/m);
  for (const cpu of Object.keys(ROOTFS_SPECS)) expect(dockerfile).toContain(`COPY dist/rootfs-linux-${cpu}/ /`);
  expect(dockerfile).toContain('ENTRYPOINT ["/plb"]');
  const upload = steps.find((s) => s.uses?.startsWith("actions/upload-artifact"))!;
  expect(upload.with!.path).toBe("dist/rootfs-linux-*");
});
