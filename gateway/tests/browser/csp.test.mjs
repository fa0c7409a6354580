// The Content-Security-Policy as the console lives under it: the page may connect (fetch and
// WebSockets) to its own origin only, no bare `ws:` or `wss:` scheme (which would allow sockets
// to any host). The console's own socket opens under it ('self' covers ws: on the page's host
// and port), and a socket the page opens to another host is refused by the browser. The other
// host is the same gateway under another loopback name (`localhost` for `127.0.0.1`), so
// nothing leaves the machine even where a policy would let it through.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BASE, browserPerFile, openConsole, startInterview, waitFor } from './helpers.mjs';

/** One Chromium for this file's tests. */
const browser = browserPerFile();

/**
 * The sources of one directive of a policy.
 * @param {string} policy
 * @param {string} directive
 */
function sources(policy, directive) {
  const found = policy
    .split(';')
    .map((d) => d.trim().split(/\s+/))
    .find(([name]) => name === directive);
  assert.ok(found, `no ${directive} in ${policy}`);
  return found.slice(1);
}

test('the console connects only to its own origin: its socket opens, one to another host is refused', async () => {
  const { page, problems } = browser;
  const response = await page.goto(`${BASE}/`);
  const policy = response?.headers()['content-security-policy'] ?? '';
  const connect = sources(policy, 'connect-src');
  assert.deepEqual(connect, ["'self'"], policy);
  for (const source of [...connect, ...sources(policy, 'default-src')]) {
    assert.ok(!source.endsWith(':') && !source.includes('*'), `${source} allows any host: ${policy}`);
  }

  // The console's own socket (ws: on the page's host and port) opens under the policy.
  await openConsole(page, `csp-${Date.now().toString(36)}`);
  const sessionId = await startInterview(page, { plan: 'senior-backend' });
  await waitFor(page, () => document.querySelector('[data-testid="connection-status"]')?.getAttribute('data-state') === 'open');

  // A socket to another host is refused before it is opened: the page reports the violation,
  // and the socket fails.
  const foreign = new URL(`/v1/sessions/${sessionId}/ws`, BASE.replace('127.0.0.1', 'localhost'));
  foreign.protocol = 'ws:';
  assert.notEqual(foreign.host, new URL(BASE).host, 'VIVA_URL must name 127.0.0.1');
  await page.evaluate((url) => {
    const socket = new WebSocket(url);
    /** @type {string[]} */
    const events = [];
    Object.defineProperty(window, '__foreignSocket', { value: events });
    socket.addEventListener('open', () => events.push('open'));
    socket.addEventListener('error', () => events.push('error'));
    socket.addEventListener('close', (event) => events.push(`close ${event.code}`));
  }, foreign.href);
  const violations = await waitFor(page, () => {
    const seen = window.__viva.cspViolations();
    return seen.length > 0 && /** @type {any} */ (window).__foreignSocket.includes('error') ? seen : null;
  }).catch(async (/** @type {Error} */ error) => {
    const events = await page.evaluate(() => /** @type {any} */ (window).__foreignSocket);
    assert.fail(`no CSP violation for a socket to ${foreign.href} (${error.message}); the socket saw ${events.join(', ')}`);
  });
  assert.deepEqual(violations, [`connect-src: ${foreign.href}`]);
  // Chromium says so on the console; nothing else went wrong.
  assert.equal(problems.length, 1, problems.join('\n'));
  assert.ok(problems[0].includes(foreign.href) && problems[0].includes('Content Security Policy'), problems[0]);
  // The console's socket is unaffected.
  assert.equal(await page.getByTestId('connection-status').getAttribute('data-state'), 'open');
});
