// Browser tests against the real server of taking an announcement back and of joining from the
// projector: an organiser edits an urgent announcement and retracts another from the console, and a
// phone and the display follow at once; the display's QR code, read from its pixels, is the join
// link and follows a new join code; the console's poster prints the same code; the display keeps the
// screen awake where it can, and its Full screen button never covers how to join.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PHONE, PROJECTOR, joinAs, repoDir, newContext, openOrganiser, pageErrors, readQrOnScreen, startServerAndBrowser, stopServerAndBrowser, waitOnline, withCode } from './harness.mjs';

let server;
let browser;

// Its screenshots go to docs/screenshots/ with MAKEROOM_SCREENSHOTS=1, else to a temporary folder.
const shots = process.env.MAKEROOM_SCREENSHOTS === '1' ? path.join(repoDir, 'docs/screenshots') : mkdtempSync(path.join(tmpdir(), 'makeroom-shots-'));
const shot = (name) => path.join(shots, `${name}.png`);

before(async () => ({ server, browser } = await startServerAndBrowser()));
after(() => stopServerAndBrowser({ server, browser }));

async function openDisplay(options = PROJECTOR) {
  const page = await (await newContext(browser, options)).newPage();
  await page.goto(withCode(server.display, server.joinCode));
  await waitOnline(page);
  return page;
}

/** Whether two boxes ({x, y, width, height}) share any pixel. */
const overlap = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

describe('announcements taken back', () => {
  let organiser;
  let phone;
  let display;

  before(async () => {
    organiser = await openOrganiser(browser, server);
    phone = await (await newContext(browser, PHONE)).newPage();
    await joinAs(phone, server, { name: 'Ada', team: 'Healthwatch Lambeth' });
    display = await openDisplay();
  });

  const post = async (text, urgent) => {
    await organiser.getByLabel('Announcement', { exact: true }).fill(text);
    if (urgent) await organiser.locator('#announce-form').getByLabel(/Urgent/).check();
    await organiser.getByRole('button', { name: 'Post announcement' }).click();
    await organiser.locator('#announcement-list li', { hasText: text }).getByRole('button', { name: /^Edit:/ }).waitFor();
  };

  test('an organiser edits an urgent one: its new words on every screen, asked to be confirmed again', { timeout: 40000 }, async () => {
    await post('Fire drill at 3pm: leave by the front doors.', true);
    const card = phone.locator('#announcement-latest .announcement', { hasText: 'Fire drill at 3pm' });
    await card.getByRole('button', { name: /^Got it/ }).click();
    await organiser.locator('.ack-count', { hasText: '✓ 1 of' }).waitFor();

    const row = organiser.locator('#announcement-list li', { hasText: 'Fire drill at 3pm' });
    await row.getByRole('button', { name: /^Edit:/ }).click();
    const editor = organiser.getByRole('form', { name: 'Edit the announcement' });
    await editor.getByLabel('New text').fill('Fire drill at 4pm: leave by the front doors.');
    await editor.getByLabel('Pinned').check();
    await editor.getByRole('button', { name: 'Save the change' }).click();

    // The phone shows the new words with "Got it" again (new words must be seen); the projector too.
    const edited = phone.locator('#announcement-latest .announcement', { hasText: 'Fire drill at 4pm' });
    await edited.getByRole('button', { name: /^Got it/ }).waitFor();
    await edited.locator('.edited').waitFor();
    assert.equal(await phone.locator('#announcements', { hasText: 'Fire drill at 3pm' }).count(), 0);
    const shown = display.locator('#announcement-list .announcement', { hasText: 'Fire drill at 4pm' });
    await shown.waitFor();
    await shown.locator('.tag.pinned').waitFor();
    assert.equal(await display.locator('#announcement-list', { hasText: 'Fire drill at 3pm' }).count(), 0);
    await organiser.locator('#announcement-list li', { hasText: 'Fire drill at 4pm' }).locator('.ack-count', { hasText: '✓ 0 of' }).waitFor();
    await organiser.screenshot({ path: shot('organiser-announcement-edited') });
    await phone.screenshot({ path: shot('room-announcement-edited') });
  });

  test('an organiser retracts one, after saying yes: gone from the phone and the projector, kept in the export', { timeout: 40000 }, async () => {
    await post('Wi-Fi password: makers2025', false);
    await phone.locator('#announcements', { hasText: 'makers2025' }).waitFor();
    await display.locator('#announcement-list', { hasText: 'makers2025' }).waitFor();
    const row = organiser.locator('#announcement-list li', { hasText: 'makers2025' });

    // Saying no changes nothing.
    organiser.once('dialog', (dialog) => dialog.dismiss());
    await row.getByRole('button', { name: /^Retract:/ }).click();
    await organiser.waitForTimeout(500);
    assert.equal(await display.locator('#announcement-list', { hasText: 'makers2025' }).count(), 1);

    organiser.once('dialog', (dialog) => {
      assert.match(dialog.message(), /disappears from every phone and display/);
      dialog.accept();
    });
    await row.getByRole('button', { name: /^Retract:/ }).click();
    await phone.locator('#announcements', { hasText: 'makers2025' }).waitFor({ state: 'detached' });
    await display.locator('#announcement-list', { hasText: 'makers2025' }).waitFor({ state: 'detached' });
    await organiser.locator('#announcement-list li.retracted-row', { hasText: 'makers2025' }).waitFor();
    assert.equal(await organiser.locator('#announcement-list li.retracted-row button').count(), 0, 'nothing more to do to it');

    // A phone that comes later never sees it; the export keeps it, and the edit's record.
    const late = await (await newContext(browser, PHONE)).newPage();
    await joinAs(late, server, { name: 'Late' });
    await late.locator('#announcements', { hasText: 'Fire drill at 4pm' }).waitFor();
    assert.equal(await late.locator('#announcements', { hasText: 'makers2025' }).count(), 0);
    const [download] = await Promise.all([organiser.waitForEvent('download'), organiser.getByRole('button', { name: 'Download JSON' }).click()]);
    const exported = JSON.parse(readFileSync(await download.path(), 'utf8'));
    const wifi = exported.announcements.find((a) => a.text === 'Wi-Fi password: makers2025');
    assert.ok(wifi.retracted && wifi.retracted.at > 0, JSON.stringify(wifi));
    const drill = exported.announcements.find((a) => a.text.startsWith('Fire drill at 4pm'));
    assert.deepEqual(drill.versions.map((v) => v.text), ['Fire drill at 3pm: leave by the front doors.', 'Fire drill at 4pm: leave by the front doors.']);
    await display.screenshot({ path: shot('display-announcement-edited') });
  });
});

describe('joining from the projector and the poster', () => {
  test('the QR code on the display, read from the screen, is the join link, and follows a new join code', { timeout: 60000 }, async () => {
    const display = await openDisplay();
    const qr = display.locator('#join-qr');
    await display.waitForFunction(() => document.querySelector('#join-qr').complete && document.querySelector('#join-qr').naturalWidth > 0);
    assert.equal(await readQrOnScreen(browser, qr), `${server.url}/join?code=${server.joinCode}`);
    const box = await qr.boundingBox();
    assert.ok(box.width >= 400, `about a third of a 1080p screen's height: ${box.width}px`);
    await display.screenshot({ path: shot('display-join-qr') });

    const organiser = await openOrganiser(browser, server);
    organiser.once('dialog', (dialog) => dialog.accept());
    await organiser.getByRole('button', { name: 'New join code' }).click();
    await organiser.locator('#join-code', { hasNotText: server.joinCode }).waitFor();
    const newCode = (await organiser.locator('#join-code').textContent()).trim();
    await display.locator('#join-code', { hasText: newCode }).waitFor({ timeout: 15000 });
    await display.waitForFunction((code) => document.querySelector('#join-qr').src.includes(code) && document.querySelector('#join-qr').complete, newCode);
    assert.equal(await readQrOnScreen(browser, qr), `${server.url}/join?code=${newCode}`);
    assert.equal(await readQrOnScreen(browser, organiser.locator('#join-qr')), `${server.url}/join?code=${newCode}`);
    server.joinCode = newCode;

    // The poster prints alone: the event, the same code, the link in words.
    await organiser.evaluate(() => (window.print = () => {}));
    await organiser.getByRole('button', { name: 'Print a poster' }).click();
    await organiser.emulateMedia({ media: 'print' });
    const poster = organiser.locator('#join-poster');
    assert.ok(await poster.isVisible());
    assert.equal(await organiser.locator('#main').isVisible(), false, 'only the poster prints');
    assert.equal(await readQrOnScreen(browser, organiser.locator('#poster-qr')), `${server.url}/join?code=${newCode}`);
    assert.equal((await organiser.locator('#poster-code').textContent()).trim(), newCode);
    await poster.screenshot({ path: shot('organiser-poster') });
    await organiser.emulateMedia({ media: 'screen' });
  });

  for (const viewport of [
    { width: 1920, height: 1080 },
    { width: 1280, height: 720 },
  ]) {
    test(`at ${viewport.width}x${viewport.height} the Full screen button covers neither the join line nor the QR code`, { timeout: 30000 }, async () => {
      const display = await openDisplay({ viewport });
      await display.locator('#join-qr').waitFor();
      const button = await display.locator('#fullscreen').boundingBox();
      for (const what of ['#join', '#join-qr', '#join-code', '#join-url']) {
        const box = await display.locator(what).boundingBox();
        assert.ok(box && box.height > 0, `${what} is shown`);
        assert.ok(!overlap(button, box), `${what} ${JSON.stringify(box)} and the button ${JSON.stringify(button)}`);
        assert.ok(box.y + box.height <= viewport.height && box.x + box.width <= viewport.width, `${what} is on the screen`);
      }
      await display.context().close();
    });
  }

  test('the display asks to keep the screen awake, and shows nothing broken where it cannot', { timeout: 30000 }, async () => {
    const display = await openDisplay();
    await display.waitForFunction(() => document.body.dataset.wakeLock);
    // Headless Chromium holds the lock or refuses it, depending on its build; both are fine to show.
    assert.match(await display.evaluate(() => document.body.dataset.wakeLock), /^(held|refused)$/);

    // A browser without Screen Wake Lock: the page works as ever.
    const context = await newContext(browser, PROJECTOR);
    await context.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, 'wakeLock', { get: () => undefined, configurable: true });
    });
    const old = await context.newPage();
    await old.goto(withCode(server.display, server.joinCode));
    await waitOnline(old);
    assert.equal(await old.evaluate(() => document.body.dataset.wakeLock), 'unsupported');
    await old.locator('#join-qr').waitFor();
    assert.deepEqual(pageErrors, []);
  });
});
