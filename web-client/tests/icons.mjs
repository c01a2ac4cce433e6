// Draws the PNG icons from icon.svg with the test browser: node tests/icons.mjs (npm run icons).
// The manifest lists icon.svg, icon-192.png and icon-512.png; phones that do not take SVG icons
// (iOS, older Android) use the PNGs. Run it again after changing icon.svg.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { launchBrowser, webDir } from './harness.mjs';

const svg = readFileSync(path.join(webDir, 'icon.svg'), 'utf8');
const browser = await launchBrowser();
try {
  for (const size of [192, 512]) {
    const page = await browser.newPage({ viewport: { width: size, height: size }, deviceScaleFactor: 1 });
    await page.setContent(`<style>html,body{margin:0}svg{display:block;width:${size}px;height:${size}px}</style>${svg}`);
    const file = path.join(webDir, `icon-${size}.png`);
    await page.screenshot({ path: file, omitBackground: false });
    console.log(file);
    await page.close();
  }
} finally {
  await browser.close();
}
