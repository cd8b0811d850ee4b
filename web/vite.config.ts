import { readFileSync } from "node:fs";
import { defineConfig, type Plugin } from "vite";

/**
 * Ships producer/openapi.json with the static assets: the producer serves GET /openapi.json from
 * there (through its CONSOLE service binding) instead of carrying the document in its own script.
 */
const openApiDocument = (): Plugin => ({
  name: "openapi-document",
  generateBundle() {
    const source = readFileSync(new URL("../producer/openapi.json", import.meta.url), "utf8");
    this.emitFile({ type: "asset", fileName: "openapi.json", source });
  },
});

// The console and upload page, built into web/dist: the console Worker's static assets
// (web/wrangler.toml), which the producer forwards to on its own origin. Uppy loads only on the
// upload page (a dynamic import), so a first visit downloads the console alone.
export default defineConfig({
  root: import.meta.dirname,
  // Relative URLs: the app works wherever the producer is mounted.
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // The Workers asset server compresses on the way out; the size that matters is gzip's,
    // which performance.md reports per first visit.
    reportCompressedSize: true,
  },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  plugins: [openApiDocument()],
});
