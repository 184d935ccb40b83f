#!/usr/bin/env node
// Drives the local stack's status page and player page in Debian's Chromium, as a person
// would: waits until the status page shows both AZs live, presses az1's "stop" button, waits
// until the page shows az1 dead (draining, stale or behind) and az2 live, presses "restart",
// waits until az1's ingest runs again, then opens the player page and waits until it shows
// the AZ it plays from and how far behind live it is. Prints one JSON line per step on stdout
// ({"event":"both_live"|"az1_dead"|"az1_restarted"|"player", "t": epoch ms, ...}) and exits 0;
// on a step that does not happen in time, prints {"event":"failed", ...} and exits 1.
//
// Usage: node tests/browser/status.mjs http://localhost:PORT [--chromium PATH]
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function die(message, code = 2) {
  process.stderr.write(`status.mjs: ${message}\n`);
  process.exit(code);
}

const argv = process.argv.slice(2);
let base = null;
let chromiumPath = "/usr/bin/chromium";
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--chromium") chromiumPath = argv[++i];
  else if (!base) base = argv[i].replace(/\/+$/, "");
  else die(`unknown argument ${argv[i]}`);
}
if (!base) die("usage: node status.mjs http://localhost:PORT [--chromium PATH]");
if (!existsSync(chromiumPath)) die(`${chromiumPath} is missing: apt-get install -y chromium`);
let chromium;
try {
  ({ chromium } = await import("playwright-core"));
} catch (e) {
  die(`playwright-core is missing (${e.message}): run \`npm ci --prefix tests/browser\``);
}

const emit = (obj) => process.stdout.write(`${JSON.stringify({ t: Date.now(), ...obj })}\n`);
const profile = mkdtempSync(join(tmpdir(), "zonecast-chromium-"));
const context = await chromium
  .launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--autoplay-policy=no-user-gesture-required",
      "--host-resolver-rules=MAP *.localhost 127.0.0.1",
    ],
  })
  .catch((e) => {
    rmSync(profile, { recursive: true, force: true });
    die(`cannot start ${chromiumPath}: ${e.message}`);
  });
async function finish(code) {
  await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  process.exit(code);
}

// What the status page shows of live/show per AZ, and of each ingest process, read from its DOM.
function readPage() {
  const table = document.querySelector('table.stream[data-name="live/show"]');
  const verdicts = {};
  const msns = {};
  for (const row of table ? table.querySelectorAll("tbody tr") : []) {
    verdicts[row.dataset.az] = row.querySelector(".verdict").textContent.trim();
    msns[row.dataset.az] = row.querySelector(".msn").textContent.trim();
  }
  const processes = {};
  for (const row of document.querySelectorAll("#ingests tbody tr")) {
    processes[row.dataset.az] = row.querySelector(".process").textContent.trim();
  }
  return { verdicts, msns, processes, message: document.getElementById("message").textContent };
}

const page = context.pages()[0] ?? (await context.newPage());
page.on("pageerror", (e) => process.stderr.write(`status.mjs: page error: ${e.message}\n`));

/** Polls the status page's DOM until `ok(facts)` holds, or fails the run after `ms`. */
async function waitFacts(what, ms, ok) {
  const deadline = Date.now() + ms;
  let facts = null;
  while (Date.now() < deadline) {
    facts = await page.evaluate(readPage).catch(() => null);
    if (facts && ok(facts)) return facts;
    await new Promise((r) => setTimeout(r, 200));
  }
  emit({ event: "failed", what, facts });
  await finish(1);
}

try {
  await page.goto(`${base}/status`);
  const dead = (v) => /^(draining|stale|behind)/.test(v ?? "");
  emit({
    event: "both_live",
    ...(await waitFacts("both AZs live, 3 segments each", 30000, (f) => f.verdicts.az1 === "live" && f.verdicts.az2 === "live" && Number(f.msns.az1) >= 2 && Number(f.msns.az2) >= 2)),
  });
  await page.click('button[data-az="az1"][data-action="stop"]');
  emit({
    event: "az1_dead",
    ...(await waitFacts(
      "az1 dead and stopped, az2 live",
      20000,
      (f) => dead(f.verdicts.az1) && f.verdicts.az2 === "live" && f.processes.az1 === "not running",
    )),
  });
  await page.click('button[data-az="az1"][data-action="restart"]');
  emit({
    event: "az1_restarted",
    ...(await waitFacts("az1's ingest running again", 20000, (f) => f.processes.az1.startsWith("running"))),
  });

  const player = await context.newPage();
  await player.goto(`${base}/?stream=live/show&mode=host`);
  const deadline = Date.now() + 30000;
  let shown = null;
  while (Date.now() < deadline) {
    shown = await player.evaluate(() => ({
      az: document.getElementById("azname").textContent,
      pathway: document.getElementById("pathway").textContent,
      latency: document.getElementById("latency").textContent,
      statusLink: !!document.querySelector('a[href="/status"]'),
    }));
    if (/^az[12]$/.test(shown.az) && / s/.test(shown.latency)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!(/^az[12]$/.test(shown.az) && / s/.test(shown.latency))) {
    emit({ event: "failed", what: "the player page shows its AZ and latency", shown });
    await finish(1);
  }
  emit({ event: "player", ...shown });
  await finish(0);
} catch (e) {
  emit({ event: "failed", what: String(e && e.message) });
  await finish(1);
}
