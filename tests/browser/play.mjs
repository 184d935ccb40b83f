#!/usr/bin/env node
// Plays a ZoneCast multivariant playlist with hls.js (default settings) in Debian's Chromium
// and prints what the viewer got, one JSON object per line on stdout:
//   {"event":"started"|"frag"|"level"|"levels"|"error"|"stall"|"endlist"|"progress", "t": epoch ms, ...}
// A `level N` line on stdin makes the player play level N from the next fragment on
// (`hls.nextLevel`; -1 is automatic).
// and, when told to stop (a `stop` line on stdin, stdin closing, SIGTERM/SIGINT, or
// --seconds N), {"event":"summary", played_s, rebuffer_ms, skipped_s, fatal_errors, azs_played,
// saw_endlist, max_latency_s, ...}. Exits non-zero with a message on stderr when it cannot
// measure (no Chromium, no node_modules, no H.264/AAC in MSE, a crashed page).
//
// Usage: node tests/browser/play.mjs URL [--seconds N] [--chromium PATH]
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const CODECS = 'video/mp4; codecs="avc1.64001f,mp4a.40.2"';

function die(message, code = 2) {
  process.stderr.write(`play.mjs: ${message}\n`);
  process.exit(code);
}

function parseArgs(argv) {
  const args = { url: null, seconds: null, chromium: "/usr/bin/chromium" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--seconds") args.seconds = Number(argv[++i]);
    else if (a === "--chromium") args.chromium = argv[++i];
    else if (!a.startsWith("--") && !args.url) args.url = a;
    else die(`unknown argument ${a}\nusage: node play.mjs URL [--seconds N] [--chromium PATH]`);
  }
  if (!args.url) die("usage: node play.mjs URL [--seconds N] [--chromium PATH]");
  if (args.seconds !== null && !(args.seconds > 0)) die("--seconds needs a positive number");
  return args;
}

/** hls.js from the lockfile, byte-identical to the copy the local edge serves. */
function loadHlsJs() {
  const npmCopy = join(here, "node_modules/hls.js/dist/hls.min.js");
  if (!existsSync(npmCopy)) die(`${npmCopy} is missing: run \`npm ci --prefix tests/browser\``);
  const served = join(here, "../../local/assets/hls.min.js");
  const bytes = readFileSync(npmCopy);
  if (existsSync(served) && !bytes.equals(readFileSync(served))) {
    die("tests/browser's hls.js differs from local/assets/hls.min.js: pin the same version in both");
  }
  return bytes;
}

const args = parseArgs(process.argv.slice(2));
const hlsJs = loadHlsJs();
if (!existsSync(args.chromium)) die(`${args.chromium} is missing: apt-get install -y chromium`);
let chromium;
try {
  ({ chromium } = await import("playwright-core"));
} catch (e) {
  die(`playwright-core is missing (${e.message}): run \`npm ci --prefix tests/browser\``);
}

// The page's own origin, served by us on loopback: Chromium's Local Network Access lets only a
// page in the loopback address space fetch from loopback (the edge), as the player page does.
const files = {
  "/": ["text/html", '<!doctype html><meta charset="utf-8"><video></video>'],
  "/hls.min.js": ["text/javascript", hlsJs],
  "/meter.js": ["text/javascript", readFileSync(join(here, "meter.js"))],
  "/page.js": ["text/javascript", readFileSync(join(here, "page.js"))],
};
const server = createServer((req, res) => {
  const file = files[new URL(req.url, "http://x").pathname];
  res.writeHead(file ? 200 : 404, { "content-type": file ? file[0] : "text/plain" });
  res.end(file ? file[1] : "not found");
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://zonecast-harness.localhost:${server.address().port}`;

const profile = mkdtempSync(join(tmpdir(), "zonecast-chromium-"));
const launchArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--autoplay-policy=no-user-gesture-required",
  "--host-resolver-rules=MAP *.localhost 127.0.0.1",
];
const context = await chromium
  .launchPersistentContext(profile, { executablePath: args.chromium, headless: true, args: launchArgs })
  .catch((e) => {
    rmSync(profile, { recursive: true, force: true });
    die(`cannot start ${args.chromium}: ${e.message}`);
  });
let finished = false;
async function finish(code = 0, summary = null) {
  if (finished) return;
  finished = true;
  if (summary) process.stdout.write(`${JSON.stringify({ event: "summary", t: Date.now(), ...summary })}\n`);
  await context.close().catch(() => {});
  server.close();
  rmSync(profile, { recursive: true, force: true });
  process.exit(code);
}

const page = context.pages()[0] ?? (await context.newPage());
page.on("crash", () => {
  process.stderr.write("play.mjs: the page crashed\n");
  finish(3);
});
page.on("pageerror", (e) => process.stderr.write(`play.mjs: page error: ${e.message}\n`));
await page.exposeFunction("zcEmit", (obj) => {
  if (!finished) process.stdout.write(`${JSON.stringify(obj)}\n`);
});
await page.goto(`${origin}/`);
await page.addScriptTag({ url: `${origin}/hls.min.js` });

const support = await page.evaluate((codecs) => ({
  userAgent: navigator.userAgent,
  mediaSource: typeof MediaSource === "function",
  h264Aac: typeof MediaSource === "function" && MediaSource.isTypeSupported(codecs),
  hlsJs: window.Hls ? window.Hls.version : null,
  hlsJsSupported: window.Hls ? window.Hls.isSupported() : false,
}), CODECS);
if (!support.h264Aac || !support.hlsJsSupported) {
  process.stderr.write(`play.mjs: this Chromium cannot play H.264/AAC through MSE: ${JSON.stringify(support)}\n`);
  await finish(4);
}
process.stdout.write(`${JSON.stringify({ event: "browser", t: Date.now(), ...support })}\n`);

await page.evaluate(async (url) => {
  const { play } = await import("/page.js");
  play(url);
}, args.url);

const stop = async () => {
  try {
    await finish(0, await page.evaluate(() => window.zcSummary()));
  } catch (e) {
    process.stderr.write(`play.mjs: no summary: ${e.message}\n`);
    await finish(3);
  }
};
// Stdin closing means whoever started us is gone (unless --seconds says how long to run).
createInterface({ input: process.stdin })
  .on("line", (line) => {
    const cmd = line.trim();
    if (cmd === "stop") stop();
    const level = /^level (-?\d+)$/.exec(cmd);
    if (level) page.evaluate((n) => window.zcSetLevel(n), Number(level[1])).catch(() => {});
  })
  .on("close", () => args.seconds || stop());
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
if (args.seconds) setTimeout(stop, args.seconds * 1000);
