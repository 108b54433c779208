// Minifies src/clicktracker.js into dist/clicktracker.js with terser and prints its size.
//   node build.mjs            write dist/clicktracker.js
//   node build.mjs --out F    write F instead (the tests rebuild into a temp file)
//   node build.mjs --check    fail when dist/clicktracker.js differs from a fresh build
import {readFileSync, writeFileSync, existsSync} from 'node:fs';
import {gzipSync} from 'node:zlib';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {minify} from 'terser';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const dist = join(here, 'dist', 'clicktracker.js');
const out = args.includes('--out') ? args[args.indexOf('--out') + 1] : dist;
const BUDGET = 2048; // bytes, gzip level 9

const source = readFileSync(join(here, 'src', 'clicktracker.js'), 'utf8');
const result = await minify(source, {
  ecma: 2020,
  compress: {passes: 3, unsafe_arrows: true, unsafe_methods: true, pure_getters: true},
  mangle: true,
  format: {comments: false},
});
const code = result.code + '\n';
const gz = gzipSync(code, {level: 9}).length;

if (args.includes('--check')) {
  if (!existsSync(dist) || readFileSync(dist, 'utf8') !== code) {
    console.error('dist/clicktracker.js is stale: run `npm run build` in clicktracker/');
    process.exit(1);
  }
} else {
  writeFileSync(out, code);
}
console.log(`clicktracker.js: ${code.length} bytes, ${gz} bytes gzip -9 (budget ${BUDGET})`);
if (gz > BUDGET) process.exit(2);
