// tests/browser/report_test.mjs: renders the bundled dump's report.html in headless Chromium and checks what a reader sees.
// Usage: node report_test.mjs --fpscope BIN --out DIR --node-modules DIR [--chromium /usr/bin/chromium]
// Asserts: no console errors, no network requests (every non-file/data/blob request is
// aborted and fails the test), the verdict matrix and a histogram per tensor drawn
// (each scrolled into view: the plots load lazily), a header click sorts the table.
// Leaves report-top.png, report-tensor.png and report-dark.png in DIR.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []));
const chromiumPath = args.chromium || '/usr/bin/chromium';
for (const need of ['fpscope', 'out', 'node-modules']) {
  if (!args[need]) { console.error(`report_test: missing --${need}`); process.exit(2); }
}
if (!fs.existsSync(chromiumPath)) {
  console.error(`report_test: ${chromiumPath} not found (Debian packages chromium and chromium-driver, .ci/packages)`);
  process.exit(1);
}
const { chromium } = createRequire(path.join(args['node-modules'], 'noop.js'))('playwright-core');

const failures = [];
const fail = (what) => { failures.push(what); console.error('FAIL: ' + what); };
const outDir = path.resolve(args.out);
fs.rmSync(outDir, { recursive: true, force: true });
fs.mkdirSync(outDir, { recursive: true });

// 1. The report of the bundled dump (fpscope analyze with no PATH), written by --report.
let t0 = Date.now();
const analyze = spawnSync(args.fpscope, ['analyze', '--quiet', '--report', path.join(outDir, 'report')], { encoding: 'utf8' });
if (analyze.status !== 0) {
  console.error(analyze.stdout, analyze.stderr);
  console.error(`report_test: fpscope analyze --report exited ${analyze.status}`);
  process.exit(1);
}
console.log(`analyze --report: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
const htmlPath = path.join(outDir, 'report', 'report.html');
const result = JSON.parse(fs.readFileSync(path.join(outDir, 'report', 'result.json'), 'utf8'));
console.log(`report.html: ${(fs.statSync(htmlPath).size / 1e6).toFixed(1)} MB, ${result.tensors.length} tensors, ${result.combinations.length} combinations`);

// 2. Chromium, offline by construction: a fresh profile, no background traffic, every request checked.
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'fpscope-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: chromiumPath,
  headless: true,
  viewport: { width: 1400, height: 1000 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const network = [];
const localUrl = (u) => u.startsWith('file:') || u.startsWith('data:') || u.startsWith('blob:') || u === 'about:blank';
await context.route('**/*', (route) => {
  const u = route.request().url();
  if (localUrl(u)) return route.continue();
  network.push(u);
  return route.abort();
});
context.on('request', (req) => { if (!localUrl(req.url()) && !network.includes(req.url())) network.push(req.url()); });

async function openReport(colorScheme) {
  const page = await context.newPage();
  await page.emulateMedia({ colorScheme });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console.error: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  const start = Date.now();
  await page.goto('file://' + htmlPath, { waitUntil: 'load', timeout: 120000 });
  await page.waitForSelector('body[data-ready="true"]', { timeout: 120000 });
  console.log(`${colorScheme}: page ready in ${((Date.now() - start) / 1000).toFixed(1)} s`);
  return { page, errors };
}

try {
  const { page, errors } = await openReport('light');

  // 3. The verdict matrix: one coloured cell per (layer, role) x combination verdict.
  const expectedCells = result.layers.reduce((n, l) => n + l.verdicts.length, 0);
  const cells = await page.$$eval('#verdict-matrix td.cell[data-status]', (tds) => tds.length);
  if (cells !== expectedCells || cells === 0) fail(`verdict matrix: ${cells} coloured cells, expected ${expectedCells}`);
  await page.screenshot({ path: path.join(outDir, 'report-top.png') });

  // 4. Every tensor's plot, scrolled into view one after another (lazy loading).
  t0 = Date.now();
  const plots = await page.evaluate(async () => {
    const drawn = (p) => { const svg = p.querySelector('svg'); return svg && svg.querySelectorAll('path, rect').length > 2; };
    const missing = [];
    const targets = [...document.querySelectorAll('.plot.histogram')];
    for (const p of targets) {
      p.scrollIntoView({ block: 'center' });
      const deadline = performance.now() + 20000;
      while (!drawn(p) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      if (!drawn(p)) missing.push(p.closest('article')?.dataset.name || '?');
    }
    return { total: targets.length, missing };
  });
  console.log(`${plots.total} tensor plots drawn in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (plots.total !== result.tensors.length) fail(`${plots.total} tensor plots on the page, ${result.tensors.length} tensors in result.json`);
  if (plots.missing.length) fail(`${plots.missing.length} tensor plots not drawn, e.g. ${plots.missing.slice(0, 3).join(', ')}`);
  const firstCard = await page.$('article.tensor');
  await firstCard.scrollIntoViewIfNeeded();
  await firstCard.screenshot({ path: path.join(outDir, 'report-tensor.png') });

  // The layer-by-step plots, when several steps were captured.
  const steps = new Set(result.tensors.map((t) => t.step).filter((s) => s >= 0));
  if (steps.size > 1) {
    for (const id of ['plot-steps-amax', 'plot-steps-underflow', 'plot-steps-growth']) {
      await page.locator('#' + id).scrollIntoViewIfNeeded();
      await page.waitForSelector(`#${id} svg path`, { state: 'attached', timeout: 30000 })
        .catch(async () => fail(`#${id} not drawn: ${(await page.textContent('#' + id)).slice(0, 200)}`));
    }
  }

  // 5. A click on a header sorts the statistics table (numbers: largest first, NaN last; again: reversed).
  const columnValues = () => page.$$eval('#stats-table tbody tr', (trs) => {
    const th = [...document.querySelectorAll('#stats-table thead th')].findIndex((h) => h.dataset.key === 'sqnr_db');
    return trs.map((tr) => Number(tr.children[th].dataset.value));
  });
  // (Not x - prev: inf - inf is NaN; an exact round trip has sqnr_db inf.)
  const sorted = (xs, dir) => xs.filter((x) => !Number.isNaN(x)).every((x, i, a) => i === 0 || (dir > 0 ? x >= a[i - 1] : x <= a[i - 1]));
  const before = await columnValues();
  await page.locator('#stats-table thead th[data-key="sqnr_db"]').scrollIntoViewIfNeeded();
  await page.click('#stats-table thead th[data-key="sqnr_db"]');
  const descending = await columnValues();
  const sortAttr = await page.getAttribute('#stats-table thead th[data-key="sqnr_db"]', 'aria-sort');
  if (sortAttr !== 'descending' || !sorted(descending, -1)) fail(`first click: aria-sort ${sortAttr}, rows sorted descending: ${sorted(descending, -1)}`);
  if (sorted(before, -1) && sorted(before, 1)) fail('the statistics table was already in order: the sort check proves nothing');
  await page.click('#stats-table thead th[data-key="sqnr_db"]');
  const ascending = await columnValues();
  if (!sorted(ascending, 1) || ascending[0] === descending[0]) fail('second click did not reverse the order');
  const textSort = await page.click('#stats-table thead th[data-key="tensor"]').then(() =>
    page.$$eval('#stats-table tbody tr td:first-child', (tds) => tds.map((td) => td.textContent)));
  if (textSort.some((x, i) => i > 0 && x.localeCompare(textSort[i - 1], 'en', { numeric: true }) < 0)) fail('sort by tensor name not ascending');

  // 6. Filtering narrows the rows.
  await page.fill('#stats-filter', 'blocks\\.0\\.mlp\\.fc1\\.weight$');
  const filtered = await page.$$eval('#stats-table tbody tr td:first-child', (tds) => [...new Set(tds.map((td) => td.textContent))]);
  if (filtered.length !== 1 || filtered[0] !== 'blocks.0.mlp.fc1.weight') fail(`filter left ${JSON.stringify(filtered.slice(0, 3))}`);

  for (const e of errors) fail(e);

  // 7. The dark scheme opens cleanly too.
  const dark = await openReport('dark');
  await dark.page.waitForTimeout(500);
  await dark.page.screenshot({ path: path.join(outDir, 'report-dark.png') });
  for (const e of dark.errors) fail('dark: ' + e);
} catch (e) {
  fail(`exception: ${e.stack || e}`);
} finally {
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
for (const u of network) fail(`network request: ${u}`);
console.log(failures.length ? `${failures.length} failure(s)` : `OK; screenshots in ${outDir}`);
process.exit(failures.length ? 1 : 0);
