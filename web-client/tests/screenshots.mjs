// Screenshots of every page, to look at them: node tests/screenshots.mjs [folder]
// (default: docs/screenshots/ in the repository). Starts its own server on a free port with a temporary
// data folder, joins three people, chats, posts announcements, moves cards, asks for help, starts the
// show and tell, records what a team made with a photo, downloads the export bundle, and photographs
// each page: the phones at 390x844 (and a small one at 360x640, with
// normal and 200 % text), the room reloaded with no network, the organiser's console on a 1366x900
// laptop (whole page) and the display at 1920x1080. Talks only to 127.0.0.1.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PHONE, PROJECTOR, command, joinAs, launchBrowser, newContext, openOrganiser, openSection, repoDir, startServer, waitForAsync, waitOnline, webDir, withCode } from './harness.mjs';
import { shootWelshMade } from './screenshots-made-cy.mjs';

const out = path.resolve(process.argv[2] || path.join(repoDir, 'docs/screenshots'));
mkdirSync(out, { recursive: true });
const shot = async (page, name, options = {}) => {
  const file = path.join(out, `${name}.png`);
  await page.screenshot({ path: file, ...options });
  console.log(file);
};

const server = await startServer();
const browser = await launchBrowser();
const watchdog = setTimeout(() => {
  console.error('screenshots: gave up after 360 s');
  process.exit(1);
}, 360000);
try {
  const team = 'Healthwatch Lambeth';

  // The join page, as a newcomer sees it.
  const newcomer = await (await newContext(browser, PHONE)).newPage();
  await newcomer.goto(`${server.url}/join?code=${server.joinCode}`);
  await newcomer.getByLabel('Your name').fill('Priya');
  await newcomer.getByLabel('Your skills').fill('designer, user research');
  await newcomer.locator('.team-choice .match:not([hidden])').first().waitFor();
  await shot(newcomer, 'join', { fullPage: true });
  await newcomer.goto(`${server.url}/`);
  await shot(newcomer, 'index');

  const ada = await (await newContext(browser, PHONE)).newPage();
  await joinAs(ada, server, { name: 'Ada', skills: 'Design, Rust', team });
  const grace = await (await newContext(browser, PHONE)).newPage();
  await joinAs(grace, server, { name: 'Grace', skills: 'Research, writing', team });
  const sam = await (await newContext(browser, PHONE)).newPage();
  await joinAs(sam, server, { name: 'Sam', skills: 'Video' });

  const send = async (page, text) => {
    await page.getByPlaceholder(/^Message/).fill(text);
    await page.getByRole('button', { name: 'Send' }).click();
    await page.locator('.msg:not(.pending)', { hasText: text }).first().waitFor();
  };
  await send(grace, 'Morning! I pushed the survey draft to the shared drive.');
  await send(ada, 'Great, I will review it after the briefing.');
  await send(grace, 'Can someone grab the HDMI cable from the front desk?');
  await sam.getByRole('tab', { name: /Lobby/ }).click();
  await send(sam, 'Is anyone working on video? Happy to help any team.');

  // The organiser announces; one normal, one urgent.
  const organiser = await openOrganiser(browser, server);
  const announce = async (text, urgent) => {
    await organiser.getByLabel('Announcement', { exact: true }).fill(text);
    await organiser.getByLabel(urgent ? /Urgent/ : /Normal/).check();
    await organiser.getByRole('button', { name: 'Post announcement' }).click();
    await organiser.locator('#announcement-list li', { hasText: text }).waitFor();
  };
  await announce('Welcome! Briefings start at 10:00 in the main hall.', false);
  await announce('Lunch is served in the main hall now.', true);
  await organiser.getByRole('button', { name: 'Create a display link' }).click();
  await organiser.locator('#display-result').waitFor();
  await organiser.locator('#roster-body li', { hasText: 'Grace' }).waitFor();

  // The rooms.
  await ada.locator('.announcement', { hasText: 'Lunch is served' }).waitFor();
  await shot(ada, 'room-team');

  // A small phone (360x640), with the announcements read: one line each, the chat keeps the screen.
  const small = { viewport: { width: 360, height: 640 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
  const readAll = async (page) => {
    for (let i = 0; i < 10 && (await page.locator('#announcements .ack').count()); i++) await page.locator('#announcements .ack').first().click();
    const less = page.locator('#announcements .announcement.unread').getByRole('button', { name: 'Show less', exact: true });
    for (let i = 0; i < 10 && (await less.count()); i++) await less.first().click();
    await page.waitForFunction(() => window.makeroom.outbox.length === 0);
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
  };
  const priya = await (await newContext(browser, small)).newPage();
  await joinAs(priya, server, { name: 'Priya', skills: 'Service design', team });
  await priya.locator('.msg', { hasText: 'HDMI cable' }).waitFor();
  await send(priya, 'Hi all, I can help with the journey map.');
  await send(ada, 'Welcome Priya! Grab a chair by the window.');
  await priya.locator('.msg', { hasText: 'Welcome Priya' }).waitFor();
  await readAll(priya);
  await shot(priya, 'room-small');
  // A 390x844 phone at 200 % text: the tabs scroll sideways, nothing runs into anything.
  const large = await (await newContext(browser, PHONE)).newPage();
  const cdp = await large.context().newCDPSession(large);
  await cdp.send('Page.setFontSizes', { fontSizes: { standard: 32 } });
  await joinAs(large, server, { name: 'Lee', team });
  await large.locator('.msg', { hasText: 'Welcome Priya' }).waitFor();
  await readAll(large);
  await shot(large, 'room-large-text');
  await ada.getByRole('tab', { name: /Lobby/ }).click();
  await shot(ada, 'room-lobby');
  await ada.getByRole('tab', { name: /Healthwatch/ }).click();

  // Offline: a message waits as "Sending…".
  await ada.context().setOffline(true);
  await ada.evaluate(() => window.makeroom.check());
  await ada.waitForFunction(() => window.makeroom.status !== 'online', null, { timeout: 10000 });
  await ada.getByPlaceholder(/^Message/).fill('Back in five, the wifi here is patchy.');
  await ada.getByRole('button', { name: 'Send' }).click();
  await ada.locator('.msg.pending').waitFor();
  await shot(ada, 'room-offline');
  await ada.context().setOffline(false);
  await waitOnline(ada, 20000);
  await ada.locator('.msg:not(.pending)', { hasText: 'Back in five' }).waitFor();
  await shot(ada, 'room-back');

  // Reloaded with no network: the room as the phone last saw it, the banner, and a message waiting.
  await grace.waitForFunction(() => Boolean(navigator.serviceWorker.controller), null, { timeout: 15000 });
  await grace.evaluate(() => window.makeroomSaved.save());
  await waitForAsync(grace, () => window.makeroomSaved.load().then((saved) => Boolean(saved && saved.chats)));
  await grace.context().setOffline(true);
  await grace.reload();
  await grace.locator('#status', { hasText: 'Showing what this phone last saw' }).waitFor({ timeout: 15000 });
  await grace.getByPlaceholder(/^Message/).fill('On the train, will be there at 10.');
  await grace.getByRole('button', { name: 'Send' }).click();
  await grace.locator('.msg.pending').waitFor();
  await shot(grace, 'room-offline-reload');
  await grace.context().setOffline(false);
  await waitOnline(grace, 20000);

  // Coming back to the join page offers to continue.
  await ada.goto(`${server.url}/join?code=${server.joinCode}`);
  await ada.getByRole('link', { name: /Continue as Ada/ }).waitFor();
  await shot(ada, 'join-continue');

  // The display on a projector, counting down to the next phase.
  const display = await (await newContext(browser, PROJECTOR)).newPage();
  await display.goto(withCode(server.display, server.joinCode));
  await waitOnline(display);
  await display.locator('.announcement', { hasText: 'Lunch is served' }).waitFor();
  await display.locator('#hero[data-mode="phase"]').waitFor();
  await display.mouse.move(5, 5);
  await display.waitForTimeout(3300); // the pointer and the full-screen button hide when idle
  await shot(display, 'display');

  // The room's other sections: the board (a card's actions open, one card moved), the brief with its
  // history, the teams, the schedule; and the help sheet.
  await ada.goto(`${server.url}/room`);
  await waitOnline(ada);
  await openSection(ada, 'Board');
  const card = 'List who is never heard in consultations';
  await ada.getByRole('button', { name: new RegExp(`^${card}`) }).click();
  await ada.getByRole('button', { name: `Move to Doing: ${card}` }).click();
  await ada.locator('#board .board-column[data-column="doing"] .card:not(.pending)', { hasText: card }).waitFor();
  await grace.getByRole('tab', { name: 'Board', exact: true }).click();
  await grace.getByLabel('New card').fill('Book a room at the library for Tuesday');
  await grace.getByRole('button', { name: 'Add card' }).click();
  await ada.locator('#board .card', { hasText: 'Book a room' }).waitFor();
  await shot(ada, 'room-board');
  // Further down: a column's tools open (rename, move, delete) and "Add a column".
  await ada.getByRole('button', { name: 'Change the column Done' }).click();
  await ada.evaluate(() => document.querySelector('#view-board').scrollTo(0, 10000));
  await shot(ada, 'room-board-more');
  await ada.getByRole('button', { name: 'Change the column Done' }).click();
  await openSection(ada, 'Brief');
  await ada.getByRole('button', { name: 'Make our working version' }).click();
  await ada.getByRole('button', { name: 'Edit our working version' }).click();
  await ada.locator('.brief-editor').getByLabel('Text', { exact: true }).fill(
    "## Our angle\n\nStart with the people consultations **never** reach:\n\n- carers at home\n- people who don't speak English at home\n- young people leaving care\n\n## What we'll show on Sunday\n\nA storyboard and one page of the cabinet paper.",
  );
  await ada.locator('.brief-editor').getByRole('button', { name: 'Save' }).click();
  await ada.locator('#brief .meta', { hasText: 'Revision 2' }).waitFor();
  await ada.getByText(/Revision history/).click();
  await ada.evaluate(() => document.querySelector('#view-brief').scrollTo(0, 0));
  await shot(ada, 'room-brief');
  await openSection(ada, 'Teams');
  await ada.locator('#team-list .team-card').first().waitFor();
  await shot(ada, 'room-teams');
  await command(organiser, 'presentations', { type: 'presentations.start', index: 1 });
  await openSection(ada, 'Schedule');
  await ada.locator('#show-now:not([hidden])').waitFor();
  await shot(ada, 'room-schedule');
  // The presenting team's phone at the wrap-up mark, on the Chat section: the bar warns.
  await command(organiser, 'presentations', { type: 'presentations.slot', slot_ms: 300000, warning_ms: 299000 });
  await openSection(ada, 'Chat');
  await ada.locator('#presenting.warn').waitFor();
  await shot(ada, 'room-presenting');
  await command(organiser, 'presentations', { type: 'presentations.slot', slot_ms: 300000, warning_ms: 60000 });
  await ada.getByRole('button', { name: /^Help/ }).click();
  await ada.getByLabel('What do you need help with?').fill('Someone who knows the council\'s complaints process');
  await ada.getByLabel(/Where are you/).fill('Room 2, by the window');
  await ada.getByRole('button', { name: 'Ask for help' }).click();
  await ada.locator('#help-list .request').waitFor();
  await shot(ada, 'room-help');
  await ada.getByRole('button', { name: 'Close', exact: true }).click();

  // What the team made: recorded on a phone with a photo of its post-it wall, seen on a small phone.
  await openSection(ada, 'Made');
  await ada.getByLabel('What did you make?').fill('A post-it wall of what residents told us');
  await ada.getByLabel('Describe it').fill('Forty residents on what Healthwatch should ask first, grouped by theme.');
  const chooser = ada.waitForEvent('filechooser');
  await ada.getByRole('button', { name: 'Add photos' }).click();
  await (await chooser).setFiles(path.join(webDir, 'tests/fixtures/post-it-wall.jpg'));
  await ada.locator('#made-photo-list .photo img').evaluate((img) => img.decode());
  await ada.getByLabel('Who carries it on?').fill('Healthwatch Lambeth\nLambeth Council, Adult Social Care');
  await ada.getByLabel('What happens next?').fill('The co-production section goes to cabinet in September.');
  await ada.getByRole('button', { name: 'Save', exact: true }).click();
  await ada.locator('#made-status', { hasText: /Saved .* by Ada\./ }).waitFor();
  await ada.evaluate(() => document.querySelector('#view-made').scrollTo(0, 0));
  await shot(ada, 'room-made');
  await openSection(priya, 'Made');
  await priya.locator('#made-status', { hasText: /Saved .* by Ada\./ }).waitFor();
  await priya.locator('#made-photo-list .photo img').evaluate((img) => img.decode());
  await priya.evaluate(() => document.querySelector('#view-made').scrollTo(0, 120));
  await shot(priya, 'room-made-small');

  // The console's Outputs, one team's open to edit.
  await organiser.getByRole('link', { name: 'Outputs' }).click();
  const outputItem = organiser.locator('#output-list li', { hasText: team });
  await outputItem.locator('.output-photos img').evaluate((img) => img.decode());
  await outputItem.getByRole('button', { name: `Edit what ${team} made` }).click();
  await organiser.locator('#outputs').evaluate((section) => section.scrollIntoView());
  await shot(organiser, 'organiser-outputs');
  await outputItem.getByRole('button', { name: 'Close the form' }).click();

  // The export bundle, unzipped and opened with no server.
  await organiser.getByRole('link', { name: 'Export' }).click();
  const download = organiser.waitForEvent('download');
  await organiser.getByRole('button', { name: 'Download everything with photos (.zip)' }).click();
  const unpacked = mkdtempSync(path.join(tmpdir(), 'makeroom-export-'));
  await (await download).saveAs(path.join(unpacked, 'export.zip'));
  execFileSync('unzip', ['-q', path.join(unpacked, 'export.zip'), '-d', unpacked]);
  const reader = await (await browser.newContext({ viewport: { width: 1024, height: 900 } })).newPage();
  await reader.goto(`file://${path.join(unpacked, 'export.html')}`);
  await reader.getByRole('heading', { name: /What it made: A post-it wall/ }).evaluate((heading) => heading.scrollIntoView());
  await reader.locator('.photos img').first().evaluate((img) => ((img.loading = 'eager'), img.decode()));
  await shot(reader, 'export');
  await reader.goto(`file://${path.join(unpacked, 'export.html')}`);
  await shot(reader, 'export-top');
  await reader.context().close();
  rmSync(unpacked, { recursive: true, force: true });
  await organiser.goto(withCode(server.organiser, server.joinCode));
  await waitOnline(organiser);

  // The console mid-show: a team presenting, a help request, the QR code.
  await organiser.locator('#help-list .request').waitFor();
  await organiser.locator('#show-time', { hasText: 'left' }).waitFor();
  await organiser.evaluate(() => {
    document.activeElement.blur();
    window.scrollTo(0, 0);
  });
  await shot(organiser, 'organiser', { fullPage: true });

  // The display while a team presents.
  await display.locator('#hero[data-mode="presenting"]').waitFor();
  await display.mouse.move(5, 5);
  await display.waitForTimeout(3300);
  await shot(display, 'display-presenting');
  await display.locator('#hero-output-photo').evaluate((img) => img.decode());
  await shot(display, 'display-output');

  // In Welsh: the demo started in Welsh (`--demo-language cy`, a Co-production Wales network day), on
  // phones and a projector whose browsers speak Welsh; the organisers post in both languages.
  const welsh = await startServer({ extraArgs: ['--demo-language', 'cy'] });
  try {
    const WELSH = { locale: 'cy-GB', extraHTTPHeaders: { 'Accept-Language': 'cy-GB,cy;q=0.9' } };
    const welshTeam = 'Caffis Trwsio';
    const joinInWelsh = async (page, name) => {
      await page.goto(`${welsh.url}/join?code=${welsh.joinCode}`);
      await page.locator('#name').fill(name);
      await page.getByLabel(welshTeam).check();
      await page.locator('#join-button').click();
      await page.waitForURL(/\/room\?event=/);
      await waitOnline(page);
    };
    const sendInWelsh = async (page, text) => {
      await page.locator('#message-input').fill(text);
      await page.locator('#composer button[type="submit"]').click();
      await page.locator('.msg:not(.pending)', { hasText: text }).first().waitFor();
    };
    const cerysJoins = await (await newContext(browser, { ...PHONE, ...WELSH })).newPage();
    await cerysJoins.goto(`${welsh.url}/join?code=${welsh.joinCode}`);
    await cerysJoins.locator('#name').fill('Cerys');
    await cerysJoins.locator('#skills').fill('trwsio, Cymraeg');
    await cerysJoins.locator('.team-choice .match:not([hidden])').first().waitFor();
    await shot(cerysJoins, 'join-cy', { fullPage: true });
    const cerys = cerysJoins;
    await joinInWelsh(cerys, 'Cerys');
    const dafydd = await (await newContext(browser, { ...PHONE, ...WELSH })).newPage();
    await joinInWelsh(dafydd, 'Dafydd');
    await sendInWelsh(dafydd, "Bore da! Mae'r neuadd yng Nghas-gwent ar gael ddydd Sadwrn.");
    await sendInWelsh(cerys, "Gwych. Fe wna i'r poster dwyieithog.");
    await sendInWelsh(dafydd, 'Oes rhywun wedi gweld y tâp mesur?');
    const trefnydd = await (await newContext(browser, { viewport: { width: 1366, height: 900 }, ...WELSH })).newPage();
    await trefnydd.goto(withCode(welsh.organiser, welsh.joinCode));
    await waitOnline(trefnydd);
    await trefnydd.locator('#announcement-text-cy').fill("Mae cinio yn y neuadd am 1pm. Dewch â'ch cwpan eich hun!");
    await trefnydd.locator('#announcement-text').fill('Lunch is in the hall at 1pm. Bring your own cup!');
    await trefnydd.locator('#announce-form button[type="submit"]').click();
    await trefnydd.locator('#announcement-list li', { hasText: 'Lunch is in the hall' }).waitFor();
    await cerys.locator('.announcement', { hasText: 'Mae cinio yn y neuadd' }).waitFor();
    await shot(cerys, 'room-cy');
    const elin = await (await newContext(browser, { ...small, ...WELSH })).newPage();
    await joinInWelsh(elin, 'Elin');
    await sendInWelsh(elin, "Helo! Dw i'n gallu helpu gyda'r poster.");
    await elin.locator('.msg', { hasText: 'tâp mesur' }).waitFor();
    const lessInWelsh = elin.locator('#announcements .announcement.unread .more', { hasText: 'Dangos llai' });
    for (let i = 0; i < 10 && (await lessInWelsh.count()); i++) await lessInWelsh.first().click();
    await elin.evaluate(() => document.activeElement && document.activeElement.blur());
    await shot(elin, 'room-cy-small');
    const taflunydd = await (await newContext(browser, { ...PROJECTOR, ...WELSH })).newPage();
    await taflunydd.goto(withCode(welsh.display, welsh.joinCode));
    await waitOnline(taflunydd);
    await taflunydd.locator('#event-name .second-language').waitFor();
    await taflunydd.locator('.announcement', { hasText: 'Mae cinio yn y neuadd' }).waitFor();
    await taflunydd.locator('#hero[data-mode="phase"]').waitFor();
    await taflunydd.mouse.move(5, 5);
    await taflunydd.waitForTimeout(3300);
    await shot(taflunydd, 'display-cy');
  } finally {
    await welsh.stop();
  }
  // The Made section in Welsh (its own script, which also runs alone).
  await shootWelshMade(browser, shot);
} finally {
  clearTimeout(watchdog);
  await browser.close();
  await server.stop();
}
