// The course's explorers as a learner meets them: each notebook opened in JupyterLab in headless
// Chromium, Run All, then every explorer must have rendered (its figure loaded, no "Error
// displaying widget"), and moving its first slider must change its figure. Screenshots go to SHOTS.
// Started by run.sh, which starts and stops JupyterLab; usage: node explorers.mjs NB.ipynb ...
// Environment: LAB_URL (http://127.0.0.1:PORT), LAB_TOKEN, LAB_ROOT (the folder it serves), SHOTS.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const { LAB_URL, LAB_TOKEN, LAB_ROOT, SHOTS } = process.env;
const WIDGET_VIEW = 'application/vnd.jupyter.widget-view+json';
const STEP_TIMEOUT_MS = 30_000;

function expectedExplorers(notebook) {
  // Every widget output stored by `make notebooks` is an explorer the browser must show again.
  const cells = JSON.parse(readFileSync(join(LAB_ROOT, notebook), 'utf8')).cells;
  return cells.flatMap((cell) => cell.outputs ?? []).filter((output) => WIDGET_VIEW in (output.data ?? {})).length;
}

async function runAll(page, notebook) {
  await page.goto(`${LAB_URL}/lab/tree/${notebook}?token=${LAB_TOKEN}`);
  // exposeAppInBrowser (run.sh) gives window.jupyterapp: wait for this notebook's kernel to be idle.
  await page.waitForFunction((name) => {
    const panel = window.jupyterapp?.shell.currentWidget;
    const kernel = panel?.sessionContext?.session?.kernel;
    return panel?.context?.path === name && kernel?.status === 'idle';
  }, notebook, { timeout: 60_000 });
  // The command resolves once every cell has run, or stops at the first cell that raised.
  await page.evaluate(() => window.jupyterapp.commands.execute('notebook:run-all-cells'));
  return page.evaluate(() => window.jupyterapp.shell.currentWidget.content.widgets
    .filter((cell) => cell.model.type === 'code' && cell.model.executionCount === null).length);
}

async function imageSource(explorer) {
  const image = explorer.locator('img').first();
  await image.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
  await explorer.page().waitForFunction((img) => img.complete && img.naturalWidth > 0, await image.elementHandle(),
    { timeout: STEP_TIMEOUT_MS });
  return image.getAttribute('src');
}

async function checkNotebook(browser, notebook) {
  const stem = notebook.replace(/\.ipynb$/, '');
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  try {
    const unrun = await runAll(page, notebook);
    if (unrun) problems.push(`${unrun} code cell(s) did not run`);
    const stderr = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
    if (await stderr.count()) {
      problems.push(`output on stderr (an error or a warning): ${(await stderr.first().innerText()).slice(0, 300)}`);
    }
    const broken = await page.getByText('Error displaying widget').count();
    if (broken) problems.push(`"Error displaying widget" ${broken} time(s)`);
    const explorers = page.locator('.course-lstm-explorer');
    const expected = expectedExplorers(notebook);
    const found = await explorers.count();
    if (found !== expected) problems.push(`expected ${expected} explorer(s), found ${found}`);
    for (let k = 0; k < found; k += 1) {
      const explorer = explorers.nth(k);
      await explorer.scrollIntoViewIfNeeded();
      const before = await imageSource(explorer);
      await explorer.screenshot({ path: join(SHOTS, `${stem}-explorer${k + 1}-before.png`) });
      const slider = explorer.locator('.noUi-handle').first();
      const label = (await explorer.locator('.widget-slider .widget-label').first().textContent()).trim();
      const value = async () => (await explorer.locator('.widget-slider .widget-readout').first().textContent()).trim();
      const from = await value();
      await slider.focus();
      await page.keyboard.press('ArrowRight');
      try {
        await page.waitForFunction(([img, old]) => img.getAttribute('src') !== old && img.complete && img.naturalWidth > 0,
          [await explorer.locator('img').first().elementHandle(), before], { timeout: STEP_TIMEOUT_MS });
      } catch {
        problems.push(`explorer ${k + 1}: moving "${label}" from ${from} did not change its figure`);
        continue;
      }
      await explorer.screenshot({ path: join(SHOTS, `${stem}-explorer${k + 1}-after.png`) });
      const pictures = [`${stem}-explorer${k + 1}-before.png`, `${stem}-explorer${k + 1}-after.png`];
      const [a, b] = pictures.map((name) => readFileSync(join(SHOTS, name)));
      if (a.equals(b)) problems.push(`explorer ${k + 1}: the screenshots before and after "${label}" moved are identical`);
      console.log(`${notebook}: explorer ${k + 1} rendered; "${label}" ${from} -> ${await value()} changed its figure`);
    }
    await explorers.first().scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(SHOTS, `${stem}-lab.png`) });
  } catch (error) {
    problems.push(String(error.message ?? error).split('\n')[0]);
  } finally {
    if (problems.length) await page.screenshot({ path: join(SHOTS, `${stem}-FAILED.png`) }).catch(() => {});
    await page.close();
  }
  return problems.map((problem) => `${notebook}: ${problem}`);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium', // Debian's package, never a downloaded browser
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
});
let problems = [];
try {
  for (const notebook of process.argv.slice(2)) problems = problems.concat(await checkNotebook(browser, notebook));
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(`FAILED:\n  ${problems.join('\n  ')}\nscreenshots in ${SHOTS}`);
  process.exit(1);
}
console.log(`every explorer rendered and followed its slider; screenshots in ${SHOTS}`);
