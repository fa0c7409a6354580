// A whole interview through the console: text and code answers to the scripted interviewer,
// scores moving, the report, and the history listing the session. Screenshots at desktop and
// phone widths go to target/browser-artifacts/.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  browserPerFile,
  CODING_ANSWERS,
  DESKTOP,
  PHONE,
  answerUntilTheEnd,
  assertTranscriptMatchesServer,
  consoleState,
  openConsole,
  recordStreaming,
  screenshot,
  startInterview,
  streamed,
  waitFor,
} from './helpers.mjs';

/** One Chromium for this file's tests. */
const browser = browserPerFile();

/**
 * The page has no horizontal overflow at the current width.
 * @param {import('playwright-core').Page} page
 */
async function assertFitsWidth(page) {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  assert.ok(scrollWidth <= innerWidth, `the page is ${scrollWidth} px wide in a ${innerWidth} px window`);
}

test('a whole interview with text and code answers, then the report and the history', async () => {
  const { page, problems } = browser;
  const user = `browser-${Date.now().toString(36)}`;
  await openConsole(page, user);
  await screenshot(page, 'console-desktop-start');
  await page.setViewportSize(PHONE);
  await assertFitsWidth(page);
  await screenshot(page, 'console-phone-start');
  await page.setViewportSize(DESKTOP);

  await recordStreaming(page);
  const sessionId = await startInterview(page, {
    plan: 'coding-python',
    role: 'backend engineer',
    level: 'senior',
    resume: 'Six years of Python; built a caching layer with an OrderedDict and a Kafka pipeline.',
  });
  assert.match(sessionId, /^ses_[0-9a-f]{32}$/);

  // The interviewer's words stream in: the intro grows word by word while it is open, then
  // completes with the role, level and résumé woven in.
  const intro = page.locator('[data-testid="transcript"] article[data-kind="intro"][data-status="completed"]');
  await intro.waitFor();
  const introText = (await intro.getByTestId('turn-text').textContent()) ?? '';
  assert.match(introText, /senior backend engineer role/);
  assert.match(introText, /résumé/);
  const growing = await streamed(page, '1');
  assert.ok(growing.length >= 3, `the intro was shown streaming (${growing.length} partial texts)`);
  for (let i = 1; i < growing.length; i++) {
    assert.ok(growing[i].startsWith(growing[i - 1]), 'each partial text extends the one before');
  }
  assert.ok(introText.startsWith(growing[growing.length - 1]));
  assert.equal(await page.getByTestId('connection-status').getAttribute('data-state'), 'open');

  // The first question expects Python code: the page shows the code box with the language.
  await page.locator('[data-testid="transcript"] article[data-kind="question"][data-status="completed"]').waitFor();
  const code = page.getByTestId('code-input');
  await code.waitFor({ state: 'visible' });
  assert.equal(await page.getByTestId('code-language').inputValue(), 'python');
  assert.equal(await page.getByTestId('answer-input').isVisible(), false);
  // Tab inserts four spaces in the code box.
  await code.click();
  await code.pressSequentially('def f():');
  await code.press('Enter');
  await code.press('Tab');
  await code.pressSequentially('return 1');
  assert.equal(await code.inputValue(), 'def f():\n    return 1');
  await code.fill('');
  await screenshot(page, 'console-desktop-question');

  let scoredShot = false;
  const sent = await answerUntilTheEnd(page, CODING_ANSWERS, {
    afterAck: async () => {
      if (scoredShot) return;
      // Scores move after the first answer is scored.
      await waitFor(page, () => document.querySelector('[data-testid="score-overall"]')?.textContent !== '–');
      await screenshot(page, 'console-desktop-live');
      await page.setViewportSize(PHONE);
      await assertFitsWidth(page);
      await screenshot(page, 'console-phone-live');
      await page.setViewportSize(DESKTOP);
      scoredShot = true;
    },
  });
  assert.ok(sent.code >= 2, `sent ${sent.code} code answers`);
  assert.ok(sent.text >= 2, `sent ${sent.text} text answers`);

  // The end: the report is fetched and shown, the connection says so and stays closed.
  const report = page.getByTestId('report');
  await report.getByTestId('report-overall').waitFor();
  await waitFor(page, () => document.querySelector('[data-testid="connection-status"]')?.getAttribute('data-state') === 'ended');
  const stored = await assertTranscriptMatchesServer(page, sessionId);
  assert.equal(stored.status, 'ended');
  assert.equal(stored.ended_reason, 'completed');
  const storedAnswers = stored.transcript.filter((/** @type {any} */ e) => e.entry === 'answer');
  assert.equal(storedAnswers.length, sent.text + sent.code);
  assert.equal(await page.getByTestId('score-overall').textContent(), stored.scores.overall.toFixed(1));
  assert.equal(await report.getByTestId('report-overall').textContent(), stored.scores.overall.toFixed(1));
  assert.equal(await report.getByTestId('report-answer').count(), storedAnswers.length);
  assert.ok((await report.getByTestId('report-bar').count()) >= 4);
  await report.getByTestId('report-practise').waitFor();
  await report.getByTestId('report-strengths').waitFor();
  // Every rubric dimension has its live bar filled in.
  assert.equal(await page.locator('[data-testid="score-bars"] [role="meter"][aria-valuenow]').count(), 4);

  // The history lists the session, ended, with its score, and charts it.
  const row = page.locator(`[data-testid="history-row"][data-session-id="${sessionId}"]`);
  await row.waitFor();
  await waitFor(
    page,
    (id) => document.querySelector(`[data-testid="history-row"][data-session-id="${id}"]`)?.getAttribute('data-status') === 'ended',
    sessionId,
  );
  assert.equal(await row.getByTestId('history-overall').textContent(), stored.scores.overall.toFixed(1));
  await page.locator(`[data-testid="history-point"][data-session-id="${sessionId}"]`).waitFor();

  const state = await consoleState(page);
  assert.equal(state?.connections, 1, 'one connection: nothing dropped in this test');
  await screenshot(page, 'console-desktop-report');
  await page.setViewportSize(PHONE);
  await assertFitsWidth(page);
  await screenshot(page, 'console-phone-report');

  assert.deepEqual(await page.evaluate(() => window.__viva.cspViolations()), []);
  assert.deepEqual(problems, []);
});
