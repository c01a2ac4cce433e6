// Browser tests of the room's task board against the real server: two phones in one team see each
// other's moves (by buttons, by keyboard and by drag and drop), adds, edits and deletes, columns
// added, renamed, moved and deleted, and who is on a card; every phone ends with exactly the board
// the server holds; other teams' boards are read only.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PHONE, joinAs, newContext, openSection, pageErrors, tabUntil, startServerAndBrowser, stopServerAndBrowser } from './harness.mjs';
import { applyEvent, initialState } from '../state.js';

const TEAM = 'Healthwatch Lambeth';
const LIST = 'List who is never heard in consultations';
const STORY = "Storyboard one person's journey through a complaint";
const DRAFT = "Draft the cabinet paper's co-production section";

let server;
let browser;

before(async () => ({ server, browser } = await startServerAndBrowser()));
after(() => stopServerAndBrowser({ server, browser }));

/** A card with this title in this column of the page's board (not waiting to be sent). */
const cardIn = (page, column, title) => page.locator(`#board .board-column[data-column="${column}"] .card:not(.pending)`, { hasText: title });

/** The board as the page shows it: [[column id, [card titles]]]. */
const shownBoard = (page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('#board .board-column')].map((column) => [
      column.dataset.column,
      [...column.querySelectorAll('.card .card-title')].map((title) => title.textContent),
    ]),
  );

/** The board as the server's log folds, with state.js, from the default columns. */
async function serverBoard(page, channel) {
  const { publications } = await page.evaluate((ch) => window.makeroom.history(ch, { limit: 500 }), channel);
  const state = initialState(channel);
  for (const publication of publications) applyEvent(channel, state, publication);
  return state.columns.map((column) => [column.id, column.cards.map((card) => card.title)]);
}

/** Drags a card by its handle with the mouse (pointer events) into `column`, below its cards. */
async function dragCard(page, title, column) {
  const grip = page.locator('#board .card', { hasText: title }).locator('.grip');
  await grip.evaluate((node) => node.scrollIntoView({ block: 'start' }));
  const from = await grip.boundingBox();
  const to = await page.locator(`#board .board-column[data-column="${column}"]`).boundingBox();
  assert.ok(to.y + to.height < page.viewportSize().height, 'the target column is on screen');
  const start = { x: from.x + from.width / 2, y: from.y + from.height / 2 };
  const end = { x: to.x + to.width / 2, y: to.y + to.height - 12 };
  await page.mouse.move(start.x, start.y);
  await page.mouse.down();
  for (let i = 1; i <= 12; i++) {
    await page.mouse.move(start.x + ((end.x - start.x) * i) / 12, start.y + ((end.y - start.y) * i) / 12);
  }
  await page.locator('#board .drop-marker').waitFor({ state: 'attached' });
  await page.mouse.up();
}

describe('the task board', { timeout: 150000 }, () => {
  let ada;
  let grace;
  let channel;

  test("two phones in one team see each other's card moves, by tap and by drag", { timeout: 60000 }, async () => {
    ada = await (await newContext(browser, PHONE)).newPage();
    grace = await (await newContext(browser, PHONE)).newPage();
    await joinAs(ada, server, { name: 'Ada', skills: 'Design', team: TEAM });
    await joinAs(grace, server, { name: 'Grace', skills: 'Facilitation', team: TEAM });
    channel = `board:${await ada.evaluate(() => window.makeroom.me.team)}`;
    for (const page of [ada, grace]) {
      await openSection(page, 'Board');
      await cardIn(page, 'todo', LIST).waitFor();
    }

    // Ada taps the card, then "→ Doing": Grace sees it move.
    await ada.getByRole('button', { name: new RegExp(`^${LIST}`) }).click();
    await ada.getByRole('button', { name: `Move to Doing: ${LIST}` }).click();
    await cardIn(grace, 'doing', LIST).waitFor();
    await cardIn(ada, 'doing', LIST).waitFor();

    // Grace drags another card to the end of Doing: Ada sees it there.
    await dragCard(grace, STORY, 'doing');
    await cardIn(ada, 'doing', STORY).waitFor();
    await cardIn(grace, 'doing', STORY).waitFor();

    // Reordering within a column: "Move up" puts Ada's card first in Doing, for both.
    await ada.getByRole('button', { name: `Move up: ${LIST}` }).click();
    for (const page of [ada, grace]) {
      await page.waitForFunction(
        (title) => document.querySelector('#board .board-column[data-column="doing"] .card:not(.pending) .card-title')?.textContent === title,
        LIST,
      );
    }
  });

  test('adds, edits and deletes reach the other phone, and both hold the server\'s board', { timeout: 45000 }, async () => {
    await grace.getByLabel('New card').fill('Print the flyers');
    await grace.getByRole('button', { name: 'Add card' }).click();
    await cardIn(ada, 'todo', 'Print the flyers').waitFor();

    await ada.getByRole('button', { name: /^Print the flyers/ }).click();
    await ada.getByRole('button', { name: 'Edit: Print the flyers' }).click();
    await ada.getByLabel('Title', { exact: true }).fill('Print 200 flyers');
    await ada.getByLabel('Notes').fill('A5, recycled paper');
    await ada.getByRole('button', { name: 'Save' }).click();
    await cardIn(grace, 'todo', 'Print 200 flyers').waitFor();
    await grace.locator('#board .card', { hasText: 'Print 200 flyers' }).getByText('A5, recycled paper').waitFor();

    grace.once('dialog', (dialog) => dialog.accept());
    await grace.getByRole('button', { name: /^Print 200 flyers/ }).click();
    await grace.getByRole('button', { name: 'Delete: Print 200 flyers' }).click();
    await ada.locator('#board .card', { hasText: 'Print 200 flyers' }).waitFor({ state: 'detached' });

    // Everything settled: no change waits, and both phones show exactly the server's board.
    for (const page of [ada, grace]) await page.waitForFunction(() => window.makeroom.outbox.length === 0 && !document.querySelector('#board .card.pending'));
    const expected = await serverBoard(ada, channel);
    assert.deepEqual(await shownBoard(ada), expected);
    assert.deepEqual(await shownBoard(grace), expected);
    assert.deepEqual(expected, [
      ['todo', []],
      ['doing', [LIST, DRAFT, STORY]],
      ['done', []],
    ]);
  });

  test('columns are added, renamed, moved and deleted, and a card is given to a teammate', { timeout: 60000 }, async () => {
    const columns = (page) => page.locator('#board .board-column h3').allTextContents();
    await ada.getByLabel('Add a column').fill('Blocked');
    await ada.getByRole('button', { name: 'Add column' }).click();
    await grace.locator('#board .board-column h3', { hasText: 'Blocked' }).waitFor();

    await ada.getByRole('button', { name: 'Change the column Blocked' }).click();
    await ada.getByRole('button', { name: 'Rename the column: Blocked' }).click();
    await ada.getByLabel('Column name').fill('Waiting on the council');
    await ada.getByLabel('Column name').press('Enter');
    await grace.locator('#board .board-column h3', { hasText: 'Waiting on the council' }).waitFor();
    // The focus went back to the column's button, and its tools are still open for the next change.
    assert.equal(await ada.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Change the column Waiting on the council');

    await ada.getByRole('button', { name: 'Move the column earlier: Waiting on the council' }).click();
    for (const page of [ada, grace]) {
      await page.waitForFunction(() => [...document.querySelectorAll('#board .board-column h3')].map((h) => h.textContent).join('|') === 'To do|Doing|Waiting on the council|Done');
    }

    // A column that holds cards cannot be deleted; an empty one can, after a confirm.
    await ada.getByRole('button', { name: 'Change the column Doing' }).click();
    assert.equal(await ada.getByRole('button', { name: 'Delete the column: Doing' }).isDisabled(), true);
    await ada.locator('#board .board-column[data-column="doing"]').getByText('move or delete its cards first').waitFor();
    await ada.getByRole('button', { name: 'Change the column Waiting on the council' }).click();
    ada.once('dialog', (dialog) => dialog.accept());
    await ada.getByRole('button', { name: 'Delete the column: Waiting on the council' }).click();
    await grace.locator('#board .board-column h3', { hasText: 'Waiting on the council' }).waitFor({ state: 'detached' });
    assert.deepEqual(await columns(ada), ['To do', 'Doing', 'Done']);

    // "Who is on it": Ada gives her card to Grace, then to nobody.
    await ada.getByRole('button', { name: new RegExp(`^${LIST}`) }).click();
    await ada.locator('#board .card', { hasText: LIST }).getByLabel('Who is on it').selectOption({ label: 'Grace' });
    await ada.locator('#board .card', { hasText: LIST }).locator('.card-meta', { hasText: 'Grace is on it' }).waitFor();
    await grace.locator('#board .card', { hasText: LIST }).locator('.card-meta', { hasText: 'You are on it' }).waitFor();
    await ada.locator('#board .card', { hasText: LIST }).getByLabel('Who is on it').selectOption({ label: 'Nobody yet' });
    await grace.locator('#board .card', { hasText: LIST }).locator('.card-meta').waitFor({ state: 'hidden' });
    await ada.getByRole('button', { name: new RegExp(`^${LIST}`) }).click(); // closes its actions

    for (const page of [ada, grace]) await page.waitForFunction(() => window.makeroom.outbox.length === 0 && !document.querySelector('#board .card.pending'));
    const expected = await serverBoard(ada, channel);
    assert.deepEqual(await shownBoard(ada), expected);
    assert.deepEqual(await shownBoard(grace), expected);
  });

  test('the board works by keyboard alone: tab to a card and move it', { timeout: 30000 }, async () => {
    // Start from the top of the page, with the chat section open.
    await openSection(ada, 'Chat');
    await ada.evaluate(() => document.activeElement && document.activeElement.blur());
    // Tab to the section tabs, arrow to "Board", then tab into the board until the first Doing card.
    await tabUntil(ada, () => document.activeElement && document.activeElement.id === 'stab-chat');
    await ada.keyboard.press('ArrowRight');
    assert.equal(await ada.evaluate(() => document.activeElement.id), 'stab-board');
    await tabUntil(ada, () => document.activeElement && document.activeElement.classList.contains('card-title') && document.activeElement.closest('[data-column="doing"]') !== null);
    const title = await ada.evaluate(() => document.activeElement.textContent);
    assert.equal(title, LIST);
    await ada.keyboard.press('Enter'); // shows the card's actions
    await tabUntil(ada, () => document.activeElement.getAttribute('aria-label') === `Move to Done: ${document.activeElement.closest('.card').querySelector('.card-title').textContent}`);
    await ada.keyboard.press('Enter');
    await cardIn(ada, 'done', LIST).waitFor();
    await cardIn(grace, 'done', LIST).waitFor();
    // The focus stayed with the moved card, so the next move is a key away.
    const focused = await ada.evaluate(() => document.activeElement.closest('.card')?.querySelector('.card-title').textContent);
    assert.equal(focused, LIST);
  });

  test('a move made offline shows at once as waiting, and reaches the other phone once back online', { timeout: 40000 }, async () => {
    await grace.context().setOffline(true);
    await grace.waitForFunction(() => window.makeroom.status !== 'online', null, { timeout: 15000 });
    await grace.getByRole('button', { name: new RegExp(`^${DRAFT}`) }).click();
    await grace.getByRole('button', { name: `Move to Done: ${DRAFT}` }).click();
    // Shown where it goes, marked as waiting, and counted in the status line.
    await grace.locator('#board .board-column[data-column="done"] .card.pending', { hasText: DRAFT }).getByText('waiting to be sent').waitFor();
    await grace.locator('#status', { hasText: '1 change will be sent when you are back' }).waitFor();
    await ada.waitForTimeout(300);
    assert.equal(await cardIn(ada, 'doing', DRAFT).count(), 1, 'nothing left the offline phone');
    await grace.context().setOffline(false);
    await cardIn(ada, 'done', DRAFT).waitFor({ timeout: 20000 });
    await cardIn(grace, 'done', DRAFT).waitFor();
    assert.equal(await grace.locator('#board .card.pending').count(), 0);
    const expected = await serverBoard(ada, channel);
    assert.deepEqual(await shownBoard(grace), expected);
    assert.deepEqual(await shownBoard(ada), expected);
  });

  test("another team's board is read only", { timeout: 20000 }, async () => {
    await grace.getByLabel('Show the board of').selectOption({ label: 'Love Your Space (read only)' });
    await grace.locator('#board .card', { hasText: 'Walk the Tulse Hill estate' }).waitFor();
    assert.equal(await grace.locator('#board .grip').count(), 0);
    assert.equal(await grace.locator('#board button').count(), 0);
    assert.equal(await grace.getByLabel('New card').count(), 0);
    await grace.getByLabel('Show the board of').selectOption({ label: `${TEAM} (your team)` });
    await cardIn(grace, 'done', LIST).waitFor();
  });
});

test('no page had a script error', () => {
  assert.deepEqual(pageErrors, []);
});
