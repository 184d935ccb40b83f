// Tests for cloudfront/viewer-request.js. Run: node --test cloudfront/
// The function is loaded the way CloudFront sees it: as plain script text, with no module
// system, evaluated in a fresh context that exposes nothing but `handler`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const here = new URL('./', import.meta.url);
const source = readFileSync(new URL('viewer-request.js', here), 'utf8');
const cases = JSON.parse(
  readFileSync(new URL('../contract/testdata/edge_rewrite_cases.json', here), 'utf8'),
).cases;

function loadHandler() {
  const context = vm.createContext({});
  vm.runInContext(source, context, { filename: 'viewer-request.js' });
  assert.equal(typeof context.handler, 'function', 'viewer-request.js must define function handler(event)');
  return context.handler;
}

const sandboxed = loadHandler();
// Objects made inside the vm context have that context's prototypes; copy the result into
// this realm so deepStrictEqual compares values only.
const handler = (ev) => JSON.parse(JSON.stringify(sandboxed(ev)));

// A CloudFront Functions viewer-request event (version 1.0), reduced to what matters here.
function event(host, uri, extraHeaders = {}) {
  const headers = { ...extraHeaders };
  if (host !== undefined && host !== null) {
    headers.host = { value: host };
  }
  return {
    version: '1.0',
    context: { eventType: 'viewer-request' },
    viewer: { ip: '192.0.2.1' },
    request: { method: 'GET', uri, querystring: {}, headers, cookies: {} },
  };
}

test('the shared case table is not empty', () => {
  assert.ok(cases.length >= 10, `expected the shared table, got ${cases.length} cases`);
});

for (const c of cases) {
  test(`rewrite ${JSON.stringify(c.host)} ${c.uri} -> ${c.expect}`, () => {
    const out = handler(event(c.host, c.uri));
    assert.equal(out.uri, c.expect);
    const expectedViewerHost = c.viewer_host !== undefined ? c.viewer_host : c.host;
    if (expectedViewerHost === '') {
      assert.equal(out.headers['x-zonecast-viewer-host'], undefined);
    } else {
      assert.deepEqual(out.headers['x-zonecast-viewer-host'], { value: expectedViewerHost });
    }
  });
}

test('a missing Host header leaves the URI alone and sets no viewer host', () => {
  const out = handler(event(undefined, '/live/show/playlist.m3u8'));
  assert.equal(out.uri, '/live/show/playlist.m3u8');
  assert.equal(out.headers['x-zonecast-viewer-host'], undefined);
});

test('a viewer cannot choose x-zonecast-viewer-host', () => {
  const spoofed = { 'x-zonecast-viewer-host': { value: 'evil.example.net' } };
  const out = handler(event('media-hls-az2.example.com', '/live/show/chunklist.m3u8', spoofed));
  assert.deepEqual(out.headers['x-zonecast-viewer-host'], { value: 'media-hls-az2.example.com' });
  const none = handler(event('', '/live/show/playlist.m3u8', { ...spoofed }));
  assert.equal(none.headers['x-zonecast-viewer-host'], undefined);
});

test('other headers and fields pass through untouched', () => {
  const ev = event('media-hls-az1.example.com', '/live/show/1.ts', { 'user-agent': { value: 'hls.js' } });
  ev.request.querystring = { token: { value: 'abc' } };
  const out = handler(ev);
  assert.deepEqual(out.headers['user-agent'], { value: 'hls.js' });
  assert.deepEqual(out.headers.host, { value: 'media-hls-az1.example.com' });
  assert.deepEqual(out.querystring, { token: { value: 'abc' } });
  assert.equal(out.method, 'GET');
});

test('an AZ host cannot reach the other AZ through the path', () => {
  const out = handler(event('media-hls-az1.example.com', '/az2/live/show/1.ts'));
  assert.equal(out.uri, '/az1/az2/live/show/1.ts');
});

test('deployable as a CloudFront Function (plain script, under the 10 KB limit)', () => {
  assert.ok(Buffer.byteLength(source, 'utf8') < 10 * 1024);
  assert.doesNotMatch(source, /^\s*(import|export)\b/m);
  assert.doesNotMatch(source, /\brequire\s*\(/);
  assert.match(source, /^function handler\(event\) \{$/m);
});

// template.yaml embeds this file inline (CloudFront Functions cannot be packaged from a
// file by SAM). Extract the `FunctionCode: |` block scalar and compare it byte for byte.
function inlineFunctionCode(templateText) {
  const lines = templateText.split('\n');
  const start = lines.findIndex((l) => /^\s*FunctionCode: \|$/.test(l));
  assert.notEqual(start, -1, 'template.yaml has no `FunctionCode: |` block');
  const keyIndent = lines[start].search(/\S/);
  const body = [];
  let blockIndent = null;
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') {
      body.push('');
      continue;
    }
    const indent = line.search(/\S/);
    if (indent <= keyIndent) break;
    if (blockIndent === null) blockIndent = indent;
    assert.ok(indent >= blockIndent, `line ${i + 1} of template.yaml is under-indented in FunctionCode`);
    body.push(line.substring(blockIndent));
  }
  while (body.length > 0 && body[body.length - 1] === '') body.pop();
  return body.join('\n') + '\n'; // YAML `|` (clip): exactly one final newline
}

test('template.yaml embeds exactly this file', () => {
  const template = readFileSync(new URL('../template.yaml', here), 'utf8');
  assert.equal(inlineFunctionCode(template), source);
});
