// Screenshots of every page, to look at them: node tests/screenshots.mjs [folder]
// (default: docs/screenshots/ in the repository). Starts its own server on a free port with a temporary
// data folder, joins two people, chats, posts announcements, and photographs each page at phone size
// (390x844) and the display at 1920x1080. Talks only to 127.0.0.1.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { PHONE, PROJECTOR, joinAs, launchBrowser, newContext, repoDir, startServer, waitOnline, withCode } from './harness.mjs';

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
  console.error('screenshots: gave up after 120 s');
  process.exit(1);
}, 120000);
try {
  const team = 'Healthwatch Lambeth';

  // The join page, as a newcomer sees it.
  const newcomer = await (await newContext(browser, PHONE)).newPage();
  await newcomer.goto(`${server.url}/join?code=${server.joinCode}`);
  await newcomer.getByLabel('Your name').waitFor();
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
  const organiserContext = await newContext(browser, PHONE);
  const organiser = await organiserContext.newPage();
  await organiser.goto(withCode(server.organiser, server.joinCode));
  await waitOnline(organiser);
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
  await shot(organiser, 'organiser', { fullPage: true });

  // The rooms.
  await ada.locator('.announcement', { hasText: 'Lunch is served' }).waitFor();
  await shot(ada, 'room-team');
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

  // Coming back to the join page offers to continue.
  await ada.goto(`${server.url}/join?code=${server.joinCode}`);
  await ada.getByRole('link', { name: /Continue as Ada/ }).waitFor();
  await shot(ada, 'join-continue');

  // The display on a projector.
  const display = await (await newContext(browser, PROJECTOR)).newPage();
  await display.goto(withCode(server.display, server.joinCode));
  await waitOnline(display);
  await display.locator('.announcement', { hasText: 'Lunch is served' }).waitFor();
  await display.mouse.move(5, 5);
  await display.waitForTimeout(3300); // the pointer and the full-screen button hide when idle
  await shot(display, 'display');
} finally {
  clearTimeout(watchdog);
  await browser.close();
  await server.stop();
}
