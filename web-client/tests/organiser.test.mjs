// Browser tests of the organiser console with phones in the room, against the real server: an urgent
// announcement posted by keyboard alone and acknowledged on a phone; a brief edit that conflicts;
// a team's working version of its brief and its revision history; the help queue; teams, skills and
// the schedule; the event's name and dates; the show and tell's controls; export downloads; the QR
// code; removing someone; closing joining and giving the event a new join code.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { PHONE, joinAs, newContext, openOrganiser, openSection, pageErrors, tabUntil, startServerAndBrowser, stopServerAndBrowser } from './harness.mjs';

let server;
let browser;

before(async () => ({ server, browser } = await startServerAndBrowser()));
after(() => stopServerAndBrowser({ server, browser }));

describe('the organiser console', { timeout: 170000 }, () => {
  let organiser;
  let ada;

  test('an urgent, pinned announcement posted by keyboard alone; a phone acknowledges it', { timeout: 40000 }, async () => {
    ada = await (await newContext(browser, PHONE)).newPage();
    await joinAs(ada, server, { name: 'Ada', skills: 'Photography', team: 'Love Your Space' });
    organiser = await openOrganiser(browser, server);
    await organiser.locator('#join-code', { hasText: server.joinCode }).waitFor();

    const text = 'Fire drill at 3pm: please leave by the front doors.';
    await organiser.evaluate(() => document.activeElement && document.activeElement.blur());
    await tabUntil(organiser, () => document.activeElement.id === 'announcement-text');
    await organiser.keyboard.type(text);
    await organiser.keyboard.press('Tab'); // the priority radios: Normal is checked
    await organiser.keyboard.press('ArrowRight'); // Urgent
    assert.equal(await organiser.evaluate(() => document.activeElement.value), 'urgent');
    await organiser.keyboard.press('Tab'); // "Pin it"
    await organiser.keyboard.press('Space');
    await organiser.keyboard.press('Tab'); // "Post announcement"
    assert.equal(await organiser.evaluate(() => document.activeElement.textContent), 'Post announcement');
    await organiser.keyboard.press('Enter');
    const posted = organiser.locator('#announcement-list li', { hasText: text });
    await posted.getByText('0 of 1 acknowledged').waitFor();
    assert.match(await posted.textContent(), /Urgent: Pinned: /);

    // On the phone: urgent, in words, with a "Got it" button; acknowledging it counts on the console.
    const onPhone = ada.locator('#announcement-latest .announcement.urgent', { hasText: text });
    await onPhone.waitFor();
    await onPhone.getByRole('button', { name: /^Got it/ }).click();
    await onPhone.getByText('You acknowledged this').waitFor();
    await posted.getByText('1 of 1 acknowledged').waitFor();
    // Unpinning from the console.
    await posted.getByRole('button', { name: /^Unpin/ }).click();
    await organiser.locator('#announcement-list li', { hasText: text }).getByRole('button', { name: /^Pin/ }).waitFor();
  });

  test('a brief edit made on an old revision is refused, and the latest text is shown', { timeout: 40000 }, async () => {
    const other = await openOrganiser(browser, server);
    const brief = (page) => page.locator('#brief-admin .brief-row', { hasText: 'Love Your Space' }).first();
    await brief(organiser).getByRole('button', { name: /^Edit Love Your Space/ }).click();
    const mine = organiser.locator('.brief-editor');
    await mine.getByLabel('Text', { exact: true }).fill('## The challenge\n\nMy version of the challenge.');

    // Meanwhile another organiser saves revision 2.
    await brief(other).getByRole('button', { name: /^Edit Love Your Space/ }).click();
    await other.locator('.brief-editor').getByLabel('Text', { exact: true }).fill('## The challenge\n\nTheir newer version.');
    await other.locator('.brief-editor').getByRole('button', { name: 'Save' }).click();
    await brief(other).getByText('revision 2').waitFor();
    // The first editor is told before saving that it is behind.
    await mine.getByText('saved revision 2 while you were editing revision 1').waitFor();

    await mine.getByRole('button', { name: 'Save' }).click();
    const alert = mine.locator('[role="alert"]');
    await alert.getByText(/Not saved: .* saved revision 2 while you were editing revision 1/).waitFor();
    assert.equal(await mine.getByLabel('Text', { exact: true }).inputValue(), '## The challenge\n\nTheir newer version.');
    assert.match(await mine.getByLabel(/Your text, not saved/).inputValue(), /My version of the challenge/);
    assert.equal(await organiser.evaluate(() => document.activeElement.getAttribute('role')), 'alert', 'the focus goes to the explanation');

    // Merging and saving again, on the current revision, works.
    await mine.getByLabel('Text', { exact: true }).fill('## The challenge\n\nTheir newer version.\n\n- and my point');
    await mine.getByRole('button', { name: 'Save' }).click();
    await brief(organiser).getByText('revision 3').waitFor();
    await other.close();
  });

  test("a team makes its working version of the brief and reads the brief's old revisions", { timeout: 30000 }, async () => {
    await openSection(ada, 'Brief');
    const article = ada.locator('#brief');
    await article.getByRole('heading', { name: 'Love Your Space' }).waitFor();
    await article.getByText('and my point').waitFor(); // the live revision 3, as a list item
    assert.equal(await article.locator('.md li', { hasText: 'and my point' }).count(), 1);
    await article.getByText('Revision 3').first().waitFor();
    await article.getByText(/Revision history \(3 revisions\)/).click();
    await article.getByRole('button', { name: 'Read revision 1' }).click();
    await article.getByText('You are reading revision 1 of 3').waitFor();
    await article.getByText('The larger parks are well used').waitFor();
    await article.getByRole('button', { name: 'Back to the current text' }).click();
    await article.getByText('and my point').waitFor();

    await article.getByRole('button', { name: 'Make our working version' }).click();
    await article.getByText("Your team's working version, copied from revision 3").waitFor();
    await article.getByRole('button', { name: 'Edit our working version' }).click();
    await ada.locator('.brief-editor').getByLabel('Text', { exact: true }).fill('## Our angle\n\nStart with **three** spaces.\n\n<script>alert(1)</script>');
    await ada.locator('.brief-editor').getByRole('button', { name: 'Save' }).click();
    await article.locator('.md strong', { hasText: 'three' }).waitFor();
    // Raw HTML shows as text and is never run.
    await article.getByText('<script>alert(1)</script>').waitFor();
    assert.equal(await article.locator('script').count(), 0);
    // The console lists the working version under the team.
    await organiser.locator('#brief-admin .brief-row.fork', { hasText: "Love Your Space's working version" }).waitFor();
  });

  test('help: a team asks, an organiser claims and resolves, the phone follows', { timeout: 30000 }, async () => {
    await ada.getByRole('button', { name: /^Help/ }).click();
    await ada.getByLabel('What do you need help with?').fill('Our printer will not print');
    await ada.getByLabel(/Where are you/).fill('Room 2');
    await ada.getByRole('button', { name: 'Ask for help' }).click();
    const request = ada.locator('#help-list .request', { hasText: 'Our printer will not print' });
    await request.getByText('Waiting for a helper').waitFor();
    await ada.locator('#help-count', { hasText: '1 open' }).waitFor();

    const queued = organiser.locator('#help-list .request', { hasText: 'Our printer will not print' });
    await queued.getByText('Love Your Space').waitFor();
    await queued.getByRole('button', { name: 'Claim: Our printer will not print' }).click();
    await request.getByText('Organiser is on the way').waitFor();
    await organiser.getByRole('button', { name: 'Resolve: Our printer will not print' }).click();
    await request.waitFor({ state: 'detached' });
    await organiser.locator('#help-closed-list .request', { hasText: 'Our printer' }).getByText(/Resolved/).waitFor({ state: 'attached' });
    await ada.getByRole('button', { name: 'Close' }).click();
  });

  test('teams: created and renamed on the console, joined and skilled on a phone, archived', { timeout: 40000 }, async () => {
    await organiser.getByText('Add a team').click();
    await organiser.getByLabel('Name', { exact: true }).fill('Wales network');
    await organiser.getByLabel('Skills it needs').fill('Welsh, Facilitation');
    await organiser.getByRole('button', { name: 'Add the team' }).click();
    await organiser.getByRole('button', { name: 'Rename or change Wales network' }).click();
    await organiser.getByLabel('Team name').fill('Co-production Wales');
    await organiser.locator('#roster-body .team-form').getByRole('button', { name: 'Save' }).click();

    await openSection(ada, 'Teams');
    const card = ada.locator('#team-list .team-card', { hasText: 'Co-production Wales' });
    await card.getByText('Missing: Welsh, Facilitation').waitFor();
    await card.getByRole('button', { name: 'Switch to Co-production Wales' }).click();
    // Its text, whether or not the line shows (it hides while a section is scrolled down).
    await ada.locator('#who', { hasText: 'Co-production Wales' }).waitFor({ state: 'attached' });
    await card.getByText('your team').waitFor();
    await ada.getByLabel('Change your skills').fill('Photography, Welsh');
    await ada.locator('#skills-form').getByRole('button', { name: 'Save' }).click();
    await card.getByText('Missing: Facilitation').waitFor();
    await organiser.locator('#roster-body .team', { hasText: 'Co-production Wales' }).getByText('Ada').waitFor();

    organiser.once('dialog', (dialog) => dialog.accept());
    await organiser.getByRole('button', { name: 'Archive Co-production Wales' }).click();
    await ada.locator('#who', { hasText: 'no team yet' }).waitFor({ state: 'attached' });
    await ada.getByRole('button', { name: 'Join Love Your Space' }).click();
    await ada.locator('#who', { hasText: 'Love Your Space' }).waitFor({ state: 'attached' });
  });

  test('the schedule: a phase added and edited on the console shows on the phone', { timeout: 30000 }, async () => {
    await organiser.getByText('Add a phase').click();
    // Both ends from the server's clock, so that a run near midnight still gives an end after the start.
    const [start, end] = await organiser.evaluate(() => {
      const pad = (n) => String(n).padStart(2, '0');
      const local = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
      const now = window.makeroom.serverNow();
      return [local(new Date(now + 30 * 60000)), local(new Date(now + 90 * 60000))];
    });
    await organiser.locator('#phase-title').fill('Stand-up');
    await organiser.locator('#phase-start').fill(start);
    await organiser.locator('#phase-end').fill(end);
    await organiser.getByRole('button', { name: 'Add the phase' }).click();
    await openSection(ada, 'Schedule');
    await ada.locator('#phase-list .phase.next', { hasText: 'Stand-up' }).waitFor();
    await ada.locator('#phase-list .phase.now', { hasText: 'Making' }).waitFor();
    await organiser.getByRole('button', { name: 'Edit Stand-up' }).click();
    await organiser.locator('.phase-form input').first().fill('Team stand-up');
    await organiser.locator('.phase-form').getByRole('button', { name: 'Save' }).click();
    await ada.locator('#phase-list .phase', { hasText: 'Team stand-up' }).waitFor();
  });

  test('the event\'s name and dates are changed on the console, and the phones follow', { timeout: 30000 }, async () => {
    const form = organiser.locator('#event-form');
    await form.getByLabel('Event name').waitFor();
    assert.equal(await form.getByLabel('Event name').inputValue(), server.eventName);
    // An end before the start is caught on the page, with nothing sent.
    await form.getByLabel('Starts').fill('2026-06-13T09:30');
    await form.getByLabel('Ends').fill('2026-06-12T17:00');
    await form.getByRole('button', { name: 'Save the event' }).click();
    await organiser.locator('#event-message', { hasText: 'must end after it starts' }).waitFor();

    await form.getByLabel('Event name').fill('Made in Lambeth: summer weekend');
    await form.getByLabel('Ends').fill('2026-06-14T17:00');
    await form.getByRole('button', { name: 'Save the event' }).click();
    await ada.locator('#event-name', { hasText: 'Made in Lambeth: summer weekend' }).waitFor();
    await organiser.locator('#event-name', { hasText: 'Made in Lambeth: summer weekend' }).waitFor();
    assert.equal(await organiser.locator('#event-message').textContent(), '');
    const event = await organiser.evaluate(() => window.makeroom.history('roster', { limit: 500 }).then((r) => r.publications.filter((p) => p.data.type === 'event_updated').pop().data.details));
    assert.equal(event.name, 'Made in Lambeth: summer weekend');
    assert.equal(event.starts_at, new Date(2026, 5, 13, 9, 30).getTime());
    assert.equal(event.ends_at, new Date(2026, 5, 14, 17, 0).getTime());
    // A time once set can be moved, not cleared: the form says so.
    await form.getByLabel('Starts').fill('');
    await form.getByRole('button', { name: 'Save the event' }).click();
    await organiser.locator('#event-message', { hasText: 'can be moved, not cleared' }).waitFor();
    await form.getByLabel('Starts').fill('2026-06-13T09:30');
  });

  test('the show and tell: order, start, pause, extend, with the live remaining time', { timeout: 30000 }, async () => {
    const order = () => organiser.locator('#order-list .order-name').allTextContents();
    const before = await order();
    await organiser.getByRole('button', { name: `Move ${before[0].replace(/^\d+\. /, '')} later` }).click();
    await organiser.waitForFunction((first) => document.querySelector('#order-list .order-name').textContent !== first, before[0]);
    const now = await order();
    assert.deepEqual([now[0], now[1]], [before[1], before[0]]);

    await organiser.getByRole('button', { name: 'Start the first team' }).click();
    await organiser.locator('#show-who', { hasText: `Presenting: ${now[0]}` }).waitFor();
    await organiser.locator('#show-time', { hasText: /^[45]:\d\d left$/ }).waitFor();
    await organiser.getByRole('button', { name: 'Pause' }).click();
    await organiser.locator('#show-time', { hasText: 'paused' }).waitFor();
    await organiser.getByRole('button', { name: '+1 minute' }).click();
    await organiser.locator('#show-time', { hasText: /^[56]:\d\d left · paused$/ }).waitFor();
    await organiser.getByRole('button', { name: 'Resume' }).click();
    await openSection(ada, 'Schedule');
    await ada.locator('#show-now', { hasText: `${now[0]} is presenting` }).waitFor();
    organiser.once('dialog', (dialog) => dialog.accept());
    await organiser.getByRole('button', { name: 'End the show' }).click();
    await organiser.locator('#show-who', { hasText: 'The show is over' }).waitFor();
  });

  test('export downloads, the QR code of the join link, and removing someone', { timeout: 30000 }, async () => {
    const qr = organiser.locator('#join-qr');
    assert.match(await qr.getAttribute('alt'), new RegExp(`/join\\?code=${server.joinCode}$`));
    assert.equal(await qr.getAttribute('src'), `/api/join/${server.joinCode}/qr.svg`);

    for (const [format, check] of [
      ['JSON', (text) => assert.equal(JSON.parse(text).format, 'makeroom-export/1')],
      ['Markdown', (text) => assert.match(text, /Love Your Space/)],
    ]) {
      const [download] = await Promise.all([organiser.waitForEvent('download'), organiser.getByRole('button', { name: `Download ${format}` }).click()]);
      assert.match(download.suggestedFilename(), /^makeroom-e_[a-z0-9]+\.(json|md)$/);
      check(readFileSync(await download.path(), 'utf8'));
    }

    organiser.once('dialog', (dialog) => dialog.accept());
    await organiser.getByRole('button', { name: 'Remove Ada from the event' }).click();
    await ada.getByRole('heading', { name: 'You have left this event' }).waitFor();
    await organiser.locator('#roster-body li', { hasText: 'Ada' }).waitFor({ state: 'detached' });
  });

  test('closing joining, and a new join code that leaves the old one finding nothing', { timeout: 30000 }, async () => {
    await organiser.locator('#joining-state', { hasText: 'Joining is open' }).waitFor();
    await organiser.getByRole('button', { name: 'Close joining' }).click();
    await organiser.locator('#joining-state', { hasText: 'Joining is closed' }).waitFor();
    const phone = await (await newContext(browser, PHONE)).newPage();
    await phone.goto(`${server.url}/join?code=${server.joinCode}`);
    await phone.getByText('Joining this event is closed for now. Ask an organiser to open it again.').waitFor();

    const oldCode = server.joinCode;
    organiser.once('dialog', (dialog) => dialog.accept());
    await organiser.getByRole('button', { name: 'New join code' }).click();
    await organiser.locator('#join-code', { hasNotText: oldCode }).waitFor();
    const newCode = (await organiser.locator('#join-code').textContent()).trim();
    assert.match(newCode, /^[A-Z2-9]{6}$/);
    assert.match(await organiser.locator('#join-qr').getAttribute('alt'), new RegExp(`/join\\?code=${newCode}$`));
    await organiser.getByRole('button', { name: 'Open joining' }).click();
    await organiser.locator('#joining-state', { hasText: 'Joining is open' }).waitFor();
    await phone.goto(`${server.url}/join?code=${oldCode}`);
    await phone.getByText(`No event has the join code "${oldCode}".`).waitFor();
    await phone.goto(`${server.url}/join?code=${newCode}`);
    await phone.getByRole('button', { name: 'Join the event' }).waitFor();
  });
});

test('no page had a script error', () => {
  assert.deepEqual(pageErrors, []);
});
