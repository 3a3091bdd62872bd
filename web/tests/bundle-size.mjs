// Prints what a first visit to each page of the built UI downloads, gzipped: index.html, the
// kit's entries, the root layout and the page's nodes with every chunk and stylesheet they
// import (Vite's manifest). Exits 1 when a page is over the limit. Run by `npm run build`
// after vite (web/package.json), so the build prints it:
//   node tests/bundle-size.mjs [<output dir>]   (default $TF_WEB_OUT, else build)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const limit = 150 * 1024;
const out = process.argv[2] ?? process.env.TF_WEB_OUT ?? 'build';
const manifest = JSON.parse(readFileSync('.svelte-kit/output/client/.vite/manifest.json', 'utf8'));
const app = readFileSync('.svelte-kit/generated/client-optimized/app.js', 'utf8');
const found = /export const dictionary = (\{[\s\S]*?\});/.exec(app);
if (!found) {
  console.error('bundle-size: no route dictionary in the generated app.js');
  process.exit(1);
}
// {"/route": [page node, layout nodes...]}: a negative number is a node with server data (~n).
const routes = JSON.parse(found[1].replace(/,\s*}/, '}'));
const nodeKey = (n) => `.svelte-kit/generated/client-optimized/nodes/${n < 0 ? ~n : n}.js`;

function collect(key, files) {
  const entry = manifest[key];
  if (!entry || files.has(entry.file)) return;
  files.add(entry.file);
  for (const css of entry.css ?? []) files.add(css);
  for (const imported of entry.imports ?? []) collect(imported, files);
}

const sizes = new Map();
const gzipped = (file) => {
  if (!sizes.has(file)) sizes.set(file, gzipSync(readFileSync(join(out, file)), { level: 9 }).length);
  return sizes.get(file);
};
const entries = Object.keys(manifest).filter((k) => manifest[k].isEntry && !manifest[k].isDynamicEntry);
const pages = Object.entries(routes).map(([route, nodes]) => {
  const files = new Set(['index.html']);
  for (const e of entries) collect(e, files);
  for (const n of [0, ...nodes]) collect(nodeKey(n), files);
  return { route, bytes: [...files].reduce((sum, f) => sum + gzipped(f), 0) };
});
const kb = (b) => `${(b / 1024).toFixed(1)} KB`;
const largest = pages.reduce((a, b) => (b.bytes > a.bytes ? b : a));
console.log(`web UI, a first visit's download gzipped: ${pages.map((p) => `${p.route} ${kb(p.bytes)}`).join(', ')}; largest ${kb(largest.bytes)} (limit ${kb(limit)})`);
if (largest.bytes > limit) {
  console.error(`bundle-size: ${largest.route} downloads ${kb(largest.bytes)}, over ${kb(limit)}`);
  process.exit(1);
}
