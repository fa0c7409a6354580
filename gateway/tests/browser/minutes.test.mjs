// Metered minutes in the console: a candidate with 12 s of minutes starts an interview, sees
// at once that their minutes are running low (`usage.low`), the interviewer closes when they
// run out, the page says why the interview ended and shows the report; the server billed
// exactly the 12 s.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { browserPerFile, openConsole, screenshot, startInterview, waitFor } from './helpers.mjs';

/** One Chromium for this file's tests. */
const browser = browserPerFile();

test('out of minutes: warned, closed, explained, and billed exactly what was there', async (t) => {
  if (!process.env.VIVA_ADMIN_TOKEN) {
    t.skip('the gateway under test does not meter minutes');
    return;
  }
  const { page, problems } = browser;
  const user = `minutes-${Date.now().toString(36)}`;
  await openConsole(page, user, { minutes: 12 });
  await startInterview(page, { plan: 'senior-backend' });

  // Less than a minute from the start: the warning comes at once.
  const phase = page.getByTestId('session-phase');
  await waitFor(page, () => /running low/.test(document.querySelector('[data-testid="session-phase"]')?.textContent ?? ''));
  assert.match((await phase.textContent()) ?? '', /0:12 left/);
  // The user's minutes, shown beside the clock and counting down.
  const minutes = page.getByTestId('minutes-left');
  await minutes.waitFor();
  const seconds = (/** @type {string} */ text) => Number(text.split(':')[0]) * 60 + Number(text.split(':')[1]);
  const first = seconds((await minutes.textContent()) ?? '');
  assert.ok(first <= 12 && first > 0, `minutes shown: ${first}`);
  await waitFor(page, (was) => {
    const [m, s] = (document.querySelector('[data-testid="minutes-left"]')?.textContent ?? '').split(':').map(Number);
    return m * 60 + s < was;
  }, first);
  await screenshot(page, 'minutes-running-low');

  // At zero the interviewer closes, then the report; the page says why it ended.
  await waitFor(page, () => window.__viva.state()?.status === 'ended');
  await page.getByTestId('report').waitFor();
  const hint = await page.locator('#answer-hint').textContent();
  assert.match(hint ?? '', /minutes ran out/);
  const closing = page.locator('[data-testid="transcript"] article[data-kind="closing"]');
  assert.match((await closing.textContent()) ?? '', /minutes/);
  await screenshot(page, 'minutes-ran-out');

  const usage = await page.evaluate(async () => {
    const token = /** @type {HTMLInputElement} */ (document.getElementById('token-input')).value;
    const response = await fetch('/v1/me/usage', { headers: { Authorization: `Bearer ${token}` } });
    return response.json();
  });
  assert.equal(usage.balance_s, 0);
  assert.equal(usage.held_s, 0);
  const debited = usage.items.filter((i) => i.kind === 'debit').reduce((sum, i) => sum + i.seconds, 0);
  assert.equal(debited, 12, 'the 12 s, no more: the closing turn and the report are free');
  assert.deepEqual(problems, []);
});
