import { defineConfig } from "vite";

// The console and upload page, built into web/dist and served by the producer as Workers static
// assets ([assets] in wrangler.toml). Uppy loads only on the upload page (a dynamic import), so a
// first visit downloads the console alone.
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
});
