// Every view of the console passes axe-core: signed out, the setup form, a turn being spoken, a
// question waiting for a code answer, an answer sent but not yet acknowledged, the scores after
// an answer, reconnecting, and the report with every answer's evidence open; each at desktop and
// phone widths (reconnecting and signed out at desktop only), in the light and the dark colour
// scheme. Any violation of impact serious or critical fails (helpers.mjs, `assertAccessible`).
//
// The views that last only a moment are held still, so the check always sees them: the page's
// session sockets are routed through Playwright (`page.routeWebSocket`, which opens the real
// socket from the page and relays its frames), and the server's frames are held back from a
// chosen frame on until the check is done; a reconnect is held by holding its ticket request.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BASE,
  CODING_ANSWERS,
  DESKTOP,
  LONG,
  answerUntilTheEnd,
  assertAccessible,
  browserPerFile,
  nextStep,
  openConsole,
  startInterview,
  waitFor,
} from './helpers.mjs';

/** One Chromium for this file's tests. */
const browser = browserPerFile();

/**
 * Relays the page's session sockets, and holds the server's frames back on request.
 * @param {import('playwright-core').Page} page
 */
async function relaySockets(page) {
  /** @type {import('playwright-core').WebSocketRoute|null} */
  let toPage = null;
  /** @type {string[]|null} the server's frames held back, in order; null while relaying */
  let held = null;
  /** @type {((message: any) => boolean)|null} */
  let holdAfterServer = null;
  /** @type {((message: any) => boolean)|null} */
  let holdAfterPage = null;
  /** @type {() => void} */
  let startedHolding = () => {};
  const hold = () => {
    held = [];
    startedHolding();
  };
  /** @param {string|Buffer} frame */
  const parse = (frame) => (typeof frame === 'string' ? JSON.parse(frame) : null);
  await page.routeWebSocket(/\/v1\/sessions\/[^/]+\/ws(\?|$)/, (ws) => {
    toPage = ws;
    const server = ws.connectToServer();
    ws.onMessage((frame) => {
      server.send(frame);
      if (held === null && holdAfterPage?.(parse(frame))) hold();
    });
    server.onMessage((frame) => {
      if (held !== null) {
        held.push(/** @type {string} */ (frame));
        return;
      }
      ws.send(frame);
      if (holdAfterServer?.(parse(frame))) hold();
    });
  });
  return {
    /**
     * Holds back every server frame after the first one matching `matches` (which still goes to
     * the page).
     * @param {(message: any) => boolean} matches
     */
    holdAfterServer(matches) {
      holdAfterServer = matches;
    },
    /**
     * Holds back every server frame from when the page sends a frame matching `matches`.
     * @param {(message: any) => boolean} matches
     */
    holdAfterPage(matches) {
      holdAfterPage = matches;
    },
    /**
     * Resolves once frames are being held back; fails after `LONG`.
     * @param {string} what for the failure message
     */
    holding(what) {
      if (held !== null) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`nothing held back: ${what}`)), LONG);
        startedHolding = () => {
          clearTimeout(timer);
          resolve(undefined);
        };
      });
    },
    /** Sends what was held back, in order, and relays again. */
    release() {
      holdAfterServer = null;
      holdAfterPage = null;
      const frames = held ?? [];
      held = null;
      for (const frame of frames) toPage?.send(frame);
    },
  };
}

/**
 * Holds the page's ticket requests (so it cannot reconnect) until the returned function is
 * called.
 * @param {import('playwright-core').Page} page
 */
async function holdTickets(page) {
  const pattern = '**/v1/sessions/*/ticket';
  /** @type {import('playwright-core').Route[]|null} */
  let held = [];
  await page.route(pattern, (route) => (held ? held.push(route) : route.continue()));
  return async () => {
    const routes = held ?? [];
    held = null;
    for (const route of routes) await route.continue();
    await page.unroute(pattern);
  };
}

/**
 * @param {import('playwright-core').Page} page
 * @param {string} state
 */
function connectionIs(page, state) {
  return waitFor(page, (s) => document.querySelector('[data-testid="connection-status"]')?.getAttribute('data-state') === s, state);
}

test('every view of the console passes axe-core: no serious or critical violation', async () => {
  const { page, problems } = browser;
  const relay = await relaySockets(page);

  await page.goto(`${BASE}/`);
  await assertAccessible(page, 'signed out', { viewports: [DESKTOP] });
  await openConsole(page, `axe-${Date.now().toString(36)}`);
  await assertAccessible(page, 'the setup form');

  // A turn being spoken: the server's frames are held once the intro shows its first words.
  relay.holdAfterServer((message) => message?.type === 'turn.delta' && message.text.trim() !== '');
  await startInterview(page, { plan: 'coding-python', role: 'backend engineer', level: 'senior' });
  await relay.holding('no words of a turn');
  await waitFor(
    page,
    () => document.querySelector('[data-testid="transcript"] article[data-status="streaming"] [data-testid="turn-text"]')?.textContent?.trim(),
  );
  await assertAccessible(page, 'a turn being spoken');
  assert.equal(await page.locator('[data-testid="transcript"] article[data-status="streaming"]').count(), 1, 'still spoken');
  relay.release();

  // The first question expects code, and waits for it.
  assert.equal(await nextStep(page), 'answer');
  await page.getByTestId('code-input').waitFor({ state: 'visible' });
  await assertAccessible(page, 'a question waiting for a code answer');

  // An answer sent and not yet acknowledged: held from the moment the page sends it.
  relay.holdAfterPage((message) => message?.type === 'code.submit' || message?.type === 'answer.submit');
  await page.getByTestId('code-input').fill(CODING_ANSWERS.code(0));
  await page.getByTestId('submit-answer').click();
  await relay.holding('the answer was not sent');
  await page.getByTestId('pending-answer').waitFor();
  await assertAccessible(page, 'an answer sent, not yet acknowledged');
  assert.equal(await page.getByTestId('pending-answer').count(), 1, 'still not acknowledged');
  relay.release();
  await page.getByTestId('pending-answer').waitFor({ state: 'detached' });

  // Scores after the first answer, the interviewer waiting for the next one.
  await waitFor(page, () => document.querySelector('[data-testid="score-overall"]')?.textContent !== '–');
  assert.equal(await nextStep(page), 'answer');
  await assertAccessible(page, 'scores shown, a question waiting for an answer');

  // Reconnecting: the socket drops and the ticket for the next one is held.
  const releaseTickets = await holdTickets(page);
  await page.evaluate(() => window.__viva.dropSocket());
  await connectionIs(page, 'reconnecting');
  await assertAccessible(page, 'reconnecting', { viewports: [DESKTOP] });
  assert.equal(await page.getByTestId('connection-status').getAttribute('data-state'), 'reconnecting');
  await releaseTickets();
  await connectionIs(page, 'open');

  // The end: the report, with every answer's evidence opened as a reader would.
  await answerUntilTheEnd(page, CODING_ANSWERS);
  const report = page.getByTestId('report');
  await report.getByTestId('report-overall').waitFor();
  await connectionIs(page, 'ended');
  for (const summary of await report.locator('[data-testid="report-answer"] > summary').all()) await summary.click();
  assert.equal(await report.locator('[data-testid="report-answer"]:not([open])').count(), 0);
  await assertAccessible(page, 'the report, every answer open');

  assert.deepEqual(await page.evaluate(() => window.__viva.cspViolations()), []);
  assert.deepEqual(problems, []);
});
