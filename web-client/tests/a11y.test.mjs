// Accessibility: axe-core (a dev dependency) checks every page, and every section of the room, in the
// states people see them in (offline too). No violation of impact "serious" or "critical" may remain.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { PHONE, PROJECTOR, command, joinAs, newContext, openOrganiser, openSection, pageErrors, waitOnline, withCode, startServerAndBrowser, stopServerAndBrowser } from './harness.mjs';

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

let server;
let browser;

before(async () => ({ server, browser } = await startServerAndBrowser()));
after(() => stopServerAndBrowser({ server, browser }));

/** Runs axe on the page as it is now and returns its serious and critical violations, readably. */
async function serious(page) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.addScriptTag({ path: axePath });
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

async function check(page, what) {
  const found = await serious(page);
  assert.deepEqual(found, [], `${what}: ${JSON.stringify(found, null, 1)}`);
}

describe('axe finds nothing serious', { timeout: 120000 }, () => {
  let phone;

  test('the join page', { timeout: 20000 }, async () => {
    const page = await (await newContext(browser, PHONE)).newPage();
    await page.goto(`${server.url}/join?code=${server.joinCode}`);
    await page.getByLabel('Your name').waitFor();
    await page.getByLabel('Your skills').fill('design, research'); // the teams that miss one say so
    await page.locator('.team-choice .match:not([hidden])').first().waitFor();
    await check(page, 'join');
    await page.goto(`${server.url}/`);
    await check(page, 'index');
  });

  test('the room, in every section', { timeout: 40000 }, async () => {
    phone = await (await newContext(browser, PHONE)).newPage();
    await joinAs(phone, server, { name: 'Ada', skills: 'Design', team: 'Healthwatch Lambeth' });
    const organiser = await openOrganiser(browser, server);
    await command(organiser, 'announcements', { type: 'announcement.post', text: 'Lunch is served in the main hall.', priority: 'urgent' });
    await phone.getByRole('button', { name: /^Got it/ }).waitFor();
    await check(phone, 'room: chat');

    await openSection(phone, 'Board');
    await phone.locator('#board .card').first().waitFor();
    await phone.locator('#board .card-title').first().click(); // a card's actions open
    await phone.locator('#board .column-toggle').first().click(); // and a column's
    await phone.locator('#board .column-tools:not([hidden]) button').first().waitFor();
    await check(phone, 'room: board');

    await openSection(phone, 'Brief');
    await phone.getByRole('button', { name: 'Make our working version' }).waitFor();
    await phone.getByText(/Revision history/).click();
    await check(phone, 'room: brief');

    await openSection(phone, 'Teams');
    await phone.locator('#team-list .team-card').first().waitFor();
    await check(phone, 'room: teams');

    await command(organiser, 'presentations', { type: 'presentations.start', index: 0 });
    await openSection(phone, 'Schedule');
    await phone.locator('#phase-list .phase.now').waitFor();
    await phone.locator('#show-now:not([hidden])').waitFor();
    await phone.locator('#presenting:not([hidden])').waitFor();
    await check(phone, 'room: schedule');

    await phone.getByRole('button', { name: /^Help/ }).click();
    await phone.getByLabel('What do you need help with?').fill('A spare HDMI cable');
    await phone.getByRole('button', { name: 'Ask for help' }).click();
    await phone.locator('#help-list .request').waitFor();
    await check(phone, 'room: help');

    // Opened with no network: what the phone saw last, and the offline banner.
    await phone.waitForFunction(() => Boolean(navigator.serviceWorker.controller), null, { timeout: 15000 });
    await phone.evaluate(() => window.makeroomSaved.save());
    await phone.context().setOffline(true);
    await phone.reload();
    await phone.locator('#status', { hasText: 'Showing what this phone last saw' }).waitFor({ timeout: 15000 });
    await check(phone, 'room: offline');
    await phone.context().setOffline(false);
  });

  test('the organiser console', { timeout: 30000 }, async () => {
    const organiser = await openOrganiser(browser, server);
    await organiser.waitForFunction(() => document.querySelector('#join-qr').naturalWidth > 0);
    await organiser.locator('#help-list .request').waitFor();
    await organiser.locator('#show-time', { hasText: 'left' }).waitFor();
    await organiser.getByRole('button', { name: /^Edit A co-operative council website/ }).click();
    for (const summary of ['Add a phase', 'Add a brief', 'Add a team']) await organiser.getByText(summary, { exact: true }).click();
    await check(organiser, 'organiser');
  });

  test('the display, with a team presenting and an urgent announcement', { timeout: 20000 }, async () => {
    const display = await (await newContext(browser, PROJECTOR)).newPage();
    await display.goto(withCode(server.display, server.joinCode));
    await waitOnline(display);
    await display.locator('#hero[data-mode="presenting"]').waitFor();
    await display.locator('.announcement.urgent').waitFor();
    await check(display, 'display');
  });
});

test('no page had a script error', () => {
  assert.deepEqual(pageErrors, []);
});
