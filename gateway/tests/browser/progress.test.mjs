// The progress page: after two interviews that miss the same key points, the console charts
// every rubric dimension across them, lists the recurring weaknesses, and "Practise these"
// starts an adaptive interview whose follow-up goes to the most pressing weakness (where the
// plan's own order would probe another point). axe-core checks the page with the progress
// shown, at desktop and phone widths, light and dark.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertAccessible, browserPerFile, nextStep, openConsole, screenshot, startInterview, waitFor } from './helpers.mjs';

/** One Chromium for this file's tests. */
const browser = browserPerFile();

/** The senior-backend plan's follow-ups (engine/plans/senior-backend.toml). */
const SHARED_STATE =
  'With requests spread across many servers, where do the counters live so that each server enforces the same limit?';
const ATOMICITY =
  "Two requests from the same client hit two servers at the same moment. How do you make sure both aren't let through?";

/**
 * Answers the rate limiter with its algorithm only, lets the follow-up come, and ends the
 * interview there. Returns the follow-up's text.
 * @param {import('playwright-core').Page} page
 */
async function weakInterview(page) {
  assert.equal(await nextStep(page), 'answer');
  await page.getByTestId('answer-input').fill('I would use a token bucket for each API key.');
  await page.getByTestId('submit-answer').click();
  const followUp = page.locator('[data-testid="transcript"] article[data-kind="follow_up"][data-status="completed"]');
  await followUp.waitFor();
  const text = (await followUp.locator('[data-testid="turn-text"]').textContent()) ?? '';
  assert.equal(await nextStep(page), 'answer');
  page.once('dialog', (dialog) => dialog.accept());
  await page.getByTestId('end-session').click();
  await waitFor(page, () => window.__viva.state()?.status === 'ended');
  await page.getByTestId('report').waitFor();
  return text;
}

test('the progress page charts each dimension, lists recurring weaknesses and practises them', async () => {
  const { page, problems } = browser;
  const user = `progress-${Date.now().toString(36)}`;
  await openConsole(page, user);
  await waitFor(page, () => /Finish an interview/.test(document.getElementById('progress-body')?.textContent ?? ''));
  assert.equal(await page.getByTestId('practise').isVisible(), false);

  for (let i = 0; i < 2; i++) {
    if (i > 0) await page.getByTestId('new-interview').click();
    await startInterview(page, { plan: 'senior-backend' });
    assert.equal(await weakInterview(page), SHARED_STATE, 'the plan order: the first key point missed');
  }

  // Two finished interviews: a chart per dimension (and overall) with two points each. The
  // charts of the first interview are on the page already: wait for the second's point, which
  // comes once the panel has refetched after this interview's report.
  await waitFor(page, () =>
    [...document.querySelectorAll('[data-testid="progress-chart"]')].some(
      (svg) => svg.querySelectorAll('[data-testid="progress-point"]').length >= 2,
    ),
  );
  const charts = await page.evaluate(() =>
    [...document.querySelectorAll('[data-testid="progress-chart"]')].map((svg) => ({
      dimension: svg.closest('figure')?.getAttribute('data-dimension'),
      points: svg.querySelectorAll('[data-testid="progress-point"]').length,
      label: svg.getAttribute('aria-label'),
    })),
  );
  assert.deepEqual(
    charts.map((c) => c.dimension),
    ['overall', 'system_design', 'technical_depth', 'communication'],
  );
  for (const c of charts) {
    assert.equal(c.points, 2, `${c.dimension}: ${c.label}`);
    assert.match(c.label ?? '', /across 2 interviews, oldest first/);
  }
  const weak = await page.evaluate(() =>
    [...document.querySelectorAll('[data-testid="progress-weaknesses"] li')].map((li) => li.getAttribute('data-key-point')),
  );
  assert.deepEqual(weak, [
    'rate-limiter/atomicity',
    'rate-limiter/client_feedback',
    'rate-limiter/failure_mode',
    'rate-limiter/shared_state',
  ]);
  const strengths = await page.locator('[data-testid="progress-strengths"] li').count();
  assert.equal(strengths, 1, 'the algorithm, covered both times');
  await page.getByTestId('practise').waitFor();
  assert.match((await page.getByTestId('practise-hint').textContent()) ?? '', /Senior Backend Engineer.*4 recurring weak points/);
  await page.getByTestId('progress').scrollIntoViewIfNeeded();
  await screenshot(page, 'progress');
  await assertAccessible(page, 'the progress page');

  // Practise: an adaptive interview; its follow-up probes the most pressing weakness.
  const before = await waitFor(page, () => window.__viva.state()?.sessionId);
  await page.getByTestId('practise').click();
  await waitFor(page, (was) => { const id = window.__viva.state()?.sessionId; return id && id !== was ? id : null; }, before);
  assert.equal(await weakInterview(page), ATOMICITY);
  const revisited = page.getByTestId('report-revisited');
  await revisited.waitFor();
  assert.equal(await revisited.locator('li').count(), 4);
  // The report times the questions asked: the rate limiter, answered, within its 11 minutes.
  const timed = page.locator('[data-testid="report-timing"] li[data-question-id="rate-limiter"]');
  assert.equal(await timed.getAttribute('data-over-budget'), 'no');
  assert.match((await timed.textContent()) ?? '', /of 11:00/);
  await waitFor(page, () => document.querySelectorAll('[data-testid="progress-point"]').length >= 12);
  await screenshot(page, 'progress-after-practice');
  assert.deepEqual(problems, []);
});
