// The "report ready" notice of the console (no webhook needed): offered by a button, asked for
// only when the candidate clicks it, and shown when the report arrives while the page is in
// the background — the browser's own Notification API, observed through a spy.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BASE, browserPerFile, openConsole, startInterview, waitFor } from './helpers.mjs';

/** One Chromium for this file's tests. */
const browser = browserPerFile();

test('the report notice is asked for on a click and shown when the page is in the background', async () => {
  const { context, page, problems } = browser;
  // Records each notice the page makes, and passes everything else to the real API.
  await page.addInitScript(() => {
    const Real = window.Notification;
    /** @type {{title: string, body: string|undefined}[]} */
    const notices = [];
    Object.defineProperty(window, '__notices', { value: notices });
    window.Notification = new Proxy(Real, {
      construct(target, args) {
        notices.push({ title: args[0], body: args[1]?.body });
        return Reflect.construct(target, args);
      },
      get(target, property) {
        const value = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  });
  await openConsole(page, `notice-${Date.now().toString(36)}`);
  const offer = page.getByTestId('notify-report');
  await offer.waitFor();
  assert.equal(await page.evaluate(() => Notification.permission), 'default', 'never asked without a click');

  // The candidate allows it (the browser's prompt answered by the test) with a click.
  await context.grantPermissions(['notifications'], { origin: BASE });
  await offer.click();
  await waitFor(page, () => document.querySelector('[data-testid="notify-report"]')?.hasAttribute('hidden'));

  await startInterview(page, { plan: 'senior-backend' });
  await waitFor(page, () => window.__viva.state()?.status === 'live');
  // The candidate switches away; then the interview ends and the report comes.
  await page.evaluate(() => Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' }));
  page.once('dialog', (dialog) => dialog.accept());
  await page.getByTestId('end-session').click();
  await page.getByTestId('report').getByTestId('report-overall').waitFor();
  const notices = await waitFor(page, () => /** @type {any} */ (window).__notices.length > 0 && /** @type {any} */ (window).__notices);
  assert.equal(notices.length, 1);
  assert.equal(notices[0].title, 'Your interview report is ready');
  assert.match(notices[0].body, /Senior Backend Engineer/);
  assert.deepEqual(problems, []);
});
