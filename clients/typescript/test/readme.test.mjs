// The README's example, exactly as written (its first ```js block), run with node against the
// gateway binary (VIVA_URL replaces its http://127.0.0.1:8080): it must do a whole interview
// and print the report's overall score. It imports `viva-client` by name, as an app would
// (the package refers to itself through its `exports`).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const baseUrl = process.env.VIVA_URL;
if (!baseUrl) throw new Error('VIVA_URL is not set: run scripts/typescript-client.sh');

test('the README example runs a whole interview', { timeout: 150_000 }, async () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const code = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(code, 'README.md has a ```js block');
  assert.ok(code.includes("'http://127.0.0.1:8080'"), 'the example talks to the default gateway address');
  assert.ok(code.split('\n').filter((l) => l.trim()).length <= 10, 'ten lines at most');
  // Inside the package, so that `viva-client` and `ws` resolve as they do for an app.
  const file = join(root, `readme-example-${process.pid}.mjs`);
  writeFileSync(file, code.replaceAll("'http://127.0.0.1:8080'", JSON.stringify(baseUrl)));
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [file], { timeout: 120_000 });
    assert.match(stdout, /^Q: /m, 'it printed the questions');
    assert.match(stdout, /^overall \d+(\.\d+)?; practise: /m, 'it printed the report');
  } finally {
    rmSync(file, { force: true });
  }
});
