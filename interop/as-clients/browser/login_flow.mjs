// Headless Chromium completes mock-idp's login and consent page to a loopback callback.
//
//   node login_flow.mjs                       # reads MOCK_IDP_READY (the JSON of mock-idp's ready line)
//   node login_flow.mjs http://127.0.0.1:9400 # or an issuer: endpoints from its RFC 8414 metadata
//
// mock-idp must run with `--consent page` and dynamic registration. Steps, each printed as
// PASS/FAIL:
//   1. register a public client (RFC 7591) whose redirect URI is this script's loopback callback;
//   2. approve: Chromium opens the authorization URL, the page names the client, the subject is
//      typed, one scope unticked, Approve clicked; the browser lands on the callback with code,
//      state and iss (RFC 9207); the code is exchanged with PKCE; introspection shows the typed
//      subject and only the scopes left ticked;
//   3. deny: a fresh browser context clicks Deny and lands on the callback with
//      error=access_denied, state and iss;
//   4. CSRF: the consent form posted without the page's cookie (from Node, with the hidden values
//      scraped from a fresh page) is refused with 403 and nothing reaches the callback.
//
// Environment (all optional):
//   CHROMIUM                 the browser binary (default /usr/bin/chromium)
//   BROWSER_FLOW_OUT         where screenshots and the trace of exchanges go (default ./out)
//   BROWSER_FLOW_TIMEOUT     seconds for the whole script (default 90)
//   MOCK_IDP_INTROSPECTION_CLIENT_ID / _SECRET  when the ready JSON does not carry them
//
// Exit status: 0 when every step passed, 1 otherwise (2 for a usage error).

import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
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
const CLIENT_NAME = 'Browser test';
const SUBJECT = 'alice';
const SCOPE = 'openid mcp:tools';
const UNTICKED = 'openid';
const RESOURCE = 'http://127.0.0.1:8000/mcp';

// registration, the consent page, five approve steps, deny and CSRF, when every step ran.
const { report, step, check, summary } = steps({ out: OUT, file: 'results.json', label: 'browser-login', expected: 9 });
const trace = [];

const b64url = (buf) => buf.toString('base64url');

function pkce() {
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  return { verifier, challenge };
}

/** fetch with a deadline, never following redirects; records the exchange in out/exchanges.json. */
async function http(url, init = {}) {
  const response = await fetch(url, {
    redirect: 'manual',
    signal: AbortSignal.timeout(HTTP_MS),
    ...init,
  });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const redact = (s) => (typeof s === 'string'
    ? s.replace(/\b(code|token|code_verifier|csrf)=[^&]+/g, '$1=…')
      .replace(/"(access_token|refresh_token|id_token|registration_access_token)":"[^"]*"/g, '"$1":"…"')
    : s);
  trace.push({
    request: { method: init.method || 'GET', url, body: redact(init.body?.toString()) },
    response: {
      status: response.status,
      location: response.headers.get('location'),
      content_type: response.headers.get('content-type'),
      body: redact(text.length > 2000 ? `${text.slice(0, 2000)}…` : text),
    },
  });
  return { status: response.status, headers: response.headers, text, json };
}

const form = (fields) => {
  const body = new URLSearchParams();
  for (const [k, v] of fields) body.append(k, v);
  return body;
};

// -- the IdP -------------------------------------------------------------------------------------
async function idpEndpoints() {
  if (process.env.MOCK_IDP_READY) {
    const ready = JSON.parse(process.env.MOCK_IDP_READY);
    return ready;
  }
  const issuer = process.argv[2];
  if (!issuer) {
    console.error('usage: node login_flow.mjs ISSUER   (or set MOCK_IDP_READY to the ready line\'s JSON)');
    process.exit(2);
  }
  const meta = await http(`${issuer.replace(/\/$/, '')}/.well-known/oauth-authorization-server`);
  check(meta.status === 200 && meta.json, `metadata: HTTP ${meta.status}`);
  return meta.json;
}

// -- the loopback callback -----------------------------------------------------------------------
function startCallbackServer() {
  const received = [];
  const waiters = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname !== '/callback') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const query = Object.fromEntries(url.searchParams);
    received.push(query);
    for (const w of waiters.splice(0)) w();
    const items = [...url.searchParams.keys()]
      .map((k) => `<li><code>${k.replace(/[<>&"]/g, '')}</code></li>`)
      .join('');
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      .end(`<!doctype html><html><head><meta charset="utf-8"><title>Callback</title></head>` +
        `<body><h1 id="callback">Callback received</h1><ul>${items}</ul></body></html>`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        server,
        uri: `http://127.0.0.1:${port}/callback`,
        received,
        /** The callback whose state is `state`, waiting at most `ms`. */
        async waitFor(state, ms) {
          const deadline = Date.now() + ms;
          for (;;) {
            const hit = received.find((q) => q.state === state);
            if (hit) return hit;
            const left = deadline - Date.now();
            if (left <= 0) throw new Error(`no callback with state ${state} within ${ms} ms`);
            await new Promise((r) => {
              const t = setTimeout(r, left);
              waiters.push(() => { clearTimeout(t); r(); });
            });
          }
        },
      });
    });
  });
}

// -- the run -------------------------------------------------------------------------------------
let browser;
let callback;

async function cleanup() {
  try { await browser?.close(); } catch { /* already gone */ }
  try { callback?.server.close(); callback?.server.closeAllConnections?.(); } catch { /* ignore */ }
  try { writeFileSync(join(OUT, 'exchanges.json'), `${JSON.stringify(trace, null, 2)}\n`); } catch { /* ignore */ }
}


const globalTimer = setTimeout(async () => {
  report(false, 'global timeout', `the flow did not finish within ${TOTAL_SECS} s`);
  await Promise.race([cleanup(), new Promise((r) => setTimeout(r, 5000))]);
  summary();
  process.exit(1);
}, TOTAL_SECS * 1000);

function authorizeUrl(idp, client, state, challenge) {
  const url = new URL(idp.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: callback.uri,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    scope: SCOPE,
    resource: RESOURCE,
  }).toString();
  return url.toString();
}

/** Opens the consent page in a fresh context; checks what every consent page must have. */
async function openConsentPage(idp, client, state, challenge, shot) {
  const context = await browser.newContext();
  context.setDefaultTimeout(STEP_MS);
  try {
    const page = await context.newPage();
    await checkConsentPage(idp, context, page, authorizeUrl(idp, client, state, challenge), shot);
    return { context, page };
  } catch (error) {
    await context.close().catch(() => {});
    throw error;
  }
}

async function checkConsentPage(idp, context, page, url, shot) {
  const response = await page.goto(url, { waitUntil: 'load' });
  check(response, 'no response for the authorization URL');
  check(!page.url().startsWith(`${callback.uri}?`),
    `the IdP sent the browser straight to the callback without a consent page (is mock-idp running with --consent page?): ${page.url().replace(/code=[^&]+/, 'code=…')}`);
  check(response.status() === 200,
    `GET /authorize answered HTTP ${response.status()} (want 200 and the consent page); body: ${(await response.text()).slice(0, 300)}`);
  check((response.headers()['content-type'] || '').startsWith('text/html'),
    `content-type ${response.headers()['content-type']}`);
  check(await page.locator('form#consent').count() === 1, `no form#consent on the page at ${page.url()}`);
  const cookies = await context.cookies(idp.issuer);
  const csrfCookie = cookies.find((c) => c.name === 'mock_idp_csrf');
  check(csrfCookie, `no mock_idp_csrf cookie was set (cookies: ${cookies.map((c) => c.name).join(', ') || 'none'})`);
  check(csrfCookie.httpOnly, 'the mock_idp_csrf cookie is not HttpOnly');
  check(csrfCookie.sameSite === 'Lax', `the mock_idp_csrf cookie is SameSite=${csrfCookie.sameSite}, want Lax`);
  if (shot) await page.screenshot({ path: join(OUT, shot), fullPage: true });
}

async function main() {
  const idp = await idpEndpoints();
  const issuer = idp.issuer;
  const introspectId = idp.introspection_client_id || process.env.MOCK_IDP_INTROSPECTION_CLIENT_ID || 'conformance-rs';
  const introspectSecret = idp.introspection_client_secret || process.env.MOCK_IDP_INTROSPECTION_CLIENT_SECRET || 'conformance-rs-secret';
  console.log(`issuer ${issuer}`);
  check(idp.authorization_endpoint && idp.token_endpoint && idp.registration_endpoint && idp.introspection_endpoint,
    'the IdP names no authorization, token, registration or introspection endpoint');

  callback = await startCallbackServer();
  console.log(`callback ${callback.uri}`);

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: STEP_MS });
  console.log(`chromium ${browser.version()} (${CHROMIUM})`);

  // 1. registration
  let client;
  const registered = await step('register a public client with a loopback redirect URI', async () => {
    const r = await http(idp.registration_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({
        redirect_uris: [callback.uri],
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        client_name: CLIENT_NAME,
      }),
    });
    check(r.status === 201, `POST /register answered HTTP ${r.status}: ${r.text.slice(0, 300)}`);
    check(r.json?.client_id, 'no client_id in the registration response');
    client = r.json;
    return `client_id ${client.client_id}`;
  });
  if (!registered) return;

  // 2. approve
  const approve = { state: b64url(randomBytes(16)), ...pkce() };
  let approveCallback;
  let page;
  let context;
  const shown = await step('the consent page shows the client, the subject field and one checkbox per scope', async () => {
    ({ context, page } = await openConsentPage(idp, client, approve.state, approve.challenge, 'consent.png'));
    const clientText = (await page.locator('#client').textContent())?.trim();
    check(clientText === CLIENT_NAME, `#client reads ${JSON.stringify(clientText)}, want ${JSON.stringify(CLIENT_NAME)}`);
    const subject = await page.locator('#subject').inputValue();
    check(subject !== undefined, 'no #subject input');
    const scopes = await page.locator('form#consent input[type=checkbox][name=scope]').evaluateAll(
      (boxes) => boxes.map((b) => ({ value: b.value, checked: b.checked })));
    const values = scopes.map((s) => s.value).sort();
    check(JSON.stringify(values) === JSON.stringify(SCOPE.split(' ').sort()),
      `scope checkboxes ${JSON.stringify(values)}, want ${JSON.stringify(SCOPE.split(' '))}`);
    check(scopes.every((s) => s.checked), 'not every requested scope is ticked by default');
    for (const sel of ['#approve', '#deny', 'input[type=hidden][name=request_id]', 'input[type=hidden][name=csrf]']) {
      check(await page.locator(`form#consent ${sel}`).count() === 1, `no ${sel} in form#consent`);
    }
    return `client "${clientText}", default subject "${subject}", scopes ${values.join(' ')}`;
  });
  if (shown) {
    const landed = await step('approve: type a subject, untick a scope, click Approve; the browser lands on the loopback callback', async () => {
      await page.locator('#subject').fill(SUBJECT);
      await page.locator(`form#consent input[type=checkbox][name=scope][value="${UNTICKED}"]`).uncheck();
      await page.screenshot({ path: join(OUT, 'consent-filled.png'), fullPage: true });
      await Promise.all([
        page.waitForURL((u) => u.toString().startsWith(`${callback.uri}?`), { timeout: STEP_MS }),
        page.locator('#approve').click(),
      ]);
      check((await page.locator('#callback').textContent()) === 'Callback received', 'the callback page did not render');
      approveCallback = await callback.waitFor(approve.state, 2000);
      return `landed on ${page.url().replace(/code=[^&]+/, 'code=…')}`;
    });
    await page.screenshot({ path: join(OUT, 'after-approve.png'), fullPage: true }).catch(() => {});
    await context.close();
    if (landed) {
      await step('approve: the callback carries code, the same state and iss = issuer (RFC 9207), no error', async () => {
        check(!approveCallback.error, `error=${approveCallback.error} ${approveCallback.error_description || ''}`);
        check(approveCallback.code, 'no code');
        check(approveCallback.state === approve.state, `state ${approveCallback.state}, want ${approve.state}`);
        check(approveCallback.iss === issuer, `iss ${approveCallback.iss}, want ${issuer}`);
      });
      let tokens;
      const exchanged = await step('approve: the code is exchanged at /token with the PKCE verifier', async () => {
        const r = await http(idp.token_endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: form([
            ['grant_type', 'authorization_code'],
            ['code', approveCallback.code],
            ['redirect_uri', callback.uri],
            ['client_id', client.client_id],
            ['code_verifier', approve.verifier],
          ]),
        });
        check(r.status === 200, `POST /token answered HTTP ${r.status}: ${r.text.slice(0, 300)}`);
        check(r.json?.access_token, 'no access_token');
        check(/^[^.]+\.[^.]+\.[^.]+$/.test(r.json.access_token), 'the access token is not a JWT');
        check(r.json.refresh_token, 'no refresh_token');
        check(String(r.json.token_type).toLowerCase() === 'bearer', `token_type ${r.json.token_type}`);
        tokens = r.json;
        return `token response scope "${tokens.scope}", fields ${Object.keys(tokens).sort().join(' ')}`;
      });
      if (exchanged) {
        await step(`approve: no id_token, since the unticked scope ${UNTICKED} was not granted`, async () => {
          check(!tokens.id_token, 'an id_token was issued although openid was not granted');
          if (tokens.scope !== undefined) check(tokens.scope === 'mcp:tools', `token response scope "${tokens.scope}", want "mcp:tools"`);
        });
        await step(`approve: introspection shows sub = ${SUBJECT} and scope = mcp:tools only`, async () => {
          const r = await http(idp.introspection_endpoint, {
            method: 'POST',
            headers: {
              'content-type': 'application/x-www-form-urlencoded',
              accept: 'application/json',
              authorization: `Basic ${Buffer.from(`${introspectId}:${introspectSecret}`).toString('base64')}`,
            },
            body: form([['token', tokens.access_token]]),
          });
          check(r.status === 200, `POST /introspect answered HTTP ${r.status}: ${r.text.slice(0, 300)}`);
          const i = r.json || {};
          check(i.active === true, `active ${i.active}`);
          check(i.sub === SUBJECT, `sub ${JSON.stringify(i.sub)}, want ${JSON.stringify(SUBJECT)}`);
          check(i.scope === 'mcp:tools', `scope ${JSON.stringify(i.scope)}, want "mcp:tools"`);
          const aud = Array.isArray(i.aud) ? i.aud : [i.aud];
          check(aud.includes(RESOURCE), `aud ${JSON.stringify(i.aud)} does not name the resource ${RESOURCE}`);
          if (i.client_id !== undefined) check(i.client_id === client.client_id, `client_id ${i.client_id}, want ${client.client_id}`);
          return `sub ${i.sub}, scope "${i.scope}", aud ${JSON.stringify(i.aud)}`;
        });
      }
    }
  }

  // 3. deny
  const deny = { state: b64url(randomBytes(16)), ...pkce() };
  await step('deny: clicking Deny lands on the callback with error=access_denied, state and iss', async () => {
    const { context: ctx, page: p } = await openConsentPage(idp, client, deny.state, deny.challenge);
    try {
      await Promise.all([
        p.waitForURL((u) => u.toString().startsWith(`${callback.uri}?`), { timeout: STEP_MS }),
        p.locator('#deny').click(),
      ]);
      await p.screenshot({ path: join(OUT, 'after-deny.png'), fullPage: true });
    } finally {
      await ctx.close();
    }
    const q = await callback.waitFor(deny.state, 2000);
    check(q.error === 'access_denied', `error ${JSON.stringify(q.error)}, want access_denied`);
    check(!q.code, 'a code came with the denial');
    check(q.iss === issuer, `iss ${q.iss}, want ${issuer}`);
    return `callback query: ${Object.keys(q).sort().join(' ')}`;
  });

  // 4. CSRF: the form posted without the cookie
  const forged = { state: b64url(randomBytes(16)), ...pkce() };
  await step('csrf: the consent form posted without the mock_idp_csrf cookie is refused with 403', async () => {
    const { context: ctx, page: p } = await openConsentPage(idp, client, forged.state, forged.challenge);
    let action;
    let fields;
    try {
      action = await p.locator('form#consent').evaluate((f) => f.action);
      fields = await p.locator('form#consent').evaluate((f) => ({
        request_id: f.elements.request_id.value,
        csrf: f.elements.csrf.value,
      }));
    } finally {
      await ctx.close();
    }
    check(action === `${issuer}/authorize/decision`, `form action ${action}, want ${issuer}/authorize/decision`);
    check(fields.request_id && fields.csrf, 'the hidden request_id or csrf value is empty');
    const r = await http(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: issuer },
      body: form([
        ['request_id', fields.request_id],
        ['csrf', fields.csrf],
        ['subject', 'mallory'],
        ['scope', 'openid'],
        ['scope', 'mcp:tools'],
        ['decision', 'approve'],
      ]),
    });
    check(r.status === 403,
      `POST /authorize/decision without the cookie answered HTTP ${r.status}${r.headers.get('location') ? ` (Location: ${r.headers.get('location')})` : ''}: ${r.text.slice(0, 300)}`);
    check(!r.headers.get('location'), `a 403 with a Location: ${r.headers.get('location')}`);
    check(!callback.received.some((q) => q.state === forged.state), 'the forged approval reached the callback');
    return `HTTP 403: ${r.text.slice(0, 160)}`;
  });
}

let exitCode = 1;
try {
  await main();
} catch (error) {
  report(false, 'setup', error?.stack ?? String(error));
} finally {
  await cleanup();
  clearTimeout(globalTimer);
  if (summary()) exitCode = 0;
}
process.exit(exitCode);
