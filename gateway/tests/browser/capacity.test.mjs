// A gateway at capacity (`--max-live-sessions 1`, a process of its own started here): the
// interview it runs goes on, and a second candidate who tries to start one is told, in the
// setup form, that the server is full and to try again shortly.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { browserPerFile, openConsole, screenshot, startInterview, waitFor } from './helpers.mjs';

/** One Chromium for this file's tests. */
const browser = browserPerFile();

/**
 * Starts the gateway binary with `args` on a free loopback port; its base URL and a stop.
 * @param {string[]} args
 * @returns {Promise<{base: string, stop: () => void}>}
 */
async function gateway(args) {
  const binary = process.env.VIVA_GATEWAY;
  assert.ok(binary, 'VIVA_GATEWAY names the gateway binary (scripts/browser.sh sets it)');
  const child = spawn(binary, ['--listen', '127.0.0.1:0', '--auth', 'dev', '--store', 'memory', ...args], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const lines = createInterface({ input: child.stdout });
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the gateway did not start within 20 s')), 20000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      const found = /listening on (http:\/\/\S+)/.exec(line);
      if (found) resolve(found[1]);
      else reject(new Error(`unexpected banner: ${line}`));
    });
    child.once('exit', (code) => reject(new Error(`the gateway exited (${code})`)));
  });
  return { base, stop: () => child.kill('SIGTERM') };
}

test('a full server says so to the next candidate and serves its interview unchanged', async (t) => {
  const { page, context } = browser;
  const full = await gateway(['--max-live-sessions', '1', '--scripted-pace-ms', '50']);
  t.after(full.stop);

  await openConsole(page, `cap-a-${Date.now().toString(36)}`, { base: full.base });
  await startInterview(page, { plan: 'senior-backend' });
  await page.locator('[data-testid="transcript"] article[data-kind="intro"]').waitFor();

  const other = await context.newPage();
  await openConsole(other, `cap-b-${Date.now().toString(36)}`, { base: full.base });
  await other.getByTestId('plan-select').selectOption('senior-backend');
  await other.getByTestId('start').click();
  const status = await waitFor(other, () => {
    const text = document.getElementById('setup-status')?.textContent ?? '';
    return /Cannot start/.test(text) ? text : null;
  });
  assert.match(status, /as many interviews as it may; try again shortly/);
  await screenshot(other, 'capacity-refused');
  await other.close();

  // The interview the server runs goes on: its first question comes.
  await page.locator('[data-testid="transcript"] article[data-kind="question"]').waitFor();
});
