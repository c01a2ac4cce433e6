// Small phones and large text, measured: at 360x640 the room keeps at least five chat messages in
// view once the announcements are read (read ones take one line each), an urgent announcement and
// the pinned ones fit together, the top bar shrinks on short screens and while a section is scrolled,
// and at 150 % and 200 % text nothing overlaps (the tabs scroll sideways instead). The buttons people
// tap are at least 44 px each way.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PHONE, command, joinAs, newContext, openOrganiser, openSection, pageErrors, startServerAndBrowser, stopServerAndBrowser } from './harness.mjs';

const TEAM = 'Healthwatch Lambeth';
const SMALL = { viewport: { width: 360, height: 640 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

let server;
let browser;
let organiser;

before(async () => {
  ({ server, browser } = await startServerAndBrowser());
  organiser = await openOrganiser(browser, server);
  await command(organiser, 'announcements', { type: 'announcement.post', text: 'Wifi password: makers2026 (the network is GFN-guest)', priority: 'normal', pinned: true });
  await command(organiser, 'announcements', { type: 'announcement.post', text: 'Lunch is served in the main hall now. Vegan options at the back.', priority: 'normal' });
});
after(() => stopServerAndBrowser({ server, browser }));

/** A phone in the team, with `text` per cent text size (the browser's default font size, as a phone's setting). */
async function phone(name, options, text = 100) {
  const page = await (await newContext(browser, options)).newPage();
  if (text !== 100) {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Page.setFontSizes', { fontSizes: { standard: Math.round((16 * text) / 100) } });
  }
  await joinAs(page, server, { name, team: TEAM });
  return page;
}

/** Posts `count` messages from the page and waits until the last shows. */
async function chatter(page, count, prefix) {
  const team = await page.evaluate(() => window.makeroom.me.team);
  for (let i = 1; i <= count; i++) await page.evaluate(([t, text]) => window.makeroom.publish(`team:${t}`, { text }).done, [team, `${prefix} ${i}`]);
  await page.locator('.panel:not([hidden]) .msg:not(.pending)', { hasText: `${prefix} ${count}` }).waitFor();
}

/** Reads every announcement shown whole (not urgent) by tapping its "Show less". */
async function readAll(page) {
  for (let i = 0; i < 10; i++) {
    const unread = page.locator('#announcements .announcement.unread').getByRole('button', { name: 'Show less', exact: true });
    if ((await unread.count()) === 0) return;
    await unread.first().click();
  }
}

/** The messages of the chat shown that are wholly inside its panel. */
const messagesInView = (page) =>
  page.evaluate(() => {
    const panel = document.querySelector('.panel:not([hidden])').getBoundingClientRect();
    return [...document.querySelectorAll('.panel:not([hidden]) .msg')].filter((node) => {
      const box = node.getBoundingClientRect();
      return box.top >= panel.top - 0.5 && box.bottom <= panel.bottom + 0.5;
    }).length;
  });

/** The boxes of the room's parts that must never overlap, and the viewport's height. */
const layout = (page) =>
  page.evaluate(() => {
    const box = (node) => {
      const r = node.getBoundingClientRect();
      return { name: node.id || node.className, top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width, height: r.height };
    };
    const shown = (selector) => [...document.querySelectorAll(selector)].filter((node) => node.offsetParent !== null || node === document.body);
    return {
      height: window.innerHeight,
      width: window.innerWidth,
      stack: shown('.topbar, #status:not(.quiet), #announcements, #section-tabs, #presenting, .view-chat .tabs, .panel:not([hidden]), #composer').map(box),
      topbar: shown('.topbar h1, #help-toggle').map(box),
      sectionTabs: shown('#section-tabs [role="tab"]').map((tab) => ({ ...box(tab), clipped: tab.scrollWidth > tab.clientWidth + 1 })),
      chatTabs: shown('.view-chat .tabs [role="tab"]').map(box),
      tablist: box(document.querySelector('#section-tabs')),
    };
  });

const overlap = (a, b) => a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5 && a.left < b.right - 0.5 && b.left < a.right - 0.5;

function assertNothingOverlaps(shape, what) {
  const { stack, topbar, sectionTabs, chatTabs, height } = shape;
  for (let i = 0; i < stack.length; i++) {
    for (let j = i + 1; j < stack.length; j++) assert.ok(!overlap(stack[i], stack[j]), `${what}: ${stack[i].name} and ${stack[j].name} overlap: ${JSON.stringify([stack[i], stack[j]])}`);
    assert.ok(stack[i].bottom <= height + 0.5, `${what}: ${stack[i].name} runs off the screen (${stack[i].bottom} > ${height})`);
    assert.ok(stack[i].height > 0, `${what}: ${stack[i].name} has no room`);
  }
  assert.ok(!overlap(topbar[0], topbar[1]), `${what}: the event's name runs into Help`);
  for (const group of [sectionTabs, chatTabs]) {
    for (let i = 0; i < group.length; i++) for (let j = i + 1; j < group.length; j++) assert.ok(!overlap(group[i], group[j]), `${what}: tabs ${i} and ${j} overlap`);
  }
  for (const tab of sectionTabs) assert.ok(!tab.clipped, `${what}: a tab's label is cut: ${JSON.stringify(tab)}`);
}

describe('small phones and large text', { timeout: 240000 }, () => {
  test('at 360x640, read announcements take a line each and at least five messages show', { timeout: 60000 }, async () => {
    const page = await phone('Ada', SMALL);
    await chatter(page, 8, 'Message number');
    // Unread, the newest (and a pinned one) show whole; read, they take one line.
    await page.locator('#announcements .announcement.unread', { hasText: 'Lunch is served' }).waitFor();
    await readAll(page);
    const lines = await page.locator('#announcements .announcement.compact').evaluateAll((nodes) =>
      nodes.map((node) => {
        const text = node.querySelector('.announcement-text');
        return { height: node.getBoundingClientRect().height, textHeight: text.getBoundingClientRect().height, lineHeight: parseFloat(getComputedStyle(text).lineHeight) };
      }),
    );
    assert.ok(lines.length >= 1, 'read announcements show as lines');
    for (const line of lines) {
      assert.ok(line.textHeight <= line.lineHeight + 1, `one line of text: ${JSON.stringify(line)}`);
      assert.ok(line.height <= 48, `one row: ${JSON.stringify(line)}`);
    }
    await page.locator('#announcements', { hasText: 'Wifi password' }).waitFor();
    await page.locator('#announcement-more summary', { hasText: 'Earlier announcements (1)' }).waitFor();
    const inView = await messagesInView(page);
    assert.ok(inView >= 5, `at least five messages in view at 360x640, not ${inView}`);
    const shape = await layout(page);
    assert.ok(shape.stack[0].height <= 50, `the top bar is one short row: ${shape.stack[0].height}`);
    assertNothingOverlaps(shape, '360x640');
    // Read stays read: after a reload they are lines again at once.
    await page.reload();
    await page.locator('#announcements .announcement.compact', { hasText: 'Wifi password' }).waitFor();
    assert.equal(await page.locator('#announcements .announcement.unread').count(), 0);

    // An urgent announcement comes: it and the pinned one are both in view, neither scrolled away.
    await command(organiser, 'announcements', { type: 'announcement.post', text: 'Fire drill at 3pm: please leave by the front doors and gather in the car park.', priority: 'urgent' });
    await page.getByRole('button', { name: /^Got it/ }).waitFor();
    const seen = await page.evaluate(() => {
      const box = document.querySelector('#announcements').getBoundingClientRect();
      const inside = (node) => {
        const r = node.getBoundingClientRect();
        return r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5 && r.bottom <= window.innerHeight;
      };
      const urgent = document.querySelector('#announcements .announcement.urgent');
      const pinned = [...document.querySelectorAll('#announcements .announcement')].find((node) => node.textContent.includes('Wifi password'));
      return { urgent: Boolean(urgent) && inside(urgent), pinned: Boolean(pinned) && inside(pinned) };
    });
    assert.deepEqual(seen, { urgent: true, pinned: true }, 'the urgent announcement and the pinned one are both in view');
    assertNothingOverlaps(await layout(page), '360x640 with an urgent announcement');
    // Acknowledged, it folds away with the other read ones.
    await page.getByRole('button', { name: /^Got it/ }).click();
    await page.locator('#announcement-more summary', { hasText: 'Earlier announcements (2)' }).waitFor();
    assert.equal(await page.locator('#announcement-latest .announcement.urgent').count(), 0);
    assert.ok((await messagesInView(page)) >= 5, 'five messages in view again');
  });

  test('at 390x844 the top bar shrinks while a section is scrolled down, and grows back at the top', { timeout: 40000 }, async () => {
    const page = await phone('Grace', PHONE);
    const topbar = () => page.locator('.topbar').evaluate((node) => node.getBoundingClientRect().height);
    const full = await topbar();
    await openSection(page, 'Teams');
    await page.locator('#team-list .team-card').first().waitFor();
    await page.locator('#view-teams').evaluate((view) => view.scrollTo(0, view.scrollHeight));
    await page.waitForFunction(() => document.body.classList.contains('scrolled'));
    const shrunk = await topbar();
    assert.ok(shrunk < full - 10, `the top bar shrinks: ${full} → ${shrunk}`);
    await page.locator('#view-teams').evaluate((view) => view.scrollTo(0, 0));
    await page.waitForFunction(() => !document.body.classList.contains('scrolled'));
    assert.equal(await topbar(), full);
  });

  for (const text of [150, 200]) {
    for (const [size, options] of [
      ['360x640', SMALL],
      ['390x844', PHONE],
    ]) {
      test(`at ${text} % text on ${size}, nothing overlaps and the tabs scroll`, { timeout: 40000 }, async () => {
        const page = await phone(`Text ${text} ${size}`, options, text);
        await chatter(page, 3, `Big text ${text} ${size}`);
        assert.ok((await page.evaluate(() => parseFloat(getComputedStyle(document.body).fontSize))) >= (16 * text) / 100 - 0.5, 'the text is larger');
        assertNothingOverlaps(await layout(page), `${text} % on ${size}`);
        // The last tab, maybe out of view to the right, comes into view when chosen, and works.
        await page.getByRole('tab', { name: 'Board' }).focus();
        await page.keyboard.press('End');
        await page.locator('#view-schedule:not([hidden])').waitFor();
        const shape = await layout(page);
        const schedule = shape.sectionTabs[shape.sectionTabs.length - 1];
        assert.ok(schedule.left >= shape.tablist.left - 0.5 && schedule.right <= shape.tablist.right + 0.5, `the chosen tab is in view: ${JSON.stringify([schedule, shape.tablist])}`);
        for (let i = 0; i < shape.sectionTabs.length; i++) for (let j = i + 1; j < shape.sectionTabs.length; j++) assert.ok(!overlap(shape.sectionTabs[i], shape.sectionTabs[j]));
      });
    }
  }

  test('the buttons people tap are at least 44 px: a card\'s, "Show all", "Earlier announcements", "Read revision 1"', { timeout: 60000 }, async () => {
    const page = await phone('Sam', PHONE);
    await readAll(page);
    const size = (locator) => locator.evaluate((node) => ({ width: node.getBoundingClientRect().width, height: node.getBoundingClientRect().height, text: node.textContent.trim() }));
    const big = async (locator, what) => {
      const { width, height, text } = await size(locator);
      assert.ok(width >= 44 && height >= 44, `${what} ("${text}") is ${width.toFixed(1)}x${height.toFixed(1)} px`);
    };
    await big(page.locator('#announcements .announcement.compact .more').first(), '"Show all"');
    await big(page.locator('#announcement-more summary'), '"Earlier announcements"');

    await openSection(page, 'Board');
    const card = page.locator('#board .card').first();
    await card.waitFor();
    await big(card.locator('.card-title'), 'a card');
    await big(card.locator('.grip'), 'a card\'s handle');
    await card.locator('.card-title').click();
    const tools = card.locator('.card-tools button');
    await tools.first().waitFor();
    for (let i = 0; i < (await tools.count()); i++) await big(tools.nth(i), 'a card\'s button');
    await big(card.locator('.card-tools select'), 'who is on it');
    await big(page.locator('#board .column-toggle').first(), 'a column\'s button');

    // A brief with two revisions: "Read revision 1".
    await openSection(page, 'Brief');
    const title = (await page.locator('#brief .brief-title').textContent()).trim();
    const briefId = await page.evaluate((t) => {
      const select = document.querySelector('#brief-pick');
      return [...select.options].find((o) => o.textContent === t).value;
    }, title);
    await command(organiser, 'briefs', { type: 'brief.edit', brief: briefId, revision: 1, body: 'A second revision of the brief.' });
    await page.locator('#brief .meta', { hasText: 'Revision 2' }).waitFor();
    await page.getByText(/Revision history/).click();
    await big(page.getByRole('button', { name: 'Read revision 1' }), '"Read revision 1"');
  });
});

test('no page had a script error', () => {
  assert.deepEqual(pageErrors, []);
});
