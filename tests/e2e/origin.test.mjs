// Cross-site WebSocket hijacking: a page from a foreign origin must not open Rheo's /kurento,
// while a page from another loopback port (how Kurento's browser tutorials are served) and
// clients that send no Origin (kurento-client in Node) keep working.
//
// Environment: RHEO_WS_URL, RHEO_HTTP_URL.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';

import WebSocket from 'ws';

import { WS_URL, launchChromium, tracePage } from './lib/harness.mjs';

/** A page that tries Rheo's WebSocket and records whether it opened. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>origin probe</title><script>
window.result = 'pending';
const ws = new WebSocket(${JSON.stringify(WS_URL)});
ws.onopen = () => { window.result = 'open'; ws.close(); };
ws.onerror = () => { if (window.result === 'pending') window.result = 'refused'; };
ws.onclose = () => { if (window.result === 'pending') window.result = 'refused'; };
</script>`;

let site;
let port;
let browser;
before(async () => {
  site = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  });
  await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
  port = site.address().port;
  // evil.test is a public-looking name that resolves to this machine, as with DNS rebinding.
  browser = await launchChromium({ extraArgs: ['--host-resolver-rules=MAP evil.test 127.0.0.1'] });
});
after(async () => {
  if (browser) await browser.close();
  if (site) site.close();
});

async function probe(url) {
  const page = await browser.newPage();
  tracePage(page, 'origin');
  try {
    await page.goto(url, { timeout: 20000 });
    await page.waitForFunction(() => window.result !== 'pending', null, { timeout: 15000 });
    return await page.evaluate(() => window.result);
  } finally {
    await page.close();
  }
}

/** The HTTP status of a handshake from Node with the given Origin (none when undefined). */
function handshakeStatus(origin) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(WS_URL, origin ? { origin } : {});
    ws.on('open', () => { ws.close(); resolve(101); });
    ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode); ws.terminate(); });
    ws.on('error', (e) => reject(e));
  });
}

describe('WebSocket Origin check', () => {
  test('a page from a foreign host name cannot open /kurento', { timeout: 60000 }, async () => {
    assert.equal(await probe(`http://evil.test:${port}/`), 'refused');
  });

  test('the same page from another loopback port opens it', { timeout: 60000 }, async () => {
    assert.equal(await probe(`http://127.0.0.1:${port}/`), 'open');
    assert.equal(await probe(`http://localhost:${port}/`), 'open');
  });

  test('Node clients: no Origin gets in, a forged foreign one is refused', { timeout: 30000 }, async () => {
    assert.equal(await handshakeStatus(undefined), 101);
    assert.equal(await handshakeStatus('http://evil.example'), 403);
  });
});
