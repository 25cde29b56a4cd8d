// Runs the official MCP conformance suite's authorization-server scenarios against one issuer,
// headlessly, and judges the result. Started by run.sh with Node >= 22 (the suite's own need).
//
// What it does, in order (NOTES.md says why each step is needed):
//   1. reads the issuer's RFC 8414 metadata (only to find the registration endpoint);
//   2. gets a client: MOCK_IDP_CLIENT_ID (pre-registered) or RFC 7591 registration of a public
//      client whose redirect URI is the suite's callback http://127.0.0.1:PORT/callback;
//   3. runs `conformance authorization` (every scenario, none named, so the code-grant scenario
//      receives the metadata scenario's result) and watches its output for the authorization
//      URL it prints for a person to open;
//   4. plays the browser: requests that URL without following redirects automatically, follows
//      same-origin redirects itself, and delivers the final redirect to the suite's callback;
//   5. reads every checks.json the suite wrote and decides the exit code.
//
// Every network wait is bounded; the whole run is bounded by CONFORMANCE_TIMEOUT (seconds).
// Only the child process this script started is ever signalled, by its PID.

import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const SUITE = join(HERE, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');

const env = process.env;
const issuer = env.MOCK_IDP_ISSUER;
const outDir = env.CONFORMANCE_OUT ?? join(HERE, 'out');
const totalTimeoutMs = Number(env.CONFORMANCE_TIMEOUT ?? '120') * 1000;
const hopTimeoutMs = 10_000;
const maxHops = 10;
const strict = env.CONFORMANCE_FAIL_ON_WARNING === '1';
// MCP clients always send an RFC 8707 resource; an empty value omits it.
const resource = env.CONFORMANCE_RESOURCE ?? 'http://127.0.0.1:8080/mcp';

if (!issuer) {
  console.error('drive.mjs: MOCK_IDP_ISSUER is not set');
  process.exit(2);
}
mkdirSync(join(outDir, 'results'), { recursive: true });
const driverLog = join(outDir, 'driver.log');
writeFileSync(driverLog, '');
function log(line) {
  appendFileSync(driverLog, `${new Date().toISOString()} ${line}\n`);
  console.log(`[run.sh] ${line}`);
}

const deadline = Date.now() + totalTimeoutMs;
function remaining() {
  return Math.max(1, deadline - Date.now());
}
function boundedSignal(ms = hopTimeoutMs) {
  return AbortSignal.timeout(Math.min(ms, remaining()));
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function readMetadata() {
  // The same well-known location the suite tries first; failures here are not fatal (the suite
  // judges the metadata itself), they only mean no registration endpoint is known.
  const u = new URL(issuer);
  const path = u.pathname.replace(/\/$/, '');
  const url = `${u.origin}/.well-known/oauth-authorization-server${path}`;
  try {
    const r = await fetch(url, { redirect: 'manual', signal: boundedSignal() });
    if (r.status !== 200) {
      log(`metadata ${url} answered ${r.status}`);
      return null;
    }
    return await r.json();
  } catch (e) {
    log(`metadata ${url} failed: ${e.message}`);
    return null;
  }
}

async function obtainClient(metadata) {
  if (env.MOCK_IDP_CLIENT_ID) {
    const port = Number(env.CONFORMANCE_CALLBACK_PORT ?? '3000');
    log(`using the pre-registered client ${env.MOCK_IDP_CLIENT_ID} (redirect URI http://127.0.0.1:${port}/callback must be registered)`);
    return { clientId: env.MOCK_IDP_CLIENT_ID, clientSecret: env.MOCK_IDP_CLIENT_SECRET || undefined, port };
  }
  const port = Number(env.CONFORMANCE_CALLBACK_PORT ?? (await freePort()));
  try {
    return { ...(await register(metadata, port)), port };
  } catch (e) {
    // Still run the suite, so the metadata scenario is judged and the code-grant scenario shows
    // what the authorization endpoint does with an unknown client; the run fails regardless.
    log(`no client: ${e.message}`);
    return { clientId: 'unregistered-conformance-client', clientSecret: undefined, port, problem: `no client: ${e.message}` };
  }
}

async function register(metadata, port) {
  const endpoint = metadata?.registration_endpoint;
  if (typeof endpoint !== 'string') {
    throw new Error(
      'the metadata names no registration_endpoint and MOCK_IDP_CLIENT_ID is not set: the ' +
        'authorization-code-grant scenario needs a client id (without one the suite only SKIPs it)',
    );
  }
  const request = {
    client_name: 'MCP conformance suite (interop/conformance-suite/run.sh)',
    redirect_uris: [`http://127.0.0.1:${port}/callback`],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    // A public client: the suite sends no secret whenever the metadata lists `none`.
    token_endpoint_auth_method: 'none',
  };
  const r = await fetch(endpoint, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(request),
    signal: boundedSignal(),
  });
  const text = await r.text();
  writeFileSync(join(outDir, 'registration.json'), JSON.stringify({ request, status: r.status, response: text }, null, 2));
  if (r.status !== 201 && r.status !== 200) {
    throw new Error(`registration at ${endpoint} answered ${r.status}: ${text.slice(0, 500)}`);
  }
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`registration at ${endpoint} answered ${r.status} with a body that is not JSON`);
  }
  if (typeof body.client_id !== 'string' || body.client_id === '') {
    throw new Error(`registration at ${endpoint} answered without a client_id`);
  }
  log(`registered public client ${body.client_id} with redirect URI http://127.0.0.1:${port}/callback (status ${r.status})`);
  return { clientId: body.client_id, clientSecret: undefined };
}

// Plays the user's browser for one authorization URL. Returns nothing; on a dead end it tells
// the suite through its own callback (error=run_sh_driver) so the scenario fails at once with
// the reason, instead of waiting out the suite's 5-minute callback timeout.
async function playBrowser(authorizationUrl, callbackBase) {
  let url = authorizationUrl;
  const origin = new URL(authorizationUrl).origin;
  let reason = null;
  for (let hop = 0; hop < maxHops; hop++) {
    let r;
    try {
      r = await fetch(url, { redirect: 'manual', signal: boundedSignal() });
    } catch (e) {
      reason = `GET ${url} failed: ${e.message}`;
      break;
    }
    const location = r.headers.get('location');
    log(`hop ${hop}: GET ${url} -> ${r.status}${location ? ` Location: ${location}` : ''}`);
    if (r.status >= 300 && r.status < 400 && location) {
      await r.body?.cancel();
      const next = new URL(location, url);
      if (`${next.origin}${next.pathname}` === callbackBase) {
        // Deliver the authorization response exactly as the browser would.
        await deliver(next);
        return;
      }
      if (next.origin !== origin) {
        reason = `the authorization endpoint redirected to ${next.origin}${next.pathname}, neither its own origin nor the callback ${callbackBase}`;
        break;
      }
      url = next.toString();
      continue;
    }
    const body = (await r.text()).slice(0, 300).replace(/\s+/g, ' ');
    reason =
      r.status === 200
        ? `the authorization endpoint answered 200 (a login or consent page?) instead of redirecting; run.sh needs an IdP that approves automatically. Body: ${body}`
        : `the authorization endpoint answered ${r.status} instead of redirecting to ${callbackBase}. Body: ${body}`;
    break;
  }
  reason ??= `more than ${maxHops} redirects without reaching ${callbackBase}`;
  log(`no authorization response: ${reason}`);
  const fail = new URL(callbackBase);
  fail.searchParams.set('error', 'run_sh_driver');
  fail.searchParams.set('error_description', reason);
  await deliver(fail);
}

// The suite prints the URL before its callback server has finished binding: retry refused
// connections for a few seconds.
async function deliver(url) {
  for (let attempt = 0; ; attempt++) {
    try {
      const cb = await fetch(url, { redirect: 'manual', signal: boundedSignal() });
      log(`callback: GET ${url} -> ${cb.status}`);
      await cb.body?.cancel();
      return;
    } catch (e) {
      if (attempt >= 50) {
        log(`could not reach the suite's callback: ${e.message}`);
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function collectChecks(resultsDir) {
  const scenarios = [];
  if (!existsSync(resultsDir)) return scenarios;
  for (const dir of readdirSync(resultsDir).sort()) {
    const file = join(resultsDir, dir, 'checks.json');
    if (!existsSync(file)) continue;
    const m = /^authorization-server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(dir);
    scenarios.push({ scenario: m ? m[1] : dir, dir, checks: JSON.parse(readFileSync(file, 'utf8')) });
  }
  return scenarios;
}

async function main() {
  const expected = (env.CONFORMANCE_SCENARIOS ?? '').split(/\s+/).filter(Boolean);
  const metadata = await readMetadata();
  const client = await obtainClient(metadata);
  const callbackBase = `http://127.0.0.1:${client.port}/callback`;

  const args = [SUITE, 'authorization', '--url', issuer, '--client-id', client.clientId, '--port', String(client.port), '--output-dir', join(outDir, 'results')];
  if (client.clientSecret) args.push('--client-secret', client.clientSecret);
  if (resource) args.push('--resource', resource);
  if (env.CONFORMANCE_SPEC_VERSION) args.push('--spec-version', env.CONFORMANCE_SPEC_VERSION);
  log(`running: node ${args.map((a) => (a === client.clientSecret ? '[secret]' : a)).join(' ')}`);

  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stdoutFile = join(outDir, 'suite.stdout.txt');
  const stderrFile = join(outDir, 'suite.stderr.txt');
  writeFileSync(stdoutFile, '');
  writeFileSync(stderrFile, '');
  const stop = (why) => {
    if (child.exitCode === null && child.signalCode === null) {
      log(`stopping the suite (pid ${child.pid}): ${why}`);
      child.kill('SIGTERM');
      setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'), 3000).unref();
    }
  };
  process.on('SIGTERM', () => stop('run.sh was told to stop'));
  process.on('SIGINT', () => stop('interrupted'));
  const timer = setTimeout(() => stop(`CONFORMANCE_TIMEOUT (${totalTimeoutMs / 1000} s) reached`), remaining());

  let pending = '';
  let driving = Promise.resolve();
  child.stdout.on('data', (chunk) => {
    appendFileSync(stdoutFile, chunk);
    process.stdout.write(chunk);
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop();
    for (const line of lines) {
      let u;
      try {
        u = new URL(line.trim());
      } catch {
        continue;
      }
      if (u.searchParams.get('response_type') === 'code' && u.searchParams.get('redirect_uri') === callbackBase) {
        log(`the suite asks a person to open ${u}`);
        driving = driving.then(() => playBrowser(u.toString(), callbackBase));
      }
    }
  });
  child.stderr.on('data', (chunk) => {
    appendFileSync(stderrFile, chunk);
    process.stderr.write(chunk);
  });
  const [code, signal] = await new Promise((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  await driving;

  // The IdP's own view of the run, when it offers mock-idp's control API.
  try {
    const r = await fetch(new URL('/_control/requests', issuer), { redirect: 'manual', signal: AbortSignal.timeout(5000) });
    if (r.status === 200) writeFileSync(join(outDir, 'idp-requests.json'), JSON.stringify(await r.json(), null, 2));
  } catch {
    // not mock-idp, or gone: nothing to record
  }

  const scenarios = collectChecks(join(outDir, 'results'));
  const problems = [];
  let failedChecks = 0;
  const runProblems = [];
  if (client.problem) runProblems.push(client.problem);
  if (signal || code !== 0) runProblems.push(`the suite exited with ${signal ?? code}`);
  for (const name of expected) {
    if (!scenarios.some((s) => s.scenario === name)) runProblems.push(`scenario ${name} wrote no checks.json`);
  }
  const count = { SUCCESS: 0, FAILURE: 0, WARNING: 0, SKIPPED: 0, INFO: 0 };
  console.log('\n== official suite, authorization-server checks');
  for (const s of scenarios) {
    for (const c of s.checks) {
      count[c.status] = (count[c.status] ?? 0) + 1;
      console.log(`${c.status.padEnd(7)} ${s.scenario} / ${c.id}${c.errorMessage ? `: ${c.errorMessage}` : ''}`);
      let against = null;
      if (c.status === 'FAILURE') against = 'failed';
      // A skip here means the scenario never ran (no client id, no usable auth method).
      if (c.status === 'SKIPPED') against = 'was skipped';
      if (c.status === 'WARNING' && strict) against = 'warned (CONFORMANCE_FAIL_ON_WARNING=1)';
      if (against) {
        failedChecks += 1;
        problems.push(`${s.scenario} / ${c.id} ${against}`);
      }
    }
  }
  // The suite's exit code only repeats failing checks; report it alone when nothing else explains it.
  const unexplained = runProblems.filter((p) => !(failedChecks > 0 && p.startsWith('the suite exited')));
  problems.push(...unexplained);
  const summary = {
    issuer,
    suite: '@modelcontextprotocol/conformance',
    suiteVersion: JSON.parse(readFileSync(join(HERE, 'node_modules/@modelcontextprotocol/conformance/package.json'), 'utf8')).version,
    clientId: client.clientId,
    callback: callbackBase,
    resource: resource || null,
    exit: signal ?? code,
    counts: count,
    problems,
    scenarios: scenarios.map((s) => ({ scenario: s.scenario, dir: s.dir, checks: s.checks.map((c) => ({ id: c.id, status: c.status, errorMessage: c.errorMessage })) })),
  };
  writeFileSync(join(outDir, 'summary.json'), JSON.stringify(summary, null, 2));
  if (count.WARNING > 0) console.log(`${count.WARNING} warning(s)${strict ? '' : ' (not failing; CONFORMANCE_FAIL_ON_WARNING=1 makes them fail)'}`);
  for (const p of problems) console.log(`problem: ${p}`);
  // Skipped checks are counted as failed here: a skipped scenario was not passed.
  console.log(`conformance-suite: ${count.SUCCESS} passed, ${failedChecks + unexplained.length} failed`);
  return problems.length === 0 ? 0 : 1;
}

main().then(
  (rc) => process.exit(rc),
  (e) => {
    log(`error: ${e.message}`);
    console.log('conformance-suite: 0 passed, 1 failed');
    process.exit(1);
  },
);
