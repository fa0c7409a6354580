// Barge-in: interrupting the interviewer while a question is being spoken, answering while it
// is spoken (the page interrupts first), and ending the interview early; all from the keyboard
// where the page offers it. axe-core checks the cut-off question and the early report.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  browserPerFile,
  CODING_ANSWERS,
  assertAccessible,
  assertTranscriptMatchesServer,
  openConsole,
  recordStreaming,
  screenshot,
  streamed,
  waitFor,
} from './helpers.mjs';

/** One Chromium for this file's tests. */
const browser = browserPerFile();

/**
 * Waits for a question turn after `afterTurnId` to be streaming with some text, and returns its
 * turn id. Answers whatever is asked before it (follow-ups), so the interview moves on.
 * @param {import('playwright-core').Page} page
 * @param {number} afterTurnId
 */
async function nextQuestionStreaming(page, afterTurnId) {
  for (;;) {
    const found = await waitFor(
      page,
      (after) => {
        const open = document.querySelector(
          '[data-testid="transcript"] article[data-kind="question"][data-status="streaming"]',
        );
        // Some words shown, not just the turn's heading: an interrupt before the first delta
        // would cut nothing.
        const shown = open?.querySelector('[data-testid="turn-text"]')?.textContent;
        if (open && Number(open.getAttribute('data-turn-id')) > after && shown) {
          return { question: Number(open.getAttribute('data-turn-id')) };
        }
        const submit = /** @type {HTMLButtonElement} */ (document.querySelector('[data-testid="submit-answer"]'));
        const streaming = document.querySelector('[data-testid="transcript"] article[data-status="streaming"]');
        return !submit.disabled && !streaming ? { answer: true } : null;
      },
      afterTurnId,
    );
    if ('question' in found) return found.question;
    // A follow-up waits for its answer first.
    if (await page.getByTestId('code-input').isVisible()) {
      await page.getByTestId('code-input').fill(CODING_ANSWERS.code(0));
    } else {
      await page.getByTestId('answer-input').fill(CODING_ANSWERS.text(2));
    }
    const answers = await page.locator('[data-testid="transcript"] article[data-testid="answer"]').count();
    await page.getByTestId('submit-answer').click();
    await waitFor(
      page,
      (n) => document.querySelectorAll('[data-testid="transcript"] article[data-testid="answer"]').length > n,
      answers,
    );
  }
}

test('interrupting a question, answering while it is spoken, and ending early', async () => {
  const { page, problems } = browser;
  await openConsole(page, `barge-${Date.now().toString(36)}`);
  await recordStreaming(page);

  // Start from the keyboard: Enter in the form.
  await page.getByTestId('plan-select').selectOption('coding-python');
  await page.getByTestId('role-input').fill('backend');
  await page.getByTestId('role-input').press('Enter');
  const sessionId = await waitFor(page, () => window.__viva.state()?.sessionId);

  // 1. Click "Interrupt" while the first question is being spoken.
  const first = await nextQuestionStreaming(page, 0);
  const interrupt = page.getByTestId('interrupt');
  await interrupt.click();
  const firstTurn = page.locator(`[data-testid="transcript"] article[data-turn-id="${first}"]`);
  await waitFor(
    page,
    (id) =>
      document.querySelector(`[data-testid="transcript"] article[data-turn-id="${id}"]`)?.getAttribute('data-status') ===
      'interrupted',
    first,
  );
  const cut = (await firstTurn.getByTestId('turn-text').textContent()) ?? '';
  const partial = (await streamed(page, String(first))).filter((text) => text !== '');
  assert.ok(partial.length >= 1 && cut.startsWith(partial[0]), 'the question was shown streaming before the cut');
  assert.equal(await interrupt.isDisabled(), true, 'nothing left to interrupt');
  await screenshot(page, 'barge-in-interrupted');
  await assertAccessible(page, 'a question cut off, waiting for its answer');

  // The interviewer now waits for the answer to the interrupted question: send code with
  // Ctrl+Enter from the code box.
  const code = page.getByTestId('code-input');
  await code.waitFor({ state: 'visible' });
  await waitFor(page, () => !(/** @type {HTMLButtonElement} */ (document.querySelector('[data-testid="submit-answer"]')).disabled));
  await code.fill(CODING_ANSWERS.code(0));
  await code.press('Control+Enter');
  await page.locator('[data-testid="transcript"] article[data-testid="answer"][data-answer-id="1"]').waitFor();

  // 2. Answer the next question while it is being spoken: the page interrupts it first.
  const second = await nextQuestionStreaming(page, first);
  const answersBefore = await page.locator('[data-testid="transcript"] article[data-testid="answer"]').count();
  await page.getByTestId('code-input').fill(CODING_ANSWERS.code(1));
  await page.getByTestId('submit-answer').click();
  await waitFor(
    page,
    (n) => document.querySelectorAll('[data-testid="transcript"] article[data-testid="answer"]').length > n,
    answersBefore,
  );
  assert.equal(
    await page.locator(`[data-testid="transcript"] article[data-turn-id="${second}"]`).getAttribute('data-status'),
    'interrupted',
  );

  // 3. End the interview early (after confirming): the report lists what was not answered.
  page.once('dialog', (dialog) => dialog.accept());
  await page.getByTestId('end-session').click();
  await page.getByTestId('report').getByTestId('report-overall').waitFor();
  await waitFor(page, () => document.querySelector('[data-testid="connection-status"]')?.getAttribute('data-state') === 'ended');
  assert.match((await page.getByTestId('connection-status').textContent()) ?? '', /you ended it/);
  assert.equal(await page.getByTestId('code-input').isDisabled(), true, 'no answer can be typed after the end');
  assert.equal(await page.getByTestId('answer-input').isDisabled(), true, 'no answer can be typed after the end');
  for (const meter of await page.locator('[role="meter"]').all()) {
    assert.notEqual(await meter.getAttribute('aria-valuenow'), null, 'every meter has a value');
  }
  const practise = (await page.getByTestId('report-practise').textContent()) ?? '';
  assert.match(practise, /top-k-words: not answered/);

  const stored = await assertTranscriptMatchesServer(page, sessionId);
  assert.equal(stored.ended_reason, 'ended_by_candidate');
  // What was shown of the first question is a strict beginning of its prompt.
  const report = await page.evaluate(async (id) => {
    const token = /** @type {HTMLInputElement} */ (document.getElementById('token-input')).value;
    return (await fetch(`/v1/sessions/${id}/report`, { headers: { Authorization: `Bearer ${token}` } })).json();
  }, sessionId);
  const prompt = report.answers[0].question;
  assert.ok(prompt.startsWith(cut.trimEnd()) && prompt.length > cut.trimEnd().length, `cut: ${cut}`);
  const interrupted = stored.transcript.filter((/** @type {any} */ e) => e.entry === 'turn' && e.status === 'interrupted');
  assert.ok(interrupted.length >= 2);
  await screenshot(page, 'barge-in-ended');
  await assertAccessible(page, 'ended early: the report lists what was not answered');

  assert.deepEqual(await page.evaluate(() => window.__viva.cspViolations()), []);
  assert.deepEqual(problems, []);
});
