// Shared by the browser tests: launching Chromium, opening the console, polling, answering the
// scripted interviewer, and checking a view with axe-core.
//
// Environment (scripts/browser.sh sets it): VIVA_URL, the gateway's base URL; VIVA_ARTIFACTS,
// where screenshots go (default: <repo>/target/browser-artifacts); VIVA_CHROMIUM, the browser
// (default: /usr/bin/chromium).

import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));

export const BASE = process.env.VIVA_URL ?? 'http://127.0.0.1:8080';
export const ARTIFACTS = process.env.VIVA_ARTIFACTS ?? resolve(here, '../../../target/browser-artifacts');

/** Generous: these are limits for a slow machine, not expectations. */
export const LONG = 120_000;

/** Viewports the screenshots are taken at. */
export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 375, height: 812 };

/**
 * A fresh Chromium profile with one page, recording page errors and console errors (a CSP
 * violation is one).
 * @param {{viewport?: {width: number, height: number}, args?: string[]}} [options] `args`: more
 *   Chromium switches (e.g. a fake microphone)
 */
export async function openBrowser({ viewport = DESKTOP, args = [] } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'viva-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.VIVA_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...args,
    ],
    viewport,
    reducedMotion: 'reduce',
  });
  context.setDefaultTimeout(LONG);
  const page = context.pages()[0] ?? (await context.newPage());
  /** @type {string[]} */
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  return {
    context,
    page,
    problems,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * One browser for a test file: opened before its first test, closed after its last. Call it
 * at the top level; destructure the result inside a test.
 * @returns {Awaited<ReturnType<typeof openBrowser>>}
 */
export function browserPerFile() {
  const shared = /** @type {Awaited<ReturnType<typeof openBrowser>>} */ ({});
  before(async () => {
    Object.assign(shared, await openBrowser());
  });
  after(async () => {
    await shared.close?.();
  });
  return shared;
}

/**
 * Gives a user minutes through the admin API (the test gateway meters them).
 * @param {string} user
 * @param {number} seconds
 */
export async function credit(user, seconds) {
  const token = process.env.VIVA_ADMIN_TOKEN;
  if (!token) return; // a gateway without metering: nothing to credit
  const response = await fetch(`${BASE}/v1/admin/users/${encodeURIComponent(user)}/credits`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ seconds, idempotency_key: `test-${user}-${seconds}` }),
  });
  assert.ok(response.status === 201 || response.status === 200, `credit: HTTP ${response.status}`);
}

/**
 * Opens the console and waits until its plans are loaded.
 * @param {import('playwright-core').Page} page
 * @param {string} user the dev user to sign in as
 * @param {{minutes?: number, base?: string}} [options] the user's minutes, in seconds (an hour
 *   by default), credited on the test gateway; `base`: another gateway (none credited)
 */
export async function openConsole(page, user, { minutes = 3600, base } = {}) {
  if (!base) await credit(user, minutes);
  await page.goto(`${base ?? BASE}/`);
  await page.getByTestId('token-input').fill(`dev:${user}`);
  await page.getByTestId('signin-form').getByRole('button', { name: 'Sign in' }).click();
  await waitFor(page, () => document.querySelectorAll('[data-testid="plan-select"] option').length > 0);
}

/**
 * Polls a function in the page until it returns something truthy, and returns that.
 * @template T
 * @param {import('playwright-core').Page} page
 * @param {(arg: any) => T} fn
 * @param {any} [arg]
 * @returns {Promise<T>}
 */
export async function waitFor(page, fn, arg) {
  const handle = await page.waitForFunction(fn, arg, { timeout: LONG, polling: 50 });
  return /** @type {T} */ (await handle.jsonValue());
}

/**
 * Starts an interview from the setup form.
 * @param {import('playwright-core').Page} page
 * @param {{plan: string, role?: string, level?: string, resume?: string}} setup
 * @returns {Promise<string>} the session id
 */
export async function startInterview(page, { plan, role, level, resume }) {
  await page.getByTestId('plan-select').selectOption(plan);
  if (role !== undefined) await page.getByTestId('role-input').fill(role);
  if (level !== undefined) await page.getByTestId('level-select').selectOption(level);
  if (resume !== undefined) await page.getByTestId('resume-input').fill(resume);
  await page.getByTestId('start').click();
  return waitFor(page, () => window.__viva.state()?.sessionId);
}

/** @param {import('playwright-core').Page} page */
export function consoleState(page) {
  return page.evaluate(() => window.__viva.state());
}

/**
 * What the page's transcript shows: every turn and answer element, in order.
 * @param {import('playwright-core').Page} page
 */
export function shownTranscript(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('[data-testid="transcript"] article')].map((node) => ({
      testid: node.getAttribute('data-testid'),
      turnId: node.getAttribute('data-turn-id'),
      answerId: node.getAttribute('data-answer-id'),
      kind: node.getAttribute('data-kind'),
      status: node.getAttribute('data-status'),
      text: node.querySelector('[data-testid="turn-text"]')?.textContent ?? null,
    })),
  );
}

/**
 * The session as the server stored it (`GET /v1/sessions/{id}`), fetched with the page's token.
 * @param {import('playwright-core').Page} page
 * @param {string} sessionId
 */
export function storedSession(page, sessionId) {
  return page.evaluate(async (id) => {
    const token = /** @type {HTMLInputElement} */ (document.getElementById('token-input')).value;
    const response = await fetch(`/v1/sessions/${id}`, { headers: { Authorization: `Bearer ${token}` } });
    return response.json();
  }, sessionId);
}

/**
 * Waits until the interviewer waits for an answer (or the interview ended).
 * @param {import('playwright-core').Page} page
 * @returns {Promise<'answer'|'ended'>}
 */
export async function nextStep(page) {
  return waitFor(page, () => {
    const state = window.__viva.state();
    if (state && state.status === 'ended') return 'ended';
    const submit = /** @type {HTMLButtonElement} */ (document.querySelector('[data-testid="submit-answer"]'));
    const waiting = !submit.disabled && !document.querySelector('[data-testid="transcript"] article[data-status="streaming"]');
    return waiting ? 'answer' : null;
  });
}

/**
 * Answers whatever the interviewer asks until the interview ends; code when the page shows
 * the code box (the question expects code), text otherwise.
 * @param {import('playwright-core').Page} page
 * @param {{text: (n: number) => string, code: (n: number) => string}} answers
 * @param {{afterSubmit?: (n: number) => Promise<void>, afterAck?: (n: number) => Promise<void>}} [hooks]
 *   `afterSubmit` runs right after answer `n` is sent, `afterAck` once it is acknowledged
 * @returns {Promise<{text: number, code: number}>} how many of each were sent
 */
export async function answerUntilTheEnd(page, answers, { afterSubmit, afterAck } = {}) {
  const sent = { text: 0, code: 0 };
  for (let n = 0; n < 40; n++) {
    if ((await nextStep(page)) === 'ended') return sent;
    const acked = await page.locator('[data-testid="transcript"] article[data-testid="answer"]').count();
    if (await page.getByTestId('code-input').isVisible()) {
      await page.getByTestId('code-input').fill(answers.code(sent.code));
      sent.code += 1;
    } else {
      await page.getByTestId('answer-input').fill(answers.text(sent.text));
      sent.text += 1;
    }
    await page.getByTestId('submit-answer').click();
    if (afterSubmit) await afterSubmit(n);
    await waitFor(
      page,
      (count) =>
        document.querySelectorAll('[data-testid="transcript"] article[data-testid="answer"]').length > count ||
        window.__viva.state()?.status === 'ended',
      acked,
    );
    if (afterAck) await afterAck(n);
  }
  assert.fail('the interview did not end after 40 answers');
}

/**
 * Checks that the page shows the stored transcript exactly: every turn once, in order, with the
 * server's text and status, and every answer once.
 * @param {import('playwright-core').Page} page
 * @param {string} sessionId
 */
export async function assertTranscriptMatchesServer(page, sessionId) {
  const stored = await storedSession(page, sessionId);
  const shown = await shownTranscript(page);
  const expected = stored.transcript.map((/** @type {any} */ e) =>
    e.entry === 'turn'
      ? { testid: 'turn', turnId: String(e.turn_id), kind: e.kind, status: e.status, text: e.text || '(nothing said)' }
      : { testid: 'answer', answerId: String(e.answer_id) },
  );
  const actual = shown.map((e) =>
    e.testid === 'turn'
      ? { testid: 'turn', turnId: e.turnId, kind: e.kind, status: e.status, text: e.text }
      : { testid: e.testid, answerId: e.answerId },
  );
  assert.deepEqual(actual, expected);
  return stored;
}

/**
 * Saves a full-page screenshot to the artifacts directory.
 * @param {import('playwright-core').Page} page
 * @param {string} name without extension
 */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Answers that cover the key points of the `coding-python` plan's questions. */
export const CODING_ANSWERS = {
  code: (/** @type {number} */ n) =>
    [
      [
        'from collections import OrderedDict',
        '',
        'class LRUCache:',
        '    """get and put are O(1): a hash lookup plus OrderedDict.move_to_end."""',
        '',
        '    def __init__(self, capacity):',
        '        self.capacity = capacity',
        '        self.items = OrderedDict()',
        '',
        '    def get(self, key):',
        '        if key not in self.items:',
        '            return -1',
        '        self.items.move_to_end(key)',
        '        return self.items[key]',
        '',
        '    def put(self, key, value):',
        '        if self.capacity == 0:',
        '            return',
        '        self.items[key] = value',
        '        self.items.move_to_end(key)',
        '        if len(self.items) > self.capacity:',
        '            self.items.popitem(last=False)  # evict the oldest',
        '',
      ].join('\n'),
      [
        'def merge(intervals):',
        '    """O(n log n) for the sort, O(n) space for the output."""',
        '    if not intervals:',
        '        return []',
        '    merged = []',
        '    for start, end in sorted(intervals, key=lambda i: i[0]):',
        '        if merged and start <= merged[-1][1]:',
        '            merged[-1][1] = max(merged[-1][1], end)',
        '        else:',
        '            merged.append([start, end])',
        '    return merged',
        '',
      ].join('\n'),
    ][n % 2],
  text: (/** @type {number} */ n) =>
    [
      'I would use pytest with a parametrised table of cases: an empty list, a single interval, touching, ' +
        'nested and identical intervals, unsorted input in reverse order, duplicates and negative numbers. ' +
        'Beyond that, a property-based test with hypothesis checks invariants against a brute force oracle ' +
        'on random inputs.',
      'Count the words in one pass with collections.Counter, a hash map, then take the top k with a heap, ' +
        'heapq.nlargest, so it is O(n log k) time and O(u) memory for the distinct words. If the file does not ' +
        'fit in memory I stream it line by line, or chunk it and merge counts map reduce style.',
      'I think it depends; I would keep it simple and measure first.',
    ][Math.min(n, 2)],
};

/**
 * Starts recording, in the page, every text an open (streaming) turn shows, so a test can
 * check that words arrived one after another without racing the stream.
 * @param {import('playwright-core').Page} page
 */
export async function recordStreaming(page) {
  await page.evaluate(() => {
    const seen = /** @type {Record<string, string[]>} */ ({});
    Object.defineProperty(window, '__streamed', { value: seen, configurable: true });
    const root = /** @type {HTMLElement} */ (document.querySelector('[data-testid="transcript"]'));
    const look = () => {
      for (const node of root.querySelectorAll('article[data-status="streaming"]')) {
        const id = /** @type {string} */ (node.getAttribute('data-turn-id'));
        const text = node.querySelector('[data-testid="turn-text"]')?.textContent ?? '';
        const texts = (seen[id] ??= []);
        if (texts[texts.length - 1] !== text) texts.push(text);
      }
    };
    new MutationObserver(look).observe(root, { subtree: true, childList: true, characterData: true, attributes: true });
  });
}

/**
 * The texts recorded for turn `turnId` while it was streaming.
 * @param {import('playwright-core').Page} page
 * @param {string} turnId
 * @returns {Promise<string[]>}
 */
export function streamed(page, turnId) {
  return page.evaluate((id) => /** @type {any} */ (window).__streamed?.[id] ?? [], turnId);
}

/**
 * Starts watching the transcript for any moment at which a turn or an answer is shown twice.
 * @param {import('playwright-core').Page} page
 */
export async function watchDuplicates(page) {
  await page.evaluate(() => {
    const seen = /** @type {string[]} */ ([]);
    Object.defineProperty(window, '__duplicates', { value: seen, configurable: true });
    const root = /** @type {HTMLElement} */ (document.querySelector('[data-testid="transcript"]'));
    new MutationObserver(() => {
      const keys = [...root.querySelectorAll('article')].map(
        (node) => `turn ${node.getAttribute('data-turn-id')} / answer ${node.getAttribute('data-answer-id')}`,
      );
      const twice = keys.filter((key, i) => !key.endsWith('null / answer null') && keys.indexOf(key) !== i);
      if (twice.length) seen.push(...twice);
    }).observe(root, { subtree: true, childList: true, attributes: true });
  });
}

/**
 * What `watchDuplicates` saw.
 * @param {import('playwright-core').Page} page
 * @returns {Promise<string[]>}
 */
export function duplicatesSeen(page) {
  return page.evaluate(() => /** @type {any} */ (window).__duplicates ?? []);
}

/** axe-core's source, injected into the page by `assertAccessible`. */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** The impacts that fail a check; `moderate` and `minor` ones are printed only. */
const FAILING_IMPACTS = ['serious', 'critical'];

/**
 * Runs axe-core over the whole page as it is now, in the light and the dark colour scheme and at
 * each given width, and fails on any violation of impact serious or critical, naming the rule,
 * its impact and every node. Restores the width and the colour scheme after.
 *
 * axe is injected with `page.evaluate` of its source: Playwright evaluates it over the DevTools
 * protocol, which the page's CSP (`script-src 'self'`, no inline script, no eval) does not
 * govern, so the page is checked as served, with no `bypassCSP`. axe then runs in the page's
 * world like the page's own code; anything it did against the CSP would show up in the tests'
 * `cspViolations()` and `problems`.
 * @param {import('playwright-core').Page} page
 * @param {string} view what the page shows, for the failure message
 * @param {{viewports?: {width: number, height: number}[]}} [options] default: desktop and phone
 */
export async function assertAccessible(page, view, { viewports = [DESKTOP, PHONE] } = {}) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
  const restore = page.viewportSize();
  /** @type {string[]} */
  const failing = [];
  /** @type {string[]} */
  const noted = [];
  try {
    for (const viewport of viewports) {
      await page.setViewportSize(viewport);
      for (const colorScheme of /** @type {const} */ (['light', 'dark'])) {
        await page.emulateMedia({ colorScheme });
        const violations = await page.evaluate(async () => {
          const axe = /** @type {any} */ (window).axe;
          const results = await axe.run(document, { resultTypes: ['violations'] });
          return results.violations.map((/** @type {any} */ v) => ({
            id: v.id,
            impact: v.impact,
            help: v.help,
            nodes: v.nodes.map((/** @type {any} */ n) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`),
          }));
        });
        for (const v of violations) {
          const line = [`${view}, ${viewport.width} px, ${colorScheme}: ${v.id} (${v.impact}): ${v.help}`, ...v.nodes].join('\n    ');
          (FAILING_IMPACTS.includes(v.impact) ? failing : noted).push(line);
        }
      }
    }
  } finally {
    await page.emulateMedia({ colorScheme: null });
    if (restore) await page.setViewportSize(restore);
  }
  for (const line of noted) console.log(`axe, not failing: ${line}`);
  assert.ok(failing.length === 0, `axe found ${failing.length} serious or critical violation(s):\n${failing.join('\n')}`);
}
