// What a screen reader hears while the interviewer speaks: inside the transcript (role=log,
// aria-live), each new word of the open turn is appended to the turn's text as a text node; the
// turn's element and what it already shows are never rebuilt, so only the new words are read.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { browserPerFile, openConsole, startInterview, waitFor } from './helpers.mjs';

/** One Chromium for this file's tests. */
const browser = browserPerFile();

test('a turn.delta appends a text node to the open turn and rebuilds nothing', async () => {
  const { page, problems } = browser;
  await openConsole(page, `stream-${Date.now().toString(36)}`);
  // Watch the transcript for the first turn's element, then every change inside it.
  await page.evaluate(() => {
    const root = /** @type {HTMLElement} */ (document.querySelector('[data-testid="transcript"]'));
    const seen = { added: /** @type {string[]} */ ([]), removed: /** @type {string[]} */ ([]), nodes: 0 };
    Object.defineProperty(window, '__turn', { value: seen });
    /** @type {Element|null} */
    let turn = null;
    new MutationObserver((records) => {
      const now = root.querySelector('article[data-turn-id="1"]');
      if (now && now !== turn) {
        seen.nodes += 1;
        turn = now;
      }
      for (const record of records) {
        if (!turn || !turn.contains(record.target) || turn.getAttribute('data-status') !== 'streaming') continue;
        for (const node of record.addedNodes) seen.added.push(node.nodeType === Node.TEXT_NODE ? 'text' : node.nodeName);
        for (const node of record.removedNodes) seen.removed.push(node.nodeName);
      }
    }).observe(root, { subtree: true, childList: true, characterData: true });
  });
  await startInterview(page, { plan: 'coding-python' });
  await page.locator('[data-testid="transcript"] article[data-turn-id="1"][data-status="completed"]').waitFor();
  const seen = await waitFor(page, () => /** @type {any} */ (window).__turn);
  assert.equal(seen.nodes, 1, 'the turn kept one element from its first word to its end');
  assert.ok(seen.added.length >= 3, `words were appended while it was spoken (${seen.added.length})`);
  assert.deepEqual([...new Set(seen.added)], ['text'], 'only text nodes were added');
  assert.deepEqual(seen.removed, [], 'nothing shown was taken away');
  const role = await page.getByTestId('transcript').getAttribute('aria-live');
  assert.equal(role, 'polite');
  assert.deepEqual(await page.evaluate(() => window.__viva.cspViolations()), []);
  assert.deepEqual(problems, []);
});
