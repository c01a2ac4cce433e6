// Test helpers: start the Makeroom server binary on a free port with a throwaway data folder, and a
// headless Chromium that may only talk to 127.0.0.1.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const repoDir = path.resolve(webDir, '..');

/**
 * Starts `makeroom serve --bind 127.0.0.1:0` and reads what it prints: the address, the demo event's
 * organiser and display links and its join code. The binary is `MAKEROOM_BIN` or
 * target/debug/makeroom. Pages are read from web-client/ (`--web-dir`) unless
 * `MAKEROOM_EMBEDDED_PAGES=1`, which tests the copies built into the binary; `pagesFrom` reads them
 * from another folder whatever that says (a copy that a test changes).
 */
export async function startServer({ extraArgs = [], timeoutMs = 30000, bind = '127.0.0.1:0', data, pagesFrom } = {}) {
  const bin = process.env.MAKEROOM_BIN || path.join(repoDir, 'target/debug/makeroom');
  data = data || mkdtempSync(path.join(tmpdir(), 'makeroom-web-'));
  const args = ['serve', '--bind', bind, '--data', data, ...extraArgs];
  if (pagesFrom) args.push('--web-dir', pagesFrom);
  else if (process.env.MAKEROOM_EMBEDDED_PAGES !== '1') args.push('--web-dir', webDir);
  const child = spawn(bin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MAKEROOM_LOG: process.env.MAKEROOM_LOG || 'warn' },
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
    if (process.env.MAKEROOM_SERVER_LOG) process.stderr.write(chunk);
  });
  const info = await new Promise((resolve, reject) => {
    let out = '';
    const found = {};
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server printed no links within ${timeoutMs} ms.\nstdout:\n${out}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not start ${bin}: ${err.message}`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}) before it was ready.\nstdout:\n${out}\nstderr:\n${stderr}`));
    });
    child.stdout.on('data', (chunk) => {
      out += chunk;
      let match;
      if ((match = out.match(/Makeroom is listening on (http:\/\/127\.0\.0\.1:\d+)/))) found.url = match[1];
      if ((match = out.match(/Event "(.*)" \((e_[a-z0-9]+)\)/))) [, found.eventName, found.eventId] = match;
      if ((match = out.match(/organiser:\s+(\S+)/))) found.organiser = match[1];
      if ((match = out.match(/display:\s+(\S+)/))) found.display = match[1];
      if ((match = out.match(/join code:\s+([A-Z0-9]+)/))) found.joinCode = match[1];
      if (found.url && found.organiser && found.display && found.joinCode) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve(found);
      }
    });
  });
  /** Stops the server; with `keepData`, leaves its data folder for a restart. */
  const stop = async ({ keepData = false } = {}) => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(timer);
    }
    if (!keepData) rmSync(data, { recursive: true, force: true });
  };
  return { ...info, data, stop, process: child };
}

/** Headless Debian Chromium (`CHROMIUM` or /usr/bin/chromium). */
export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    timeout: 30000,
  });
}

/**
 * The server and the browser that most test files share: started in one go, and if the browser
 * does not start, the server is stopped again. `stopServerAndBrowser` stops whichever started.
 */
export async function startServerAndBrowser(options) {
  const server = await startServer(options);
  try {
    return { server, browser: await launchBrowser() };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

export async function stopServerAndBrowser({ server, browser }) {
  if (browser) await browser.close().catch(() => {});
  if (server) await server.stop();
}

/** Uncaught errors and console errors of every page opened through newContext(). */
export const pageErrors = [];

/** A browser context whose pages may only reach 127.0.0.1, and whose script errors are collected. */
export async function newContext(browser, options = {}) {
  const context = await browser.newContext(options);
  context.on('page', (page) => {
    page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${error.message}`));
    page.on('console', (message) => {
      // Failed loads while a test holds the network down are expected; script errors are not.
      if (message.type() === 'error' && !/Failed to load resource|ERR_INTERNET_DISCONNECTED|WebSocket/.test(message.text())) {
        pageErrors.push(`${page.url()}: console: ${message.text()}`);
      }
    });
  });
  await context.route(
    (url) => url.hostname !== '127.0.0.1',
    (route) => route.abort('blockedbyclient'),
  );
  context.setDefaultTimeout(10000);
  return context;
}

export const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
export const PROJECTOR = { viewport: { width: 1920, height: 1080 } };

/** Joins the event as a participant on a fresh page and waits until the room is online. */
export async function joinAs(page, server, { name, skills = '', team }) {
  await page.goto(`${server.url}/join?code=${server.joinCode}`);
  await page.getByLabel('Your name').fill(name);
  if (skills) await page.getByLabel('Your skills').fill(skills);
  if (team) await page.getByLabel(team).check();
  await page.getByRole('button', { name: 'Join the event' }).click();
  await page.waitForURL(/\/room\?event=/);
  await waitOnline(page);
}

/**
 * Waits until `test(arg)`, run in the page, resolves to something truthy; bounded. (Playwright's
 * waitForFunction takes a returned promise as truthy at once, so asynchronous checks need this.)
 */
export async function waitForAsync(page, test, arg, { timeout = 15000, every = 200 } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await page.evaluate(test, arg)) return;
    if (Date.now() > end) throw new Error(`waitForAsync: not true within ${timeout} ms: ${test}`);
    await page.waitForTimeout(every);
  }
}

/** Waits until the page's client (window.makeroom) is online. */
export async function waitOnline(page, timeout = 10000) {
  await page.waitForFunction(() => window.makeroom && window.makeroom.status === 'online', null, { timeout });
}

/** The organiser link with the join code added, since the server tells organisers no join code. */
export function withCode(link, code) {
  return `${link}&code=${code}`;
}

/** Opens a section of the room (Chat, Board, Brief, Teams, Schedule) by its tab. */
export async function openSection(page, name) {
  await page.getByRole('tab', { name, exact: true }).click();
  await page.locator(`[role="tabpanel"][aria-labelledby="stab-${name.toLowerCase()}"]:not([hidden])`).waitFor();
}

/** An organiser's console, online, on its own browser context (laptop size unless told). */
export async function openOrganiser(browser, server, options = { viewport: { width: 1366, height: 900 } }) {
  const page = await (await newContext(browser, options)).newPage();
  await page.goto(withCode(server.organiser, server.joinCode));
  await waitOnline(page);
  return page;
}

/** Sends a state command from a page's client and waits until the server has recorded it. */
export function command(page, channel, cmd) {
  return page.evaluate(([ch, c]) => window.makeroom.command(ch, c).done, [channel, cmd]);
}

/** The demo event's teams by name, from the public join endpoint. */
export async function teamsByName(server) {
  const info = await (await fetch(`${server.url}/api/join/${server.joinCode}`)).json();
  return Object.fromEntries(info.teams.map((team) => [team.name, team]));
}

/** Presses Tab until `test(activeElement)` (run in the page) is true; bounded. Returns how many presses. */
export async function tabUntil(page, test, { max = 60, key = 'Tab' } = {}) {
  for (let i = 1; i <= max; i++) {
    await page.keyboard.press(key);
    if (await page.evaluate(test)) return i;
  }
  throw new Error(`focus never reached the element after ${max} presses of ${key}`);
}

/**
 * What the QR code shown by `locator` says, read from a screenshot of it (the pixels on screen, as a
 * phone's camera would see them) with the jsQR decoder, on a blank page of its own; null if none.
 */
export async function readQrOnScreen(browser, locator) {
  const png = await locator.screenshot();
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.addScriptTag({ path: path.join(webDir, 'node_modules/jsqr/dist/jsQR.js') });
    return await page.evaluate(async (base64) => {
      const image = new Image();
      image.src = `data:image/png;base64,${base64}`;
      await image.decode();
      const canvas = document.createElement('canvas');
      canvas.width = image.naturalWidth;
      canvas.height = image.naturalHeight;
      const context2d = canvas.getContext('2d');
      context2d.drawImage(image, 0, 0);
      const pixels = context2d.getImageData(0, 0, canvas.width, canvas.height);
      const code = globalThis.jsQR(pixels.data, pixels.width, pixels.height);
      return code ? code.data : null;
    }, png.toString('base64'));
  } finally {
    await context.close();
  }
}
