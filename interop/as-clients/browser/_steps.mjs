// What the two headless-Chromium scripts (login_flow.mjs, idp_page.mjs) share: the browser's flags
// and the PASS/FAIL steps with their closing line and results file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// The flags the environment notes prescribe for Debian's Chromium (playwright adds a fresh
// --user-data-dir of its own for every launch and removes it on close).
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * A script's steps: `label` starts its closing line, `file` (under `out`) receives the results,
 * and the run is complete only when `expected` steps passed and none failed.
 */
export function steps({ out, file, label, expected }) {
  mkdirSync(out, { recursive: true });
  const results = [];

  function report(ok, name, detail = '') {
    results.push({ ok, name, detail });
    console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
    return ok;
  }

  /** Runs one step; a thrown error is that step's failure, with its message. */
  async function step(name, fn) {
    try {
      const detail = await fn();
      return report(true, name, typeof detail === 'string' ? detail : '');
    } catch (error) {
      report(false, name, error?.message ?? String(error));
      return false;
    }
  }

  function check(condition, message) {
    if (!condition) throw new Error(message);
  }

  /** Prints the closing line and writes the results; true when every step ran and passed. */
  function summary() {
    const passed = results.filter((r) => r.ok).length;
    const failed = results.length - passed;
    const complete = failed === 0 && passed >= expected;
    if (failed === 0 && !complete) console.log(`FAIL only ${passed} of ${expected} steps ran`);
    try { writeFileSync(join(out, file), `${JSON.stringify(results, null, 2)}\n`); } catch { /* ignore */ }
    console.log(`${label}: ${passed} passed, ${failed} failed`);
    return complete;
  }

  return { report, step, check, summary };
}
