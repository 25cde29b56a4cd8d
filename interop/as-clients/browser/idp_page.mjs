// Headless Chromium reads mock-idp's own page (`GET /`): a refused request shows with its reason,
// the mint form mints a token, and the demo client's authorization-code flow completes.
//
//   node idp_page.mjs                       # reads MOCK_IDP_READY (the JSON of mock-idp's ready line)
//
// mock-idp must run with `--consent page` (the demo flow goes through the consent page). Steps,
// each printed as PASS/FAIL:
//   1. a token request with a wrong client secret is refused (from Node), then the page, loaded
//      in Chromium, lists it with outcome "refused" and reason "client_auth" (screenshot);
//   2. the page sends no script and may not be framed (its Content-Security-Policy);
//   3. the mint form: Chromium clicks "Mint a token"; the answer page shows a JWT whose claims
//      name the issuer (screenshot);
//   4. the demo flow: Chromium clicks "Start an authorization-code flow", approves on the consent
//      page, and lands on the demo callback, which shows a token response with an access token
//      (screenshot); back on the page, the demo's code exchange at /token is listed as answered.
//
// Environment (all optional):
//   CHROMIUM                 the browser binary (default /usr/bin/chromium)
//   BROWSER_FLOW_OUT         where screenshots go (default ./out)
//   BROWSER_FLOW_TIMEOUT     seconds for the whole script (default 90)
//
// Exit status: 0 when every step passed, 1 otherwise (2 for a usage error).

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, steps } from './_steps.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const OUT = process.env.BROWSER_FLOW_OUT || join(HERE, 'out');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TOTAL_SECS = Number(process.env.BROWSER_FLOW_TIMEOUT || 90);
const STEP_MS = 15_000;
const HTTP_MS = 10_000;
// Every step below, when all ran.
const { report, step, check, summary } = steps({ out: OUT, file: 'idp-page-results.json', label: 'idp-page', expected: 5 });

let browser;
const globalTimer = setTimeout(async () => {
  report(false, 'global timeout', `the script did not finish within ${TOTAL_SECS} s`);
  await Promise.race([browser?.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
  summary();
  process.exit(1);
}, TOTAL_SECS * 1000);

/** The cells of the page's request row whose request line starts with `line`, newest first. */
async function requestRows(page, line) {
  return page.locator('#requests tbody tr').evaluateAll((rows, wanted) => rows
    .map((row) => [...row.querySelectorAll('td')].map((td) => td.textContent.trim()))
    .filter((cells) => cells[2]?.startsWith(wanted)), line);
}

async function main() {
  check(process.env.MOCK_IDP_READY, 'set MOCK_IDP_READY to the JSON of mock-idp\'s ready line');
  const idp = JSON.parse(process.env.MOCK_IDP_READY);
  const issuer = idp.issuer;
  console.log(`issuer ${issuer}`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: STEP_MS });
  console.log(`chromium ${browser.version()} (${CHROMIUM})`);
  const context = await browser.newContext();
  context.setDefaultTimeout(STEP_MS);
  const page = await context.newPage();

  // 1. A refused request, then the page.
  let home;
  await step('the page lists a token request with a wrong secret as refused, reason client_auth', async () => {
    const refused = await fetch(idp.token_endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${idp.token_client_id}:not-the-secret`).toString('base64')}`,
      },
      body: 'grant_type=client_credentials',
      signal: AbortSignal.timeout(HTTP_MS),
    });
    check(refused.status === 401, `POST /token with a wrong secret answered HTTP ${refused.status}`);
    home = await page.goto(`${issuer}/`, { waitUntil: 'load' });
    check(home?.status() === 200, `GET / answered HTTP ${home?.status()}`);
    const rows = await requestRows(page, 'POST /token');
    check(rows.length > 0, 'no POST /token row in the request table');
    const [, , , client, status, outcome, reason, why] = rows[0];
    check(outcome === 'refused', `outcome ${JSON.stringify(outcome)}, want "refused"`);
    check(reason === 'client_auth', `reason ${JSON.stringify(reason)}, want "client_auth"`);
    check(status === '401', `status ${status}`);
    check(client === idp.token_client_id, `client ${JSON.stringify(client)}`);
    check(why.includes('invalid_client'), `why ${JSON.stringify(why)}`);
    await page.screenshot({ path: join(OUT, 'idp-page.png'), fullPage: true });
    return `row: ${rows[0].join(' | ')}`;
  });

  // 2. What the page may do.
  await step('the page runs no script and cannot be framed', async () => {
    check(home, 'the page did not load');
    const headers = home.headers();
    const csp = headers['content-security-policy'] || '';
    check(csp.includes("default-src 'none'") && csp.includes("frame-ancestors 'none'"), `CSP ${JSON.stringify(csp)}`);
    check(headers['x-frame-options'] === 'DENY', `X-Frame-Options ${headers['x-frame-options']}`);
    check(!headers['access-control-allow-origin'], 'the page sends CORS headers');
    check(await page.locator('script').count() === 0, 'the page has a script element');
    return csp;
  });

  // 3. The mint form.
  await step('the mint form mints a token that names the issuer', async () => {
    await page.goto(`${issuer}/`, { waitUntil: 'load' });
    await page.locator('#mint input[name=scope]').fill('mcp:tools');
    await Promise.all([page.waitForURL(/\/_control\/page\/mint$/), page.locator('#mint-button').click()]);
    const token = (await page.locator('#token').inputValue()).trim();
    check(/^[^.]+\.[^.]+\.[^.]+$/.test(token), `#token is not a JWT: ${token.slice(0, 40)}`);
    const claims = JSON.parse(await page.locator('#claims').textContent());
    check(claims.iss === issuer, `iss ${claims.iss}, want ${issuer}`);
    check(claims.scope === 'mcp:tools', `scope ${claims.scope}`);
    await page.screenshot({ path: join(OUT, 'idp-page-minted.png'), fullPage: true });
    return `a ${token.length}-character JWT, claims ${Object.keys(claims).sort().join(' ')}`;
  });

  // 4. The demo flow, through the consent page.
  const demo = await step('the demo flow goes through the consent page to a token', async () => {
    await page.goto(`${issuer}/`, { waitUntil: 'load' });
    await Promise.all([page.waitForSelector('form#consent'), page.locator('#demo-button').click()]);
    await page.screenshot({ path: join(OUT, 'idp-page-demo-consent.png'), fullPage: true });
    await Promise.all([page.waitForURL(/\/_demo\/callback\?/), page.locator('#approve').click()]);
    const answer = JSON.parse(await page.locator('#token-response').textContent());
    check(answer.access_token, `no access_token: ${JSON.stringify(answer)}`);
    check(answer.id_token, 'no id_token although the demo asked for openid');
    const introspected = JSON.parse(await page.locator('#introspection').textContent());
    check(introspected.active === true && introspected.client_id === 'mock-idp-demo',
      `introspection ${JSON.stringify(introspected)}`);
    await page.screenshot({ path: join(OUT, 'idp-page-demo.png'), fullPage: true });
    return `token response fields ${Object.keys(answer).sort().join(' ')}`;
  });
  if (demo) {
    await step('back on the page, the demo client\'s code exchange is listed as answered', async () => {
      await page.locator('#back').click();
      await page.waitForSelector('#requests');
      const rows = await requestRows(page, 'POST /token');
      check(rows.length > 0, 'no POST /token row');
      const [, , , client, status, outcome] = rows[0];
      check(client === 'mock-idp-demo' && status === '200' && outcome === 'ok',
        `newest POST /token row: ${rows[0].join(' | ')}`);
      return `row: ${rows[0].slice(0, 6).join(' | ')}`;
    });
  }
  await context.close();
}

let exitCode = 1;
try {
  await main();
} catch (error) {
  report(false, 'setup', error?.stack ?? String(error));
} finally {
  try { await browser?.close(); } catch { /* already gone */ }
  clearTimeout(globalTimer);
  if (summary()) exitCode = 0;
}
process.exit(exitCode);
