// Reconnecting: the socket dropped mid-turn, right after an answer was sent and while the
// interviewer waits; the page reconnects by itself with a fresh ticket and `?last_seq=`, shows
// every turn exactly once and loses no answer. And a newer tab on the same interview replaces
// the page (close 4009), which then stays disconnected; axe-core checks it there.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  browserPerFile,
  CODING_ANSWERS,
  answerUntilTheEnd,
  assertAccessible,
  assertTranscriptMatchesServer,
  consoleState,
  duplicatesSeen,
  openConsole,
  screenshot,
  startInterview,
  waitFor,
  watchDuplicates,
} from './helpers.mjs';

/** One Chromium for this file's tests. */
const browser = browserPerFile();

/**
 * Drops the socket once the page is connected, and waits until it has connected again.
 * @param {import('playwright-core').Page} page
 */
async function dropAndWaitForResume(page) {
  const before = await waitFor(page, () => {
    const state = window.__viva.state();
    const open = document.querySelector('[data-testid="connection-status"]')?.getAttribute('data-state') === 'open';
    return open && state ? state.connections : null;
  });
  await page.evaluate(() => window.__viva.dropSocket());
  await waitFor(
    page,
    (n) => {
      const state = window.__viva.state();
      return !!state && (state.connections > n || state.status === 'ended');
    },
    before,
  );
}

test('the socket drops three times and the page resumes with nothing lost or shown twice', async () => {
  const { page, problems } = browser;
  await openConsole(page, `resume-${Date.now().toString(36)}`);
  await watchDuplicates(page);
  const sessionId = await startInterview(page, { plan: 'coding-python' });

  // 1. Mid-turn: while the intro is being spoken.
  await page.locator('[data-testid="transcript"] article[data-kind="intro"][data-status="streaming"]').waitFor();
  await dropAndWaitForResume(page);
  await screenshot(page, 'resume-after-drop');

  let drops = 1;
  const sent = await answerUntilTheEnd(page, CODING_ANSWERS, {
    // 2. Right after the first answer was sent, before its acknowledgement can arrive.
    afterSubmit: async (n) => {
      if (n !== 0) return;
      await page.evaluate(() => window.__viva.dropSocket());
      drops += 1;
    },
    // 3. While the interviewer waits for the second answer, or speaks the turn after it.
    afterAck: async (n) => {
      if (n !== 1) return;
      await dropAndWaitForResume(page);
      drops += 1;
    },
  });

  await page.getByTestId('report').getByTestId('report-overall').waitFor();
  await waitFor(page, () => document.querySelector('[data-testid="connection-status"]')?.getAttribute('data-state') === 'ended');

  const state = await consoleState(page);
  assert.ok(state, 'the page has a session');
  assert.equal(drops, 3);
  assert.ok(state.connections >= 1 + drops, `${state.connections} connections for ${drops} drops`);
  assert.ok(
    state.resumes.slice(1).every((resumed) => resumed),
    `every reconnect resumed from last_seq: ${state.resumes}`,
  );

  // Every turn exactly once, in order, with the stored text; every answer stored once.
  const stored = await assertTranscriptMatchesServer(page, sessionId);
  assert.equal(stored.ended_reason, 'completed');
  assert.equal(
    stored.transcript.filter((/** @type {any} */ e) => e.entry === 'answer').length,
    sent.text + sent.code,
    'each answer was stored exactly once',
  );
  const turnIds = stored.transcript.filter((/** @type {any} */ e) => e.entry === 'turn').map((/** @type {any} */ e) => e.turn_id);
  assert.deepEqual(
    turnIds,
    turnIds.map((_, i) => i + 1),
  );
  assert.equal(state.lastSeq, stored.last_seq, 'the page applied every durable event');
  assert.equal(await page.locator('[data-testid="pending-answer"]').count(), 0);
  assert.deepEqual(await duplicatesSeen(page), [], 'no entry was ever shown twice');
  await screenshot(page, 'resume-ended');

  assert.deepEqual(await page.evaluate(() => window.__viva.cspViolations()), []);
  assert.deepEqual(problems, []);
});

test('a newer tab replaces the page, which then does not reconnect', async () => {
  const { context, page, problems } = browser;
  await openConsole(page, `replace-${Date.now().toString(36)}`);
  const sessionId = await startInterview(page, { plan: 'senior-backend' });
  await waitFor(page, () => document.querySelector('[data-testid="connection-status"]')?.getAttribute('data-state') === 'open');

  // The same user (the token is shared through localStorage) rejoins from the history.
  const other = await context.newPage();
  await other.goto(page.url());
  const rejoin = other.locator(`[data-testid="history-row"][data-session-id="${sessionId}"] button`);
  await rejoin.click();
  await waitFor(other, () => document.querySelector('[data-testid="connection-status"]')?.getAttribute('data-state') === 'open');

  // The first page is told why and stays off; it offers a manual reconnect.
  await waitFor(page, () => document.querySelector('[data-testid="connection-status"]')?.getAttribute('data-state') === 'stopped');
  assert.match((await page.getByTestId('connection-status').textContent()) ?? '', /\(4009\): replaced by a newer connection/);
  await page.getByTestId('reconnect').waitFor();
  assert.equal(await page.getByTestId('submit-answer').isDisabled(), true);
  await screenshot(page, 'replaced');
  await assertAccessible(page, 'replaced by a newer tab: stopped, Reconnect offered');

  // The newer tab ends the interview; the first page never reconnected meanwhile.
  other.once('dialog', (dialog) => dialog.accept());
  await other.getByTestId('end-session').click();
  await other.getByTestId('report').getByTestId('report-overall').waitFor();
  const state = await consoleState(page);
  assert.equal(state?.connections, 1);
  assert.equal(await page.getByTestId('connection-status').getAttribute('data-state'), 'stopped');
  await other.close();

  assert.deepEqual(await page.evaluate(() => window.__viva.cspViolations()), []);
  assert.deepEqual(problems, []);
});
