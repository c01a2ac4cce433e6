// Welsh and English, in a browser: the demo event started in Welsh (`--demo-language cy`, a
// Co-production Wales network day) opened from a `cy-GB` browser and from an `en-GB` one. Joining,
// the chat (with a plural count of waiting messages), the board, the display with its bilingual name
// and announcement, the switch (in place, and remembered after a reload), the Made section (an output
// saved from one Welsh phone and seen on another, redrawn in English by the switch), and a refusal
// shown from its code in Welsh, not from the server's English message.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PHONE, PROJECTOR, newContext, openSection, pageErrors, startServerAndBrowser, stopServerAndBrowser, waitOnline, withCode } from './harness.mjs';
import cy from '../i18n/cy.js';
import en from '../i18n/en.js';

const WELSH = { locale: 'cy-GB', extraHTTPHeaders: { 'Accept-Language': 'cy-GB,cy;q=0.9' } };
const ENGLISH = { locale: 'en-GB', extraHTTPHeaders: { 'Accept-Language': 'en-GB,en;q=0.9' } };
const NAME_CY = 'Diwrnod y Rhwydwaith Cydgynhyrchu, Cas-gwent (demo)';
const NAME_EN = 'Co-production Network Day, Chepstow (demo)';
const TEAM = 'Caffis Trwsio';

let server;
let browser;

before(async () => ({ server, browser } = await startServerAndBrowser({ extraArgs: ['--demo-language', 'cy'] })));
after(() => stopServerAndBrowser({ server, browser }));

/** Joins from the join page in whichever language it speaks (labels found by their ids). */
async function join(page, name, team = TEAM) {
  await page.goto(`${server.url}/join?code=${server.joinCode}`);
  await page.locator('#name').fill(name);
  await page.getByLabel(team).check();
  await page.locator('#join-button').click();
  await page.waitForURL(/\/room\?event=/);
  await waitOnline(page);
}

describe('Welsh and English', { timeout: 180000 }, () => {
  test('a Welsh browser joins in Welsh: the page, its lang, the event and the brief in Welsh', { timeout: 30000 }, async () => {
    const page = await (await newContext(browser, { ...PHONE, ...WELSH })).newPage();
    await page.goto(`${server.url}/join?code=${server.joinCode}`);
    await page.getByRole('heading', { level: 1, name: NAME_CY }).waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'cy');
    await page.getByLabel(cy['join.name']).waitFor();
    const choice = page.locator('.team-choice', { hasText: TEAM });
    await choice.getByText(`${cy['join.brief']} Caffi trwsio ym mhob tref`).waitFor();
    await choice.getByText(cy['join.missing']).waitFor();
    // The switch offers English, named in English and marked as English.
    const other = page.getByRole('button', { name: /^English/ });
    assert.equal(await other.getAttribute('lang'), 'en');
    // Nothing filled in: the reader is told in Welsh.
    await page.locator('#join-button').click();
    await page.locator('#name-error', { hasText: cy['join.nameMissing'] }).waitFor();
    assert.equal(await page.title(), `Ymuno â ${NAME_CY} · Makeroom`);
  });

  test('an English browser gets English, and Welsh-only words of the organisers carry lang="cy"', { timeout: 40000 }, async () => {
    const page = await (await newContext(browser, { ...PHONE, ...ENGLISH })).newPage();
    await page.goto(`${server.url}/join?code=${server.joinCode}`);
    await page.getByRole('heading', { level: 1, name: NAME_EN }).waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
    await page.locator('.team-choice', { hasText: TEAM }).getByText('Brief: A repair café in every town').waitFor();
    await join(page, 'Rhys');
    await page.getByRole('tab', { name: 'Chat' }).waitFor();
    // The pinned welcome in English; the schedule's phases are in Welsh only, and say so.
    await page.locator('#announcements .announcement-text', { hasText: 'Welcome to the Co-production Network Day' }).waitFor();
    await openSection(page, 'Schedule');
    const phase = page.locator('.phase-title', { hasText: 'Dangos a dweud' });
    await phase.waitFor();
    assert.equal(await phase.getAttribute('lang'), 'cy');
  });

  test('the room in Welsh: chat with a plural count of waiting messages, the board with Welsh columns and counts', { timeout: 60000 }, async () => {
    const page = await (await newContext(browser, { ...PHONE, ...WELSH })).newPage();
    await join(page, 'Cerys');
    for (const tab of ['room.chat', 'room.board', 'room.brief', 'room.teams', 'room.made', 'room.schedule']) await page.getByRole('tab', { name: cy[tab] }).waitFor();
    await page.locator('#announcements .announcement-text', { hasText: 'Croeso i Ddiwrnod y Rhwydwaith Cydgynhyrchu' }).waitFor();
    await page.getByPlaceholder(cy['chat.placeholderTeam'].replace('{team}', TEAM)).fill('Bore da bawb!');
    await page.getByRole('button', { name: cy['chat.send'] }).click();
    await page.locator('.msg:not(.pending)', { hasText: 'Bore da bawb!' }).waitFor();
    await page.locator('.msg.mine .who', { hasText: cy['chat.you'] }).first().waitFor();

    // Offline, two messages wait: "2 neges" (Welsh counts a noun in the singular).
    await page.context().setOffline(true);
    await page.evaluate(() => window.makeroom.check());
    await page.waitForFunction(() => window.makeroom.status !== 'online', null, { timeout: 10000 });
    for (const text of ['Un', 'Dau']) {
      await page.locator('#message-input').fill(text);
      await page.getByRole('button', { name: cy['chat.send'] }).click();
    }
    await page.locator('#status', { hasText: "Byddwn ni'n anfon 2 neges pan fyddwch chi'n ôl." }).waitFor({ timeout: 15000 });
    await page.locator('.msg.pending .state', { hasText: cy['chat.sending'] }).first().waitFor();
    await page.context().setOffline(false);
    await waitOnline(page, 20000);
    await page.locator('.msg:not(.pending)', { hasText: 'Dau' }).waitFor();

    // The board: the default columns in Welsh, and "2 gerdyn" (soft mutation after two).
    await page.getByRole('tab', { name: cy['room.board'], exact: true }).click();
    await page.locator('#view-board:not([hidden])').waitFor();
    await page.locator('#board .board-column[data-column="todo"] h3', { hasText: cy['board.column.todo'] }).waitFor();
    await page.locator('#board .board-column[data-column="todo"] .count', { hasText: '2 gerdyn' }).waitFor();
    await page.getByLabel(cy['board.newCard']).fill('Gofyn am fenthyg offer');
    await page.getByRole('button', { name: cy['board.addCard'] }).click();
    await page.locator('#board .board-column[data-column="todo"] .count', { hasText: '3 cherdyn' }).waitFor();
  });

  test('the Made section in Welsh: one phone saves what the team made, another sees it, and the switch redraws it in English', { timeout: 60000 }, async () => {
    const openMade = async (page) => {
      await page.getByRole('tab', { name: cy['room.made'], exact: true }).click();
      await page.locator('#view-made:not([hidden])').waitFor();
    };
    const gwen = await (await newContext(browser, { ...PHONE, ...WELSH })).newPage();
    const dafydd = await (await newContext(browser, { ...PHONE, ...WELSH })).newPage();
    await join(gwen, 'Gwen');
    await join(dafydd, 'Dafydd');
    await openMade(dafydd);
    await dafydd.locator('#made-status', { hasText: cy['output.notSaved'] }).waitFor();

    await openMade(gwen);
    await gwen.getByRole('heading', { name: cy['made.heading'].replace('{team}', TEAM) }).waitFor();
    await gwen.getByText(cy['made.intro']).waitFor();
    for (const key of ['output.description', 'output.links', 'output.carriedOnBy', 'output.nextSteps']) await gwen.getByLabel(cy[key]).waitFor();
    await gwen.getByRole('button', { name: cy['output.addPhotos'] }).waitFor();
    await gwen.getByText(cy['output.noPhotos']).waitFor();
    // Saving without a title is refused in Welsh; then a title alone is enough.
    await gwen.getByRole('button', { name: cy['output.save'], exact: true }).click();
    await gwen.locator('#made-message', { hasText: cy['output.needsTitle'] }).waitFor();
    const title = gwen.getByLabel(cy['output.title']);
    await title.fill('Map o gaffis trwsio Sir Fynwy');
    assert.equal(await title.getAttribute('lang'), null, 'the event is run in Welsh: the title is the page’s language');
    await gwen.getByRole('button', { name: cy['output.save'], exact: true }).click();
    const savedByGwen = /^Cadwyd am .+ gan Gwen\.$/;
    await gwen.locator('#made-status', { hasText: savedByGwen }).waitFor();
    assert.equal(await gwen.locator('#made-message').textContent(), '');

    // The second phone of the team sees it at once, in Welsh.
    await dafydd.locator('#made-status', { hasText: savedByGwen }).waitFor();
    assert.equal(await dafydd.getByLabel(cy['output.title']).inputValue(), 'Map o gaffis trwsio Sir Fynwy');

    // The switch redraws the section in English in place; the Welsh title carries lang="cy".
    await dafydd.getByRole('button', { name: /^English/ }).click();
    await dafydd.getByRole('heading', { name: en['made.heading'].replace('{team}', TEAM) }).waitFor();
    await dafydd.locator('#made-status', { hasText: /^Saved .+ by Gwen\.$/ }).waitFor();
    assert.equal(await dafydd.getByLabel(en['output.title']).getAttribute('lang'), 'cy');
    await dafydd.getByRole('button', { name: en['output.addPhotos'] }).waitFor();
    await gwen.context().close();
    await dafydd.context().close();
  });

  test('the switch changes the page in place, is remembered across a reload, and marks the other language', { timeout: 40000 }, async () => {
    const page = await (await newContext(browser, { ...PHONE, ...ENGLISH })).newPage();
    await join(page, 'Owain');
    await page.evaluate(() => (window.notReloaded = true));
    await page.getByRole('button', { name: /^Cymraeg/ }).click();
    await page.getByRole('tab', { name: cy['room.chat'] }).waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'cy');
    assert.equal(await page.evaluate(() => window.notReloaded), true, 'redrawn in place, not reloaded');
    await page.locator('#event-name', { hasText: NAME_CY }).waitFor();
    await page.locator('#announcements .announcement-text', { hasText: 'Croeso i Ddiwrnod' }).waitFor();
    await page.reload();
    await waitOnline(page);
    await page.getByRole('tab', { name: cy['room.board'] }).waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'cy');
    // And back: English, with the switch offering Cymraeg again.
    await page.getByRole('button', { name: /^English/ }).click();
    await page.getByRole('tab', { name: en['room.board'] }).waitFor();
    assert.equal(await page.getByRole('button', { name: /^Cymraeg/ }).getAttribute('lang'), 'cy');
  });

  test('the display shows the name and the announcement in both languages, Welsh first, each with its lang', { timeout: 40000 }, async () => {
    for (const [options, pageLang] of [
      [WELSH, 'cy'],
      [ENGLISH, 'en'],
    ]) {
      const display = await (await newContext(browser, { ...PROJECTOR, ...options })).newPage();
      await display.goto(withCode(server.display, server.joinCode));
      await waitOnline(display);
      const names = display.locator('#event-name > span');
      await display.locator('#event-name .second-language').waitFor();
      assert.deepEqual(await names.allTextContents(), [NAME_CY, NAME_EN], 'Welsh first: the event is run in Welsh');
      assert.deepEqual(await names.evaluateAll((spans) => spans.map((span) => span.getAttribute('lang'))), pageLang === 'cy' ? [null, 'en'] : ['cy', null]);
      const welcome = display.locator('#announcement-list .announcement').first();
      const lines = welcome.locator('.announcement-text');
      await lines.nth(1).waitFor();
      const texts = await lines.allTextContents();
      assert.match(texts[0], /^Croeso i Ddiwrnod/);
      assert.match(texts[1], /^Welcome to the Co-production/);
      assert.equal(await display.evaluate(() => document.documentElement.lang), pageLang);
      await display.locator('#join', { hasText: (pageLang === 'cy' ? cy : en)['display.joinAt'] }).waitFor();
      await display.context().close();
    }
  });

  test('a refusal is shown from its code in Welsh, not from the server\'s English message', { timeout: 40000 }, async () => {
    const page = await (await newContext(browser, { viewport: { width: 1366, height: 900 }, ...WELSH })).newPage();
    await page.goto(withCode(server.organiser, server.joinCode));
    await waitOnline(page);
    await page.locator('#team-add-box summary').click();
    await page.locator('#team-name').fill(TEAM); // a team is already called that: `conflict`
    await page.locator('#team-add button[type="submit"]').click();
    const message = page.locator('#roster-message');
    await message.filter({ hasText: cy['error.conflict'] }).waitFor();
    assert.equal(await message.textContent(), `${cy['org.couldNot'].replace('{what}', cy['org.do.addTeam'])} ${cy['error.conflict']}`);
    assert.doesNotMatch(await message.textContent(), /already called/);
    // The console's own words are Welsh too, and its event form offers the Welsh name.
    await page.getByRole('heading', { name: cy['org.teamsAndPeople'] }).waitFor();
    assert.equal(await page.locator('#event-name-cy-input').inputValue(), NAME_CY);
  });

  test('no page had a script error', () => {
    assert.deepEqual(pageErrors, []);
  });
});
