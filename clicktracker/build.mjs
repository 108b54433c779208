// Minifies src/clicktracker.js and src/clicktracker-heatmap.js into dist/ with terser and
// prints their sizes.
//   node build.mjs            write dist/clicktracker.js and dist/clicktracker-heatmap.js
//   node build.mjs --out D    write into directory D instead (the tests rebuild into a temp dir)
//   node build.mjs --check    fail when a file in dist/ differs from a fresh build
import {readFileSync, writeFileSync, existsSync} from 'node:fs';
import {gzipSync} from 'node:zlib';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {minify} from 'terser';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const distDir = join(here, 'dist');
const outDir = args.includes('--out') ? args[args.indexOf('--out') + 1] : distDir;
const BUDGET = 2048; // bytes, gzip level 9, for each file
const FILES = ['clicktracker.js', 'clicktracker-heatmap.js'];

let failed = 0;
for (const name of FILES) {
  const source = readFileSync(join(here, 'src', name), 'utf8');
  const result = await minify(source, {
    ecma: 2020,
    compress: {passes: 3, unsafe_arrows: true, unsafe_methods: true, pure_getters: true},
    mangle: true,
    format: {comments: false},
  });
  const code = result.code + '\n';
  const gz = gzipSync(code, {level: 9}).length;
  const dist = join(distDir, name);
  if (args.includes('--check')) {
    if (!existsSync(dist) || readFileSync(dist, 'utf8') !== code) {
      console.error(`dist/${name} is stale: run \`npm run build\` in clicktracker/`);
      failed = 1;
    }
  } else {
    writeFileSync(join(outDir, name), code);
  }
  console.log(`${name}: ${code.length} bytes, ${gz} bytes gzip -9 (budget ${BUDGET})`);
  if (gz > BUDGET) failed = 2;
}
process.exit(failed);
