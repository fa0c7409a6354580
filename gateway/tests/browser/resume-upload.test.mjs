// The résumé file control: a PDF (made here, a real one-page PDF with a text layer) is uploaded,
// the skills the server found are shown, and the next interview's intro names one of them; a
// file the server cannot read shows its reason and keeps the résumé kept before; a Markdown
// file (which browsers give no media type) is sent as Markdown; the delete button removes it.
// The section is closed until the candidate opens it (the page reads the kept résumé only
// then). axe-core checks the control with a résumé kept and after an error.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BASE, assertAccessible, browserPerFile, openConsole, screenshot, startInterview, waitFor } from './helpers.mjs';

/** One Chromium for this file's tests. */
const browser = browserPerFile();

/**
 * A one-page PDF whose text layer is `lines` in Helvetica (ASCII only): objects, a cross-reference
 * table with their offsets, a trailer.
 * @param {string[]} lines
 */
function pdf(lines) {
  const text = lines.map((line) => `(${line.replace(/[\\()]/g, '\\$&')}) Tj T*`).join('\n');
  const content = `BT /F1 11 Tf 16 TL 56 780 Td\n${text}\nET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
  ];
  let out = '%PDF-1.4\n';
  const offsets = objects.map((body, i) => {
    const at = out.length;
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
    return at;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  out += offsets.map((at) => `${String(at).padStart(10, '0')} 00000 n \n`).join('');
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/**
 * What the page logged, but the answers these tests ask for: none kept (404) and a file
 * refused (422), which Chromium logs as failed loads.
 * @param {string[]} problems
 */
function unexpected(problems) {
  return problems.filter((p) => !/Failed to load resource: the server responded with a status of (404|422)/.test(p));
}

/**
 * Opens the résumé file section (the page reads the kept résumé then).
 * @param {import('playwright-core').Page} page
 */
async function openResumeSection(page) {
  await page.getByTestId('resume-summary').click();
  await waitFor(page, () => document.querySelector('[data-testid="resume-file-status"]')?.textContent !== '');
}

/** @param {import('playwright-core').Page} page */
function status(page) {
  return page.getByTestId('resume-file-status');
}

/** @param {import('playwright-core').Page} page */
async function shownSkills(page) {
  return page.getByTestId('resume-skills').locator('li').allTextContents();
}

test('an uploaded PDF résumé shows its skills and the next interview uses it', async () => {
  const { page, problems } = browser;
  await openConsole(page, `resume-file-${Date.now().toString(36)}`);
  await openResumeSection(page);
  await waitFor(page, () => document.querySelector('[data-testid="resume-file-status"]')?.textContent === 'No résumé file kept.');
  assert.equal(await page.getByTestId('resume-delete').isVisible(), false);

  const file = pdf([
    'Jane Doe - Senior Backend Engineer',
    'Built Kafka pipelines moving two billion events a day.',
    'Designed a token bucket rate limiter in front of the public API.',
  ]);
  await page.getByTestId('resume-file-input').setInputFiles({ name: 'Jane Doe CV.pdf', mimeType: 'application/pdf', buffer: file });
  await waitFor(page, () => document.querySelector('[data-testid="resume-file-status"]')?.getAttribute('data-state') === 'kept');
  const kept = (await status(page).textContent()) ?? '';
  assert.match(kept, /^Jane Doe CV\.pdf: \d+ characters kept for your next interviews\. \d+ skills? found\.$/);
  const skills = await shownSkills(page);
  assert.ok(skills.includes('kafka') && skills.includes('token bucket'), `skills shown: ${skills}`);
  assert.equal(await page.getByTestId('resume-delete').isVisible(), true);
  await screenshot(page, 'resume-kept');
  await assertAccessible(page, 'a résumé file kept');

  // A file the server cannot read: its reason, and the résumé kept before stays (and is shown).
  await page
    .getByTestId('resume-file-input')
    .setInputFiles({ name: 'scan.pdf', mimeType: 'application/pdf', buffer: pdf([]) });
  await waitFor(page, () => document.querySelector('[data-testid="resume-file-status"]')?.getAttribute('data-state') === 'error');
  assert.match((await status(page).textContent()) ?? '', /^Cannot read scan\.pdf: the PDF has no text layer/);
  assert.deepEqual(await shownSkills(page), skills);
  await assertAccessible(page, 'a résumé file refused', { viewports: [{ width: 1280, height: 900 }] });

  // The interview, with no résumé text typed, uses the file's: the intro names a skill from it.
  await startInterview(page, { plan: 'senior-backend' });
  const intro = page.locator('[data-testid="transcript"] article[data-kind="intro"][data-status="completed"]');
  await intro.waitFor();
  const introText = (await intro.getByTestId('turn-text').textContent()) ?? '';
  assert.match(introText, /I see from your résumé that you have worked with .*(kafka|token bucket)/);
  assert.deepEqual(unexpected(problems), []);
});

test('a Markdown résumé is sent as Markdown, and the delete button removes it', async () => {
  const { page, problems } = browser;
  const user = `resume-md-${Date.now().toString(36)}`;
  await openConsole(page, user);
  await openResumeSection(page);
  // Browsers give `.md` files no media type (or text/x-markdown): the page sends text/markdown.
  const markdown = '# Jane\n\n- Built **Kafka** pipelines\n- Sharded Postgres with consistent hashing\n';
  await page.getByTestId('resume-file-input').setInputFiles({ name: 'cv.md', mimeType: '', buffer: Buffer.from(markdown) });
  await waitFor(page, () => document.querySelector('[data-testid="resume-file-status"]')?.getAttribute('data-state') === 'kept');
  const stored = await fetch(`${BASE}/v1/me/resume`, { headers: { Authorization: `Bearer dev:${user}` } });
  const body = await stored.json();
  assert.equal(body.media_type, 'text/markdown');
  assert.equal(body.text, 'Jane\n\nBuilt Kafka pipelines\nSharded Postgres with consistent hashing');
  assert.ok((await shownSkills(page)).includes('kafka'));

  await page.getByTestId('resume-delete').click();
  await waitFor(page, () => document.querySelector('[data-testid="resume-file-status"]')?.textContent === 'No résumé file kept.');
  assert.equal(await page.getByTestId('resume-delete').isVisible(), false);
  assert.deepEqual(await shownSkills(page), []);
  const gone = await fetch(`${BASE}/v1/me/resume`, { headers: { Authorization: `Bearer dev:${user}` } });
  assert.equal(gone.status, 404);
  // Focus goes back to the file input, not to the hidden button.
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'resume-file-input');
  assert.deepEqual(unexpected(problems), []);
});
