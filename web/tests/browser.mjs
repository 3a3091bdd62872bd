// The UI in a real browser (Debian's chromium through playwright-core): first-run setup,
// login, a project created and its busybox test image deployed (the Containers page, opened
// before, shows its row turn running without a reload), a failing deploy's error and log, a
// rollback, a compose stack (a refused compose file, a deploy, logs, down), a site uploaded,
// the dashboard, an API token made, used and revoked, the TOTP QR code, the Containers
// filters in the URL, dark mode, the Russian locale, and axe-core on every page. Starts its own daemon
// on a temp data dir. Run by CTest (tests/CMakeLists.txt):
//   node web/tests/browser.mjs <tinyforge binary> <screenshot dir>
// Exits 77 (CTest: skipped) with the reason when chromium is not installed. Without a Docker
// engine or the test images (tests/images/build) the deploy part is skipped with a reason.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
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

// The deploy steps need the engine and the test images; the rest runs without them.
const engineSocket = '/var/run/docker.sock';
const images = spawnSync('docker', ['image', 'inspect', 'tinyforge-test/web:v1', 'tinyforge-test/web:v2', 'tinyforge-test/web:broken'], { stdio: 'ignore' });
const withEngine = existsSync(engineSocket) && images.status === 0;
if (!withEngine) console.log('deploy steps skipped: no Docker engine or no test images (tests/images/build)');

/** Claims 20 slot ports as the C++ tests do (tests/deploy_harness.hpp: slot_range): an
 * abstract unix socket named after the range, freed by the kernel when this process ends. */
async function claimSlots() {
  for (let attempt = 0; attempt < 200; ++attempt) {
    const low = 21000 + 20 * Math.floor(Math.random() * 550);
    const server = net.createServer();
    const ok = await new Promise((resolve) => {
      server.once('error', () => resolve(false));
      server.listen({ path: `\0tinyforge-test-slots-${low}` }, () => resolve(true));
    });
    if (ok) {
      server.unref();
      return `${low}-${low + 19}`;
    }
  }
  throw new Error('no free range of slot ports');
}

const { openSync } = await import('node:fs');
const out = openSync(log, 'w');
// Port 0: the daemon binds a free port and logs it (the engine is shared with other runs;
// the daemon labels what it makes with its own instance id and sees nothing else).
const engineArgs = withEngine
  ? ['--docker_host', `unix://${engineSocket}`, '--proxy.slot_gate', 'none', '--proxy.slot_ports', await claimSlots(),
     '--rollback_grace_s', '0', '--deploy.stop_grace_s', '1', '--deploy.health_deadline_s', '8',
     '--sites.image', 'tinyforge-test/web:v1']
  : ['--docker_host', `unix://${join(dir, 'no-engine.sock')}`];
const startDaemon = (listen) =>
  spawn(binary, ['serve', '--listen', listen, '--data_dir', join(dir, 'data'), '--proxy.provider', 'none', ...engineArgs], {
    stdio: ['ignore', out, out]
  });
let daemon = startDaemon('127.0.0.1:0');

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
let projectId = '';
const removeAfter = []; // API paths of what the test made, deleted at the end

// axe-core, injected into each page checked: no serious or critical violation.
const axeSource = readFileSync(new URL('../node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
const checked = [];
async function checkA11y(p, name) {
  // Through DevTools, not a <script>: the UI's Content-Security-Policy refuses inline scripts.
  await p.evaluate(axeSource);
  const violations = await p.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  });
  assert.deepEqual(violations, [], `accessibility of ${name}`);
  checked.push(name);
}

// Docker adds and removes network interfaces when compose makes a stack's network; Chrome
// then drops the connections it has open (the event stream, which reconnects by itself) and
// says so in the console. That one is the machine's, not the UI's.
const networkChanged = (text) => text.includes('net::ERR_NETWORK_CHANGED');

function watchConsole(p) {
  p.on('console', (m) => m.type() === 'error' && !networkChanged(m.text()) && consoleErrors.push(m.text()));
  p.on('pageerror', (e) => consoleErrors.push(String(e)));
  // TF_UI_DEBUG=1 prints every refused request with its answer.
  if (process.env.TF_UI_DEBUG) p.on("response", async (r) => r.status() >= 400 && console.log(`debug: ${Date.now()} ${r.status()} ${r.request().method()} ${r.url()} ${await r.text().catch(() => "")}`));
}

/** Clicks `button` and waits until the deploy it queued (shown on `page` in place of the one
 * shown before) ends; its status. */
async function deployEnds(page, button) {
  const before = (await page.locator('.deploy').count()) > 0 ? await page.locator('.deploy').getAttribute('data-deployment') : '';
  await button.click();
  const shown = page.locator(`.deploy:not([data-deployment="${before}"])`).and(page.locator('[data-status="succeeded"], [data-status="failed"]'));
  await shown.waitFor({ timeout: 60000 });
  return shown.getAttribute('data-status');
}

/** The daemon restarts under an open page: its event stream reconnects by itself, the index
 * is read again, and (with the engine) a change made after the restart shows without a
 * reload. */
async function restartSteps(page) {
  await page.getByRole('link', { name: /^Containers/ }).click();
  await page.getByRole('heading', { name: 'Containers' }).waitFor();
  await page.locator('.live[data-live="open"]').waitFor();
  await page.evaluate(() => (window.__beforeRestart = true));
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  await page.locator('.live:not([data-live="open"])').waitFor();
  const reads = [];
  const onRequest = (r) => r.url().includes('/api/containers?') && reads.push(r.url());
  page.on('request', onRequest);
  daemon = startDaemon(`127.0.0.1:${new URL(base).port}`);
  await page.locator('.live[data-live="open"]').waitFor({ timeout: 30000 });
  await until('the index read again after the restart', async () => reads.length > 0);
  page.off('request', onRequest);
  // Chrome logs the refused reconnects while the daemon was down.
  consoleErrors.splice(0).forEach((e) => assert.ok(/ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|status of 503/.test(e), `console: ${e}`));
  if (withEngine) {
    const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const list = await (await fetch(`${base}/api/containers?kind=project&state=running`, { headers: { cookie } })).json();
    const row = list.items[0];
    assert.ok(row, 'a running project container after the restart');
    // Stopped through the API after the restart: the open page sees it.
    const stop = await fetch(
      `${base}/api/instances/${projectId}/${encodeURIComponent(row.role)}/${encodeURIComponent(row.id)}/stop`,
      { method: 'POST', headers: { cookie, origin: base } }
    );
    assert.equal(stop.status, 200, `stop after the restart: ${await stop.text()}`);
    await page.locator(`tr[data-row="${row.id}"] td[data-state="stopped"]`).waitFor({ timeout: 30000 });
    // Started again from the project page's instance panel (through the project's deployer).
    const other = await page.context().newPage();
    watchConsole(other);
    await other.goto(`${base}/projects/${projectId}`);
    const instance = other.locator(`li[data-row="${row.id}"]`);
    await instance.locator('[data-state="stopped"]').waitFor();
    await instance.getByRole('button', { name: 'Start' }).click();
    await instance.locator('[data-state="running"]').waitFor({ timeout: 30000 });
    await page.locator(`tr[data-row="${row.id}"] td[data-state="running"]`).waitFor({ timeout: 30000 });
    await other.close();
  }
  assert.equal(await page.evaluate(() => window.__beforeRestart), true, 'the page was reloaded');
}

/** A stack: a compose file compose refuses shows its error under the editor; a good one is
 * deployed, its container shows with its logs, and it is taken down. */
async function stackSteps(page) {
  await page.getByRole('link', { name: 'Stacks' }).click();
  await page.getByText('No stack yet.').waitFor();
  await page.getByLabel('Name', { exact: true }).fill('ui-stack');
  await page.getByLabel('Compose file').fill('services:\n  web: [not, a, service\n');
  await page.getByRole('button', { name: 'Create stack' }).click();
  await page.locator('#compose-error:not(.hidden)').waitFor();
  assert.ok((await page.locator('#compose-error').innerText()).length > 0);
  consoleErrors.splice(0).forEach((e) => assert.ok(e.includes('status of 400'), `console: ${e}`));
  await page.getByLabel('Compose file').fill('services:\n  web:\n    image: tinyforge-test/web:v1\n');
  await page.getByRole('button', { name: 'Create stack' }).click();
  await page.waitForURL(/\/stacks\/[^/]+$/);
  removeAfter.push(`/api/stacks/${page.url().split('/').pop()}`);
  await page.getByRole('heading', { name: 'ui-stack' }).waitFor();
  assert.equal(await deployEnds(page, page.getByRole('button', { name: 'Deploy', exact: true })), 'succeeded');
  const row = page.locator('li[data-row]').filter({ has: page.locator('.state[data-state="running"]') });
  await row.waitFor({ timeout: 30000 });
  await row.getByRole('button', { name: 'Logs' }).click();
  await row.getByLabel('Logs').waitFor();
  await page.screenshot({ path: join(shots, 'stack-desktop.png'), fullPage: true });
  await checkA11y(page, 'stack');
  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: 'Down', exact: true }).click();
  await page.getByLabel('What compose printed').waitFor();
  await page.locator('li[data-row] .state[data-state="running"]').waitFor({ state: 'detached', timeout: 30000 });
}

/** A site: a .tar.gz uploaded through the page's file input (what a drop does), its release
 * deployed and current. */
async function siteSteps(page) {
  const files = join(dir, 'site');
  mkdirSync(files, { recursive: true });
  writeFileSync(join(files, 'index.html'), '<h1>ui site</h1>');
  const archive = join(dir, 'site.tgz');
  assert.equal(spawnSync('tar', ['-czf', archive, '-C', files, '.']).status, 0);
  await page.getByRole('link', { name: 'Sites' }).click();
  await page.getByText('No site yet.').waitFor();
  await page.getByLabel('Name', { exact: true }).fill('ui-site');
  await page.getByRole('button', { name: 'Create site' }).click();
  await page.waitForURL(/\/sites\/[^/]+$/);
  removeAfter.push(`/api/sites/${page.url().split('/').pop()}`);
  await page.getByRole('heading', { name: 'ui-site' }).waitFor();
  const upload = page.locator('input[type="file"]');
  const ended = page.locator('.deploy[data-status="succeeded"], .deploy[data-status="failed"]');
  await upload.setInputFiles(archive);
  await ended.waitFor({ timeout: 60000 });
  assert.equal(await ended.getAttribute('data-status'), 'succeeded');
  assert.notEqual(await page.getByTestId('current-release').innerText(), '—');
  await page.screenshot({ path: join(shots, 'site-desktop.png'), fullPage: true });
  await checkA11y(page, 'site');
}

/** The dashboard: the index counted by kind, the newest deploys, Docker's state. */
async function dashboardSteps(page) {
  await page.getByRole('link', { name: 'Dashboard' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  const projects = page.locator('.card[data-kind="project"] .big');
  assert.equal(await projects.innerText(), withEngine ? '1' : '0');
  await page.getByTestId('docker-status').getByText(withEngine ? 'up' : 'down', { exact: true }).waitFor();
  if (withEngine) await page.locator('td[data-status="succeeded"]').first().waitFor();
  await page.screenshot({ path: join(shots, 'dashboard-desktop.png'), fullPage: true });
  await checkA11y(page, 'dashboard');
}

/** Settings: an API token made, used, revoked (then refused); the TOTP enrolment's QR code. */
async function settingsSteps(page) {
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.getByRole('heading', { name: 'API tokens' }).waitFor();
  await page.getByLabel('Token name').fill('ci');
  await page.getByRole('button', { name: 'Create token' }).click();
  const token = await page.getByTestId('new-token').inputValue();
  assert.match(token, /^\S{20,}$/);
  const me = () => fetch(`${base}/api/auth/me`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal((await me()).status, 200);
  page.once('dialog', (d) => d.accept());
  await page.locator('tr[data-token="ci"]').getByRole('button', { name: 'Revoke' }).click();
  await page.locator('tr[data-token="ci"]').getByText('revoked').waitFor();
  assert.equal((await me()).status, 401, 'a revoked token still works');

  // The Apps page appears with its feature flag.
  assert.equal(await page.getByRole('link', { name: 'Apps' }).count(), 0);
  await page.getByLabel('Group workloads into apps').check();
  await page.getByRole('link', { name: 'Dashboard' }).click();
  await page.getByRole('link', { name: 'Apps' }).click();
  await page.getByLabel('Name', { exact: true }).fill('ui-app');
  await page.getByRole('button', { name: 'Create app' }).click();
  await page.getByRole('heading', { name: 'ui-app' }).waitFor();
  if (withEngine) {
    await page.getByLabel('App of ui-web').selectOption({ label: 'ui-app' });
    await page.locator('section').filter({ has: page.getByRole('heading', { name: 'ui-app' }) }).getByRole('link', { name: 'ui-web' }).waitFor();
  }
  await checkA11y(page, 'apps');
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.getByRole('heading', { name: 'API tokens' }).waitFor();

  await page.getByRole('button', { name: 'Set up two-factor login' }).click();
  await page.getByRole('img', { name: 'QR code of the TOTP secret' }).locator('svg').waitFor();
  assert.match(await page.getByTestId('totp-secret').innerText(), /^[A-Z2-7]{16,}$/);
  await page.screenshot({ path: join(shots, 'settings-desktop.png'), fullPage: true });
  await checkA11y(page, 'settings');
}

/** Creates a project, deploys v1 while a second page watches the Containers page, then a
 * broken tag, then v2, then rolls back to v1. */
async function projectSteps(context) {
  const watcher = await context.newPage();
  watchConsole(watcher);
  await watcher.goto(`${base}/containers`);
  await watcher.getByText('No container matches.').waitFor();
  // Set once: a reload would lose it, so finding it at the end proves the row came live.
  await watcher.evaluate(() => (window.__notReloaded = true));

  const page = await context.newPage();
  watchConsole(page);
  await page.goto(`${base}/projects`);
  await page.getByText('No project yet.').waitFor();
  await checkA11y(page, 'projects');
  // Bad input: the server's own words, in place.
  await page.getByLabel('Name', { exact: true }).fill('Not A DNS Label');
  await page.getByLabel('Image').fill('tinyforge-test/web');
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.getByRole('alert').filter({ hasText: /name/i }).waitFor();
  // Chrome logs the refused request (400) itself: the one console error this step may cause.
  const refused = consoleErrors.splice(0);
  assert.ok(refused.every((e) => e.includes('status of 400')), `console after a refused create: ${refused}`);

  await page.getByLabel('Name', { exact: true }).fill('ui-web');
  await page.getByLabel('Health path').fill('/up');
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.waitForURL(/\/projects\/[^/]+$/);
  projectId = page.url().split('/').pop();
  await page.getByRole('heading', { name: 'ui-web' }).waitFor();
  assert.match(await page.getByTestId('webhook-url').inputValue(), new RegExp(`^${base}/api/webhooks/\\S+$`));

  // Deploy v1: its phases and log arrive live; the watcher's row turns running.
  const deployButton = page.getByRole('button', { name: 'Deploy', exact: true });
  await page.getByLabel('Tag', { exact: true }).fill('v1');
  assert.equal(await deployEnds(page, deployButton), 'succeeded');
  assert.ok((await page.locator('.log').innerText()).length > 0, 'the deploy log is empty');
  await page.locator('.phases li.done[data-phase="health"]').waitFor();
  await page.locator('[data-stage="production"] .state[data-state="running"]').waitFor();
  await watcher.locator('td[data-state="running"]').waitFor({ timeout: 30000 });
  await watcher.getByRole('link', { name: 'ui-web' }).waitFor();
  assert.equal(await watcher.evaluate(() => window.__notReloaded), true, 'the Containers page was reloaded');
  assert.equal(await watcher.getByTestId('containers-count').innerText(), '1');
  // The tab counters count the whole population.
  assert.match(await watcher.getByRole('button', { name: /^All/ }).innerText(), /1$/);
  assert.match(await watcher.getByRole('button', { name: /^Project/ }).innerText(), /1$/);
  assert.match(await watcher.getByRole('button', { name: /^Stack/ }).innerText(), /0$/);
  await watcher.screenshot({ path: join(shots, 'containers-live-desktop.png') });
  await page.screenshot({ path: join(shots, 'project-desktop.png'), fullPage: true });
  await checkA11y(page, 'project');

  // A tag whose health check fails: the deploy fails with its error and log shown.
  await page.getByLabel('Tag', { exact: true }).fill('broken');
  assert.equal(await deployEnds(page, deployButton), 'failed');
  const error = await page.locator('.deploy-error').innerText();
  assert.ok(error.length > 0, 'no error shown for the failed deploy');
  assert.ok((await page.locator('.log').innerText()).length > 0, 'the failed deploy shows no log');
  await page.screenshot({ path: join(shots, 'project-failed-deploy-desktop.png'), fullPage: true });
  assert.equal(await page.getByTestId('current-tag').innerText(), 'v1');

  // v2, then a rollback to v1.
  await page.getByLabel('Tag', { exact: true }).fill('v2');
  assert.equal(await deployEnds(page, deployButton), 'succeeded');
  await page.getByTestId('current-tag').filter({ hasText: 'v2' }).waitFor();
  assert.equal(await deployEnds(page, page.getByRole('button', { name: 'Roll back → v1' })), 'succeeded');
  await page.getByTestId('current-tag').filter({ hasText: 'v1' }).waitFor();
  const phone = await context.newPage();
  await phone.setViewportSize({ width: 375, height: 740 });
  watchConsole(phone);
  await phone.goto(page.url());
  await phone.getByRole('heading', { name: 'ui-web' }).waitFor();
  await phone.screenshot({ path: join(shots, 'project-phone.png'), fullPage: true });
  await Promise.all([watcher.close(), phone.close(), page.close()]);
}
try {
  const port = await until('the listening port in the log', async () => readFileSync(log, 'utf8').match(/event=http-listening address=127\.0\.0\.1:(\d+)/)?.[1]);
  base = `http://127.0.0.1:${port}`;
  await until('healthz', async () => (await fetch(`${base}/healthz`)).ok);
  const token = await until('the setup token in the log', async () => readFileSync(log, 'utf8').match(/event=setup-token-issued token=(\S+)/)?.[1]);

  browser = await browserType.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
  const page = await context.newPage();
  watchConsole(page);

  // Not logged in: the containers page sends us to the login page.
  await page.goto(`${base}/containers`);
  await page.waitForURL(/\/login\?next=%2Fcontainers$/);
  await page.getByRole('heading', { name: 'Log in' }).waitFor();
  await page.screenshot({ path: join(shots, 'login-desktop.png') });
  await checkA11y(page, 'login');

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
  await checkA11y(page, 'containers');

  // The containers index, the sidebar's counter and the live indicator come from the start.
  assert.equal(await page.getByTestId('containers-count').innerText(), '0');
  await page.locator('.live[data-live="open"]').waitFor();

  if (withEngine) await projectSteps(context);
  await restartSteps(page);
  if (withEngine) await stackSteps(page);
  if (withEngine) await siteSteps(page);
  await dashboardSteps(page);
  await settingsSteps(page);

  // A filter goes into the URL, and that URL opens the same view in a new context.
  await page.bringToFront();
  await page.getByRole('link', { name: /^Containers/ }).click();
  await page.getByRole('heading', { name: 'Containers' }).waitFor();
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

  // Dark mode follows the system setting, and stays readable.
  const dark = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'dark' });
  await dark.addCookies(cookies);
  const night = await dark.newPage();
  watchConsole(night);
  await night.goto(`${base}/`);
  await night.getByRole('heading', { name: 'Dashboard' }).waitFor();
  const background = await night.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const channels = background.match(/\d+/g).slice(0, 3).map(Number);
  assert.ok(channels.every((c) => c < 80), `the dark page's background is ${background}`);
  await night.screenshot({ path: join(shots, 'dashboard-dark-desktop.png'), fullPage: true });
  await checkA11y(night, 'dashboard (dark)');
  await dark.close();

  // Russian: the choice is remembered, and no English string of the page is left.
  await page.getByLabel('Language').selectOption('ru');
  await page.getByRole('heading', { name: 'Контейнеры' }).waitFor();
  await page.reload();
  await page.getByRole('heading', { name: 'Контейнеры' }).waitFor();
  const text = await page.locator('body').innerText();
  for (const english of ['Containers', 'Dashboard', 'Projects', 'Settings', 'Log out', 'Kind', 'State', 'No container matches.'])
    assert.ok(!text.includes(english), `English "${english}" left on the Russian page`);

  // Every page at desktop and at phone width: a screenshot each, and at phone width nothing
  // wider than the screen (a wide table scrolls in its own box).
  const pages = ['/', '/projects', '/stacks', '/sites', '/containers', '/proxies', '/stale', '/settings', '/apps'];
  if (projectId) pages.push(`/projects/${projectId}`);
  for (const made of removeAfter) if (/^\/api\/(stacks|sites)\//.test(made)) pages.push(made.slice('/api'.length));
  const shotName = (path) =>
    path === '/' ? 'dashboard' : path.slice(1).split('/')[0] + (path.split('/').length > 2 ? '-detail' : '');
  for (const [width, height, label] of [[1280, 800, 'desktop'], [375, 740, 'phone']]) {
    const sized = await browser.newContext({ viewport: { width, height } });
    const tab = await sized.newPage();
    watchConsole(tab);
    await tab.goto(`${base}/login`);
    await tab.getByLabel('Password').waitFor();
    await tab.screenshot({ path: join(shots, `login-${label}.png`), fullPage: true });
    await sized.addCookies(cookies);
    for (const path of pages) {
      await tab.goto(`${base}${path}`);
      await tab.getByRole('heading', { level: 1 }).first().waitFor();
      await tab.getByText('Loading…').waitFor({ state: 'detached' });
      await tab.screenshot({ path: join(shots, `${shotName(path)}-${label}.png`), fullPage: true });
      if (label !== 'phone') continue;
      const wide = await tab.evaluate(() => document.documentElement.scrollWidth);
      // On failure, name what sticks out.
      const culprits = wide <= width ? [] : await tab.evaluate((w) =>
        [...document.querySelectorAll('body *')]
          .filter((e) => e.getBoundingClientRect().right > w + 1)
          .slice(0, 8)
          .map((e) => `${e.tagName.toLowerCase()}${e.className ? '.' + String(e.className).split(' ').join('.') : ''} (${Math.round(e.getBoundingClientRect().right)} px)`), width);
      assert.ok(wide <= width, `${path} is ${wide} px wide at ${width}: ${culprits.join(', ')}`);
    }
    await sized.close();
  }
  console.log(`screenshots at 1280 and 375 px of ${pages.length + 1} pages: ${shots}`);

  assert.deepEqual(consoleErrors, [], 'errors in the browser console');
  console.log(`accessibility (axe-core, serious and critical): ${checked.join(', ')}: none`);
  console.log(`ui: setup, login${withEngine ? ', project, live deploy, failing deploy, rollback, stack, site upload' : ''}, dashboard, tokens, TOTP QR, containers filters in the URL, dark mode, Russian: ok`);
} finally {
  // What the test made goes, with its containers (the daemon removes what it made).
  if (projectId) removeAfter.push(`/api/projects/${projectId}`);
  const cookie = (await browser?.contexts()[0]?.cookies().catch(() => []))?.map((c) => `${c.name}=${c.value}`).join('; ');
  for (const path of base ? removeAfter : []) {
    const gone = await fetch(`${base}${path}`, { method: 'DELETE', headers: { cookie: cookie ?? '', origin: base } }).catch((e) => e);
    if (!(gone instanceof Response) || gone.status !== 204) console.log(`cleanup: DELETE ${path} answered ${gone?.status ?? gone}`);
  }
  await browser?.close();
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  if (process.exitCode === undefined || process.exitCode === 0) rmSync(dir, { recursive: true, force: true });
}
