// The UI in a real browser (Debian's chromium through playwright-core): first-run setup,
// login, the Containers page with its filters in the URL, and the Russian locale. Starts its
// own daemon on a temp data dir. Run by CTest (tests/CMakeLists.txt):
//   node web/tests/browser.mjs <tinyforge binary> <screenshot dir>
// Exits 77 (CTest: skipped) with the reason when chromium is not installed.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const [binary, shots] = process.argv.slice(2);
const chromium = process.env.TF_CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(chromium)) {
  console.log(`skipped: ${chromium} is not installed (.ci/setup installs Debian's chromium)`);
  process.exit(77);
}
const { chromium: browserType } = await import('playwright-core');

const dir = mkdtempSync(join(tmpdir(), 'tinyforge-ui-'));
const log = join(dir, 'daemon.log');
mkdirSync(shots, { recursive: true });

const { openSync } = await import('node:fs');
const out = openSync(log, 'w');
// Port 0: the daemon binds a free port and logs it (the engine is shared with other runs).
const daemon = spawn(binary, ['serve', '--listen', '127.0.0.1:0', '--data_dir', join(dir, 'data'), '--proxy.provider', 'none',
  // An engine nobody answers on: this test's index stays its own on a shared machine.
  '--docker_host', `unix://${join(dir, 'no-engine.sock')}`], {
  stdio: ['ignore', out, out]
});

async function until(what, check, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let browser;
let base = '';
const consoleErrors = [];
try {
  const port = await until('the listening port in the log', async () => readFileSync(log, 'utf8').match(/event=http-listening address=127\.0\.0\.1:(\d+)/)?.[1]);
  base = `http://127.0.0.1:${port}`;
  await until('healthz', async () => (await fetch(`${base}/healthz`)).ok);
  const token = await until('the setup token in the log', async () => readFileSync(log, 'utf8').match(/event=setup-token-issued token=(\S+)/)?.[1]);

  browser = await browserType.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
  const page = await context.newPage();
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  // Not logged in: the containers page sends us to the login page.
  await page.goto(`${base}/containers`);
  await page.waitForURL('**/login');
  await page.screenshot({ path: join(shots, 'login-desktop.png') });

  // First run: the admin created with the setup token, then logged in.
  await page.getByRole('button', { name: 'First run? Create the admin' }).click();
  await page.getByLabel("Setup token (printed in the daemon's log)").fill(token);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill('correct horse battery staple');
  await page.getByRole('button', { name: 'Create admin' }).click();
  await page.waitForURL('**/containers');
  // The 401 of the first visit, before any session, is the one error the console may show.
  const beforeLogin = consoleErrors.splice(0);
  assert.ok(beforeLogin.every((e) => e.includes('status of 401')), `console before login: ${beforeLogin}`);
  await page.getByRole('heading', { name: 'Containers' }).waitFor();
  await page.getByText('No container matches.').waitFor();
  await page.screenshot({ path: join(shots, 'containers-desktop.png') });

  // A filter goes into the URL, and that URL opens the same view in a new context.
  await page.getByRole('button', { name: /^Stack/ }).click();
  await page.waitForURL('**/containers?kind=stack');
  await page.getByLabel('State').selectOption('running');
  await page.waitForURL('**/containers?kind=stack&state=running');
  assert.equal(await page.getByRole('button', { name: /^Stack/ }).getAttribute('aria-pressed'), 'true');
  const cookies = await context.cookies();
  const second = await browser.newContext({ viewport: { width: 375, height: 740 } });
  await second.addCookies(cookies);
  const phone = await second.newPage();
  phone.on('pageerror', (e) => consoleErrors.push(String(e)));
  await phone.goto(`${base}/containers?kind=stack&state=running`);
  await phone.getByRole('heading', { name: 'Containers' }).waitFor();
  assert.equal(await phone.getByRole('button', { name: /^Stack/ }).getAttribute('aria-pressed'), 'true');
  assert.equal(await phone.getByLabel('State').inputValue(), 'running');
  await phone.screenshot({ path: join(shots, 'containers-phone.png') });

  // Russian: the choice is remembered, and no English string of the page is left.
  await page.getByLabel('Language').selectOption('ru');
  await page.getByRole('heading', { name: 'Контейнеры' }).waitFor();
  await page.reload();
  await page.getByRole('heading', { name: 'Контейнеры' }).waitFor();
  const text = await page.locator('body').innerText();
  for (const english of ['Containers', 'Log out', 'Kind', 'State', 'No container matches.'])
    assert.ok(!text.includes(english), `English "${english}" left on the Russian page`);

  assert.deepEqual(consoleErrors, [], 'errors in the browser console');
  console.log('ui: setup, login, containers filters in the URL, Russian: ok');
} finally {
  await browser?.close();
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  if (process.exitCode === undefined || process.exitCode === 0) rmSync(dir, { recursive: true, force: true });
}
