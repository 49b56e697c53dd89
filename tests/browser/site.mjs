// The built course site (tools/build_course.py) as a reader opens it with no network: a page from
// file://, every request that is not a file of the site refused, and its equations must be typeset
// by the site's own MathJax: every TeX script rendered, none an error, a web font of MathJax loaded,
// and a TeX string of the page no longer on it as text. The screenshot goes to SHOTS.
// Started by run.sh, which builds the site; usage: node site.mjs PAGE.html TEX
// Environment: SHOTS (the screenshots' folder).

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const { SHOTS } = process.env;
const [pagePath, tex] = process.argv.slice(2);
const TYPESET_TIMEOUT_MS = 60_000;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium', // Debian's package, never a downloaded browser
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
});
const problems = [];
try {
  const context = await browser.newContext({ offline: true, viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('request', (request) => {
    if (!/^(file|data|about):/.test(request.url())) problems.push(`asked the network for ${request.url()}`);
  });
  page.on('requestfailed', (request) => {
    // about:blank is MathJax's own probe of web-font support, never fetched.
    if (request.url().startsWith('file:')) problems.push(`missing from the site: ${request.url()}`);
  });
  await page.goto(pathToFileURL(pagePath).href);
  if (!(await page.evaluate(() => Boolean(window.MathJax)))) throw new Error('MathJax did not load');
  await page.waitForFunction(() => window.MathJax?.isReady, null, { timeout: TYPESET_TIMEOUT_MS });
  // Queue runs after the typesetting queued at startup: every equation is done then.
  await page.evaluate(() => new Promise((resolve) => window.MathJax.Hub.Queue(resolve)));
  const found = await page.evaluate((raw) => {
    const scripts = [...document.querySelectorAll('script[type^="math/tex"]')];
    const output = window.MathJax.Hub.outputJax['jax/mml']?.[0];
    return {
      version: window.MathJax.version,
      scripts: scripts.length,
      typeset: window.MathJax.Hub.getAllJax().length,
      // MathJax 2: HTML-CSS (.MathJax) or CommonHTML (.mjx-chtml) output; MathJax 3: mjx-container
      rendered: document.querySelectorAll('.MathJax, .MathJax_CHTML, .mjx-chtml, mjx-container').length,
      errors: document.querySelectorAll('.MathJax_Error, .merror, .noError').length,
      output: output ? `${output.id}${output.fontInUse ? ` with ${output.fontInUse} fonts` : ''}` : 'none',
      fonts: [...document.fonts].filter((font) => font.status === 'loaded' && /MathJax/.test(font.family)).length,
      texInSource: scripts.some((script) => script.textContent.includes(raw)),
      texAsText: document.body.innerText.includes(raw),
    };
  }, tex);
  if (!found.scripts) problems.push('no equation on the page');
  if (!found.texInSource) problems.push(`${tex} is not an equation of the page: pick another`);
  if (found.typeset !== found.scripts) problems.push(`${found.typeset} of ${found.scripts} equations typeset`);
  if (found.rendered < found.scripts) problems.push(`${found.rendered} rendered equations for ${found.scripts}`);
  if (found.errors) problems.push(`${found.errors} equation(s) rendered as an error`);
  if (!found.fonts) problems.push('no MathJax web font loaded');
  if (found.texAsText) problems.push(`${tex} is still on the page as text`);
  const display = page.locator('.MathJax_Display, .mjx-chtml.MJXc-display, mjx-container[display="true"]').first();
  if (await display.count()) await display.evaluate((element) => element.scrollIntoView({ block: 'center' }));
  await page.screenshot({ path: join(SHOTS, problems.length ? 'site-equation-FAILED.png' : 'site-equation.png') });
  console.log(`site: ${found.typeset} of ${found.scripts} equations typeset offline by MathJax ${found.version}, ` +
    `${found.output}, on ${pagePath}`);
} catch (error) {
  problems.push(String(error.message ?? error).split('\n')[0]);
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(`FAILED:\n  ${problems.join('\n  ')}\nscreenshots in ${SHOTS}`);
  process.exit(1);
}
console.log(`the site's equations typeset with the network closed; screenshot ${join(SHOTS, 'site-equation.png')}`);
