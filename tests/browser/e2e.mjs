// The app in a real browser: headless Chromium with WebGPU on SwiftShader, the site served from a sub-path.
// 1. Opens the page as a visitor does (the default run) and measures the time from opening it to the first training
//    metrics on the chart; saves a screenshot.
// 2. Opens a link on WebGPU (`?backend=wgpu`: on a software adapter the app would train on the CPU) twice and checks
//    the first train metrics are the same, then another seed and checks they differ.
// 3. Drops the official archive's layout (cifar-10-binary.tar.gz, a cut-down copy) on the page: it must load.
// 4. Goes offline and opens the page again: the service worker must serve it.
// Driven by tests/browser.rs, which prints what this script prints.
import { chromium } from 'playwright-core';

const [base, archiveUrl, shotDir] = process.argv.slice(2);
const link = (seed) =>
  `${base}?backend=wgpu#v=1&model=conv2&width=0.25&density=0.5&epochs=3&dataset=synthetic:640:200&seed=${seed}`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan',
    '--use-vulkan=swiftshader', '--use-angle=vulkan', '--enable-unsafe-swiftshader', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
});
// One profile for every page, as one visitor: the second visit finds the service worker and the caches.
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });

const seconds = (t0) => ((Date.now() - t0) / 1000).toFixed(1);

// Open `url` and wait until `done(title)` holds, polling the title (the app's one-line progress summary).
async function open(url, what, done, limitSeconds = 600) {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text().slice(0, 500)); });
  page.on('pageerror', (e) => errors.push(e.message.slice(0, 500)));
  const t0 = Date.now();
  await page.goto(url);
  let title = '';
  let printed = { title: '', at: 0 };
  let firstSeen = null;
  while ((Date.now() - t0) / 1000 < limitSeconds) {
    await page.waitForTimeout(250);
    title = await page.title();
    // Every change until the first metrics, then at most one line every 5 s.
    if (title !== printed.title && (!firstSeen || Date.now() - printed.at > 5000)) {
      console.log(`${what} ${seconds(t0)}s ${title}`);
      printed = { title, at: Date.now() };
    }
    if (!firstSeen && title.includes('first=')) firstSeen = seconds(t0);
    if (errors.length || done(title)) break;
  }
  if (errors.length) throw new Error(`${what}: errors in the page: ${errors.join(' | ')}`);
  if (!done(title)) throw new Error(`${what}: gave up after ${limitSeconds} s; last title '${title}'`);
  return { page, title, firstSeen, first: (title.match(/first=(\S+)/) || [])[1] };
}

const step = (title) => Number((title.match(/step=(\d+)/) || [])[1] || 0);

try {
  // 1. As a visitor opens it.
  const a = await open(base, 'default run', (t) => t.includes('first=') && step(t) >= 20);
  const backend = (a.title.match(/backend=(\S+)/) || [])[1];
  console.log(`FIRST RESULT: train metrics on the chart ${a.firstSeen} s after the page opened (${backend}, cold)`);
  await a.page.screenshot({ path: `${shotDir}/browser.png`, timeout: 180000 })
    .catch((e) => console.log(`no screenshot: ${e.message.split('\n')[0]}`));
  await a.page.close();

  // 2. Links reproduce, on WebGPU.
  const b = await open(link(7), 'link seed 7', (t) => t.includes('first='));
  if (!b.title.includes('backend=WebGPU')) throw new Error(`not training on WebGPU: '${b.title}'`);
  console.log(`link on WebGPU: first loss ${b.first} after ${b.firstSeen} s (warm: second visit)`);
  await b.page.close();
  const c = await open(link(7), 'link seed 7 again', (t) => t.includes('first='));
  console.log(`same link again: first loss ${c.first}`);
  if (c.first !== b.first) throw new Error(`the same link gave different first metrics: ${b.first} vs ${c.first}`);
  await c.page.close();
  const d = await open(link(8), 'link seed 8', (t) => t.includes('first='));
  console.log(`another seed: first loss ${d.first}`);
  if (d.first === b.first) throw new Error('a different seed gave the same first metrics');
  await d.page.close();

  // 3. The official archive, dropped on the page.
  const e = await open(base, 'archive drop', (t) => t.startsWith('ticketlab step='), 120);
  const t0 = Date.now();
  const transfer = await e.page.evaluateHandle(async (url) => {
    const bytes = await (await fetch(url)).blob();
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], 'cifar-10-binary.tar.gz', { type: 'application/gzip' }));
    return transfer;
  }, archiveUrl);
  await e.page.dispatchEvent('canvas', 'dragover', { dataTransfer: transfer });
  await e.page.dispatchEvent('canvas', 'drop', { dataTransfer: transfer });
  await e.page.waitForFunction(() => document.title.includes(' data='), null, { timeout: 120000 });
  const loaded = await e.page.title();
  console.log(`archive dropped: loaded after ${seconds(t0)} s: ${loaded}`);
  if (!loaded.includes('data=cifar10:7+2')) throw new Error(`the dropped archive did not load as expected: '${loaded}'`);
  await e.page.screenshot({ path: `${shotDir}/browser-archive.png`, timeout: 180000 })
    .catch((err) => console.log(`no screenshot: ${err.message.split('\n')[0]}`));
  await e.page.close();

  // 4. Offline: the service worker serves the page and the app starts.
  await context.setOffline(true);
  const f = await open(base, 'offline', (t) => t.startsWith('ticketlab step='), 180);
  console.log(`offline: the app started from the service worker's cache (${f.title.split(' ').slice(0, 2).join(' ')})`);
  await f.page.close();
  await context.setOffline(false);
  console.log('browser test passed');
} finally {
  await browser.close();
}
