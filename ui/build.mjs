// Bundles the UI into the Python package: src/otelflow/ui/static/{index.html, assets/app.js, assets/app.css}.
// `node build.mjs --watch` rebuilds on change (serve the result with otelflow's web_ui extension).
import * as esbuild from "esbuild";
import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "otelflow", "ui", "static");
const watch = process.argv.includes("--watch");

const options = {
  entryPoints: { app: join(here, "src", "main.tsx") },
  outdir: join(out, "assets"),
  bundle: true,
  format: "esm",
  target: ["es2022"],
  minify: !watch,
  sourcemap: watch ? "inline" : false,
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "none",
  logLevel: "info",
};

await rm(out, { recursive: true, force: true });
await mkdir(join(out, "assets"), { recursive: true });
await copyFile(join(here, "index.html"), join(out, "index.html"));
if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
