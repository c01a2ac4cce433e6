// The phone on venue wifi: the pages as an installable app. A room reloaded with no network opens
// from the service worker's cache and shows what the phone last saw (chat, board, brief, pinned
// announcements) with an offline banner; what is written then waits in the outbox (IndexedDB) and
// reaches the other phones once, when the network is back. An outbox that an older page kept in
// localStorage is moved over and sent once. A new build replaces the cached pages and deletes the
// old cache.

import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PHONE, command, joinAs, launchBrowser, newContext, openOrganiser, openSection, pageErrors, startServer, startServerAndBrowser, stopServerAndBrowser, waitForAsync, waitOnline, webDir } from './harness.mjs';

const TEAM = 'Healthwatch Lambeth';

let server;
let browser;

before(async () => ({ server, browser } = await startServerAndBrowser()));
after(() => stopServerAndBrowser({ server, browser }));

/** Types and sends a message from the page's composer. */
async function send(page, text) {
  await page.getByPlaceholder(/^Message/).fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
}

/** The stored (not pending) messages with this text in the chat shown. */
const stored = (page, text) => page.locator('.panel:not([hidden]) .msg:not(.pending):not(.failed)', { hasText: text });

/** How often the server's history of `channel` holds a message with this text. */
async function timesStored(page, channel, text) {
  const result = await page.evaluate((ch) => window.makeroom.history(ch, { limit: 500 }), channel);
  return result.publications.filter((p) => p.data.text === text).length;
}

/** Waits until the service worker controls the page (it takes over on its first visit, once it has
 * fetched every file of the build: on a machine busy with other work that took more than 15 s). */
async function controlled(page) {
  await page.waitForFunction(() => Boolean(navigator.serviceWorker && navigator.serviceWorker.controller), null, { timeout: 40000 });
}

/** Waits until the room saved on the phone (room/saved.js) holds every one of `texts`. */
async function savedHolds(page, texts) {
  await waitForAsync(
    page,
    async (wanted) => {
      const record = await window.makeroomSaved.load();
      const text = JSON.stringify(record || {});
      return wanted.every((t) => text.includes(t));
    },
    texts,
  );
}

/** The outbox records kept in IndexedDB (database "makeroom", store "outbox"). */
const outboxRecords = (page) =>
  page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('makeroom');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const db = open.result;
          if (!db.objectStoreNames.contains('outbox')) return resolve([]);
          const all = db.transaction('outbox').objectStore('outbox').getAll();
          all.onsuccess = () => resolve(all.result);
          all.onerror = () => reject(all.error);
        };
      }),
  );

describe('the phone on venue wifi', { timeout: 180000 }, () => {
  let ada;
  let grace;
  let organiser;
  let teamChannel;

  test('a room reloaded with no network shows what it last saw, and what is written then is sent once', { timeout: 90000 }, async () => {
    ada = await (await newContext(browser, PHONE)).newPage();
    grace = await (await newContext(browser, PHONE)).newPage();
    await joinAs(ada, server, { name: 'Ada', skills: 'Design', team: TEAM });
    await joinAs(grace, server, { name: 'Grace', skills: 'Research', team: TEAM });
    teamChannel = `team:${await ada.evaluate(() => window.makeroom.me.team)}`;
    organiser = await openOrganiser(browser, server);
    await command(organiser, 'announcements', { type: 'announcement.post', text: 'Wifi password: makers2026', priority: 'normal', pinned: true });
    await command(organiser, 'announcements', { type: 'announcement.post', text: 'Coffee in the foyer', priority: 'normal' });

    await send(grace, 'The survey draft is on the shared drive');
    await stored(ada, 'The survey draft is on the shared drive').waitFor();
    await openSection(ada, 'Board');
    const card = ada.locator('#board .card').first();
    await card.waitFor();
    const cardTitle = (await card.locator('.card-title').textContent()).trim();
    await openSection(ada, 'Brief');
    const briefTitle = (await ada.locator('#brief .brief-title').textContent()).trim();
    await openSection(ada, 'Chat');
    await ada.locator('#announcements', { hasText: 'Wifi password' }).waitFor();
    await controlled(ada);
    await savedHolds(ada, ['The survey draft is on the shared drive', cardTitle, briefTitle, 'Wifi password']);

    // The network goes, and the phone reloads the page.
    await ada.context().setOffline(true);
    await ada.reload();
    await ada.locator('#status', { hasText: 'offline' }).waitFor({ timeout: 15000 });
    await ada.locator('#status', { hasText: 'Showing what this phone last saw' }).waitFor();
    assert.notEqual(await ada.evaluate(() => window.makeroom.status), 'online');
    await ada.locator('.panel:not([hidden]) .msg', { hasText: 'The survey draft is on the shared drive' }).waitFor();
    await ada.locator('#announcements', { hasText: 'Wifi password: makers2026' }).waitFor();
    await openSection(ada, 'Board');
    await ada.locator('#board .card', { hasText: cardTitle }).waitFor();
    await openSection(ada, 'Brief');
    await ada.locator('#brief .brief-title', { hasText: briefTitle }).waitFor();
    await openSection(ada, 'Chat');

    // What is written now waits in the outbox, kept in IndexedDB.
    const written = 'Written after the reload, with no network';
    await send(ada, written);
    await ada.locator('.msg.pending', { hasText: written }).getByText('Sending…').waitFor();
    assert.equal(await ada.evaluate(() => window.makeroom.outbox.length), 1);
    await ada.waitForFunction(() => window.makeroom.outbox.length === 1);
    const kept = await outboxRecords(ada);
    assert.deepEqual(
      kept.map((r) => r.entry.data.text),
      [written],
    );
    await ada.locator('#status', { hasText: '1 message will be sent when you are back' }).waitFor();

    // Back online: delivered once, to the other phone too.
    await ada.context().setOffline(false);
    await waitOnline(ada, 20000);
    await stored(grace, written).waitFor({ timeout: 10000 });
    await stored(ada, written).waitFor({ timeout: 10000 });
    await ada.locator('#status', { hasText: 'Back online' }).waitFor();
    assert.equal(await stored(grace, written).count(), 1);
    assert.equal(await stored(ada, written).count(), 1);
    assert.equal(await timesStored(grace, teamChannel, written), 1);
    assert.deepEqual(await outboxRecords(ada), []);
    // The live history replaced the saved messages: each shows once.
    assert.equal(await stored(ada, 'The survey draft is on the shared drive').count(), 1);
  });

  test('an outbox an older page kept in localStorage is moved into IndexedDB and sent once', { timeout: 40000 }, async () => {
    const context = await newContext(browser, PHONE);
    let page = await context.newPage();
    await joinAs(page, server, { name: 'Carol', team: TEAM });
    const { eventId, participantId } = await page.evaluate(() => ({ eventId: window.makeroom.me.event.id, participantId: window.makeroom.me.participant.id }));
    await page.close();
    page = await context.newPage();
    await page.goto(`${server.url}/`);
    const text = 'Queued on this phone by an older version of the page';
    const outboxKey = `makeroom:outbox:${eventId}:${participantId}`;
    await page.evaluate(
      ([key, entry]) => localStorage.setItem(key, JSON.stringify([entry])),
      [outboxKey, { key: 'legacy-0123456789abcdef', channel: teamChannel, data: { text }, createdAt: Date.now() - 60000 }],
    );
    await page.goto(`${server.url}/room?event=${eventId}`);
    await waitOnline(page, 20000);
    await stored(grace, text).waitFor({ timeout: 10000 });
    await page.waitForFunction(() => window.makeroom.outbox.length === 0);
    assert.equal(await page.evaluate((key) => localStorage.getItem(key), outboxKey), null, 'moved out of localStorage');
    assert.deepEqual(await outboxRecords(page), []);
    assert.equal(await timesStored(grace, teamChannel, text), 1);
    assert.equal(await stored(grace, text).count(), 1);

    // A reload does not bring it back.
    await page.reload();
    await waitOnline(page, 20000);
    await page.waitForTimeout(500);
    assert.equal(await timesStored(grace, teamChannel, text), 1);
  });
});

test('a new build replaces the cached pages and deletes the old cache', { timeout: 60000 }, async () => {
  // A copy of the pages that this test changes, served with --web-dir whatever the other tests use.
  const pages = mkdtempSync(path.join(tmpdir(), 'makeroom-pages-'));
  cpSync(webDir, pages, { recursive: true, filter: (source) => !/node_modules|[\\/]tests([\\/]|$)/.test(source.slice(webDir.length)) });
  const updating = await startServer({ pagesFrom: pages });
  const phoneBrowser = await launchBrowser();
  try {
    const page = await (await newContext(phoneBrowser, PHONE)).newPage();
    await page.goto(`${updating.url}/`);
    await controlled(page);
    const cacheNames = () => page.evaluate(() => caches.keys());
    const first = await cacheNames();
    assert.equal(first.length, 1);
    assert.match(first[0], /^makeroom-[0-9a-f]{16}$/);
    const version = (text) => JSON.parse(text.split('\n')[0].replace('self.MAKEROOM_BUILD = ', '').replace(/;$/, '')).version;
    const before = version(await (await fetch(`${updating.url}/sw.js`)).text());
    assert.equal(first[0], `makeroom-${before}`);

    // The server's pages change (a new binary, in production).
    const sheet = path.join(pages, 'base.css');
    writeFileSync(sheet, `${readFileSync(sheet, 'utf8')}\n/* a new build */\n`);
    const after = version(await (await fetch(`${updating.url}/sw.js`)).text());
    assert.notEqual(after, before);

    await page.reload(); // the browser checks the worker on a visit, and the new one takes over
    await waitForAsync(page, (name) => caches.keys().then((names) => names.length === 1 && names[0] === name), `makeroom-${after}`, { timeout: 20000 });
    await page.reload(); // the next visit has the new build's files
    const css = await page.evaluate(() => fetch('/base.css').then((response) => response.text()));
    assert.match(css, /a new build/, 'the new build is what the worker serves');
  } finally {
    await phoneBrowser.close();
    await updating.stop();
    rmSync(pages, { recursive: true, force: true });
  }
});

test('no page had a script error', () => {
  assert.deepEqual(pageErrors, []);
});
