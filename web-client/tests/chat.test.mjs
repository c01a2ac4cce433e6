// Browser test of the pages against the real server binary: node --test tests/
//
// Needs the server built (MAKEROOM_BIN, default target/debug/makeroom), Debian's chromium
// (CHROMIUM, default /usr/bin/chromium) and playwright-core (npm install in web-client/).
// Every wait is bounded; the whole file gives up after a few minutes at most.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PHONE, pageErrors, PROJECTOR, joinAs, newContext, waitOnline, withCode, startServerAndBrowser, stopServerAndBrowser } from './harness.mjs';

const TEAM = 'Love Your Space';

let server;
let browser;

before(async () => ({ server, browser } = await startServerAndBrowser()));
after(() => stopServerAndBrowser({ server, browser }));

/** Records what the page's client emits, to count deliveries and states. */
async function record(page) {
  await page.evaluate(() => {
    window.__seen = { pubs: [], statuses: [], resyncs: [] };
    window.makeroom.on('pub', (p) => window.__seen.pubs.push(`${p.channel}#${p.offset}`));
    window.makeroom.on('status', (s) => window.__seen.statuses.push(s.status));
    window.makeroom.on('resync', (r) => window.__seen.resyncs.push(`${r.channel}:${r.reason}`));
  });
}

const seen = (page) => page.evaluate(() => window.__seen);

/** Types and sends a message from the page's composer. */
async function send(page, text) {
  await page.getByPlaceholder(/^Message/).fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
}

/** The stored (not pending) messages with this text in the active chat. */
const stored = (page, text) => page.locator('.panel:not([hidden]) .msg:not(.pending):not(.failed)', { hasText: text });

/** The messages on a channel with this text, as the server's history holds them. */
async function inHistory(page, channel, text) {
  const result = await page.evaluate((ch) => window.makeroom.history(ch, { limit: 500 }), channel);
  return result.publications.filter((p) => p.data.text === text);
}

describe('Makeroom in the browser', { timeout: 180000 }, () => {
  let ada;
  let grace;
  let teamChannel;

  test('two phones in one team see each other\'s messages', { timeout: 60000 }, async () => {
    ada = await (await newContext(browser, PHONE)).newPage();
    grace = await (await newContext(browser, PHONE)).newPage();
    await joinAs(ada, server, { name: 'Ada', skills: 'Design, Rust', team: TEAM });
    await joinAs(grace, server, { name: 'Grace', skills: 'Research', team: TEAM });
    teamChannel = `team:${await ada.evaluate(() => window.makeroom.me.team)}`;
    assert.equal(await grace.evaluate(() => window.makeroom.me.team), teamChannel.slice(5));
    await record(ada);
    await record(grace);

    await send(ada, 'Hello from Ada');
    await stored(grace, 'Hello from Ada').waitFor();
    await send(grace, 'Hi Ada, Grace here');
    await stored(ada, 'Hi Ada, Grace here').waitFor();
    // Each sees both, once; and who is here.
    for (const page of [ada, grace]) {
      assert.equal(await stored(page, 'Hello from Ada').count(), 1);
      assert.equal(await stored(page, 'Hi Ada, Grace here').count(), 1);
      await page.locator('.here', { hasText: 'Here now (2)' }).waitFor();
    }
  });

  test('a phone that drops offline gets exactly what it missed and sends what it wrote, once', { timeout: 90000 }, async () => {
    const missed = ['Missed one', 'Missed two', 'Missed three'];
    const written = 'Written while offline';

    await grace.context().setOffline(true);
    // The page notices by itself (the `offline` event makes it check its socket).
    await grace.waitForFunction(() => ['offline', 'reconnecting'].includes(window.makeroom.status), null, { timeout: 15000 });
    await grace.locator('#status', { hasText: 'offline' }).waitFor();

    for (const text of missed) {
      await send(ada, text);
      await stored(ada, text).waitFor();
    }
    await send(grace, written);
    await grace.locator('.msg.pending', { hasText: written }).getByText('Sending…').waitFor();
    assert.equal(await grace.evaluate(() => window.makeroom.outbox.length), 1);
    // Nothing reached the offline phone meanwhile, and nothing left it.
    for (const text of missed) assert.equal(await stored(grace, text).count(), 0);
    assert.equal((await inHistory(ada, teamChannel, written)).length, 0);

    await grace.context().setOffline(false);
    await waitOnline(grace, 20000);
    for (const text of [...missed, written]) await stored(grace, text).waitFor({ timeout: 10000 });
    await stored(ada, written).waitFor({ timeout: 10000 });
    await grace.locator('#status', { hasText: 'Back online' }).waitFor();

    // Exactly once everywhere: on both screens, in the client's deliveries, and on the server.
    for (const text of [...missed, written]) {
      assert.equal(await stored(grace, text).count(), 1, `grace shows "${text}" once`);
      assert.equal(await stored(ada, text).count(), 1, `ada shows "${text}" once`);
      assert.equal((await inHistory(ada, teamChannel, text)).length, 1, `the server stored "${text}" once`);
    }
    assert.equal(await grace.locator('.msg.pending').count(), 0);
    assert.equal(await grace.evaluate(() => window.makeroom.outbox.length), 0);
    const graceSaw = await seen(grace);
    assert.equal(new Set(graceSaw.pubs).size, graceSaw.pubs.length, `no publication delivered twice: ${graceSaw.pubs}`);
    assert.ok(graceSaw.statuses.includes('online'), `went back online: ${graceSaw.statuses}`);
    // It caught up by recovery (subscribe with `since`), not by reloading the channel.
    assert.deepEqual(graceSaw.resyncs, []);
    const adaSaw = await seen(ada);
    assert.equal(new Set(adaSaw.pubs).size, adaSaw.pubs.length);
    // Messages are in the same order on both phones.
    const order = (page) => page.locator('.panel:not([hidden]) .msg .text').allTextContents();
    assert.deepEqual(await order(grace), await order(ada));
  });

  test('a message written offline survives closing the page and is sent once on the next visit', { timeout: 60000 }, async () => {
    const context = grace.context();
    const text = 'Written offline, then the tab was closed';
    await context.setOffline(true);
    await grace.waitForFunction(() => window.makeroom.status !== 'online', null, { timeout: 15000 });
    await send(grace, text);
    await grace.locator('.msg.pending', { hasText: text }).waitFor();
    await grace.close();
    await context.setOffline(false);

    grace = await context.newPage();
    await grace.goto(`${server.url}/room`);
    await waitOnline(grace, 20000);
    await stored(grace, text).waitFor({ timeout: 10000 });
    await stored(ada, text).waitFor({ timeout: 10000 });
    assert.equal(await stored(grace, text).count(), 1);
    assert.equal((await inHistory(ada, teamChannel, text)).length, 1);
    assert.equal(await grace.evaluate(() => window.makeroom.outbox.length), 0);
  });

  test('an organiser announcement reaches a phone and the display', { timeout: 60000 }, async () => {
    const organiser = await (await newContext(browser, PHONE)).newPage();
    await organiser.goto(withCode(server.organiser, server.joinCode));
    await waitOnline(organiser);
    // The token left the address bar at once.
    assert.ok(!organiser.url().includes('refresh='), organiser.url());
    await organiser.locator('#join-code', { hasText: server.joinCode }).waitFor();
    await organiser.locator('#connected-list li', { hasText: 'Ada' }).waitFor();
    await organiser.locator('#roster-body .team', { hasText: TEAM }).locator('li', { hasText: 'Grace' }).waitFor();

    const display = await (await newContext(browser, PROJECTOR)).newPage();
    await display.goto(withCode(server.display, server.joinCode));
    await waitOnline(display);
    assert.ok(!display.url().includes('refresh='), display.url());
    await display.locator('#join-code', { hasText: server.joinCode }).waitFor();

    const text = 'Show and tell at 4pm in the main hall';
    await organiser.getByLabel('Announcement', { exact: true }).fill(text);
    await organiser.getByLabel(/Urgent/).check();
    await organiser.getByRole('button', { name: 'Post announcement' }).click();

    const onPhone = ada.locator('#announcements .announcement', { hasText: text });
    const onDisplay = display.locator('.announcement', { hasText: text });
    await onPhone.waitFor({ timeout: 10000 });
    await onDisplay.waitFor({ timeout: 10000 });
    for (const shown of [onPhone, onDisplay]) {
      assert.match(await shown.getAttribute('class'), /urgent/);
      assert.match(await shown.textContent(), /Urgent/i, 'urgency is said in words, not colour alone');
    }
    // The display's clock runs on the server's time.
    const skew = await display.evaluate(() => Math.abs(window.makeroom.serverNow() - Date.now()));
    assert.ok(skew < 1000, `display clock within a second of the server (same machine): ${skew} ms`);
    await display.locator('#clock-hm', { hasText: /\d/ }).waitFor();
  });

  test('a refresh token the server refuses ends in "join again", without looping', { timeout: 30000 }, async () => {
    const page = await (await newContext(browser, PHONE)).newPage();
    let tokenCalls = 0;
    page.on('request', (request) => {
      if (request.url().endsWith('/api/token')) tokenCalls += 1;
    });
    await page.goto(`${server.url}/`);
    await page.evaluate(() => {
      const session = {
        refresh_token: 'not-a-token',
        participant: { id: 'p_nobody', name: 'Nobody', role: 'participant' },
        event: { id: 'e_gone', name: 'Gone' },
        code: 'AAAAAA',
      };
      localStorage.setItem('makeroom:session:participant:e_gone', JSON.stringify(session));
    });
    await page.goto(`${server.url}/room?event=e_gone`);
    await page.getByRole('heading', { name: 'Please join again' }).waitFor();
    assert.equal(await page.evaluate(() => window.makeroom.status), 'signedout');
    await page.waitForTimeout(1500);
    assert.equal(tokenCalls, 1, 'asked for a token once, then stopped');
  });
});

test('no page had a script error', () => {
  assert.deepEqual(pageErrors, []);
});
