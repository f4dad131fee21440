// Deployment set-up, end to end: a second Rheo with TLS (self-signed), an access token and a
// TURN secret. The unmodified kurento-client connects over wss:// with its `access_token`
// option, and the magic mirror page, loaded over https:// with ?access_token=, gets its
// iceServers from /turn-credentials and shows the returned video.
//
// Environment: RHEO_BIN (the rheo executable; with-rheo.sh sets it).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import kurento from 'kurento-client';

import {
  E2E_DIR, artifact, call, launchChromium, tracePage, waitUntil, withTimeout,
} from './lib/harness.mjs';

const TOKEN = 'e2e-token/+=';
const TURN_SECRET = 'e2e-turn-secret';
const MEDIA_TIMEOUT = 45000;
const ROOT = path.resolve(E2E_DIR, '../..');
const RHEO_BIN = process.env.RHEO_BIN || path.join(ROOT, 'target/debug/rheo');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

let rheo;
let plainPort;
let securePort;
let browser;

before(async () => {
  [plainPort, securePort] = [await freePort(), await freePort()];
  const log = createWriteStream(artifact('rheo-deploy.log'));
  rheo = spawn(RHEO_BIN, [
    '--bind', '127.0.0.1', '--port', String(plainPort), '--secure-port', String(securePort),
    '--tls-self-signed', '--web-dir', path.join(ROOT, 'web'), '--network-interfaces', 'lo',
  ], {
    // Secrets through the environment, as a deployment would pass them.
    env: { ...process.env, RHEO_ACCESS_TOKEN: TOKEN, RHEO_TURN_SECRET: TURN_SECRET },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  rheo.stderr.pipe(log);
  await waitUntil(async () => {
    if (rheo.exitCode !== null) throw new Error(`rheo exited with ${rheo.exitCode}`);
    return fetch(`http://127.0.0.1:${plainPort}/readyz`).then((r) => r.ok).catch(() => false);
  }, 30000, 'rheo with TLS to be ready');
  browser = await launchChromium({ extraArgs: ['--ignore-certificate-errors'] });
});

after(async () => {
  if (browser) await browser.close();
  if (rheo && rheo.exitCode === null) {
    rheo.kill('SIGTERM');
    await withTimeout(new Promise((r) => rheo.once('exit', r)), 15000, 'rheo to exit').catch(() => rheo.kill('SIGKILL'));
  }
});

describe('deployment: TLS, access token, TURN credentials', () => {
  test('kurento-client connects over wss:// with access_token', { timeout: 60000 }, async () => {
    // The certificate is self-signed: this process trusts it the way the Kurento docs tell Node
    // users to (NODE_TLS_REJECT_UNAUTHORIZED), only for this test file's process.
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    const url = `wss://127.0.0.1:${securePort}/kurento`;
    const client = await withTimeout(new Promise((resolve, reject) => {
      const c = kurento(url, { access_token: TOKEN, request_timeout: 10000 },
        (error) => (error ? reject(error) : resolve({ c })));
    }), 20000, 'kurento-client over wss').then(({ c }) => c);
    try {
      const pipeline = await call(client, 'create', 'MediaPipeline');
      const manager = await call(client, 'getServerManager');
      const pipelines = await call(manager, 'getPipelines');
      assert.equal(pipelines.length, 1);
      await call(pipeline, 'release');
    } finally {
      client.close();
    }
  });

  test('the magic mirror over https:// with ?access_token= gets TURN credentials and video', { timeout: 90000 }, async () => {
    const page = await browser.newPage();
    tracePage(page, 'deploy-magicmirror');
    try {
      const creds = await page.request.get(
        `https://127.0.0.1:${securePort}/turn-credentials?access_token=${encodeURIComponent(TOKEN)}`);
      assert.equal(creds.status(), 200);
      const body = await creds.json();
      assert.match(body.username, /^\d+:rheo$/);
      assert.deepEqual(body.iceServers[0].urls,
        ['turn:127.0.0.1:3478?transport=udp', 'turn:127.0.0.1:3478?transport=tcp']);

      await page.goto(`https://127.0.0.1:${securePort}/magicmirror/?access_token=${encodeURIComponent(TOKEN)}`,
        { timeout: 20000 });
      await page.waitForFunction(() => window.demoState && window.demoState.state === 'idle', null, { timeout: 10000 });
      await page.click('#start');
      try {
        await page.waitForFunction(() => window.demoState.remoteFrames > 30 || window.demoState.error,
          null, { timeout: MEDIA_TIMEOUT, polling: 250 });
      } finally {
        await page.screenshot({ path: artifact('deploy-magicmirror.png') }).catch(() => {});
      }
      const state = await page.evaluate(() => window.demoState);
      assert.equal(state.error, null, `demo error: ${state.error}`);
      assert.ok(state.remoteFrames > 30, `remote frames ${state.remoteFrames}`);
      const log = await page.locator('#log').textContent();
      assert.match(log, /TURN relay: turn:127\.0\.0\.1:3478/, 'the page used the minted TURN credentials');
      await page.click('#stop');
    } finally {
      await page.close();
    }
  });

  test('without the token the page shows why it was refused', { timeout: 60000 }, async () => {
    const page = await browser.newPage();
    tracePage(page, 'deploy-no-token');
    try {
      await page.goto(`https://127.0.0.1:${securePort}/magicmirror/`, { timeout: 20000 });
      await page.waitForFunction(() => window.demoState && window.demoState.state === 'idle', null, { timeout: 10000 });
      await page.click('#start');
      await page.waitForFunction(() => window.demoState.error, null, { timeout: 20000, polling: 250 });
      const error = await page.locator('#error').textContent();
      assert.match(error, /Invalid access token/, `shown: ${error}`);
    } finally {
      await page.close();
    }
  });
});
