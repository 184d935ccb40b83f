// The harness's accounting, on synthetic samples: node --test tests/browser/
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { PlaybackMeter, azOfUrl, unionMs } from "../meter.js";

const file = (rel) => readFileSync(new URL(rel, import.meta.url));

test("hls.js from the lockfile is byte-identical to the one the local edge serves", () => {
  const npm = file("../node_modules/hls.js/dist/hls.min.js");
  const served = file("../../../local/assets/hls.min.js");
  assert.ok(npm.equals(served), "pin the same hls.js version in tests/browser and local/assets");
  const lock = JSON.parse(file("../package-lock.json"));
  assert.equal(lock.packages["node_modules/hls.js"].version, "1.7.4");
});

test("AZ from host mode and path mode URLs", () => {
  assert.equal(azOfUrl("http://media-hls-az2.localhost:8080/live/show/3.ts"), "az2");
  assert.equal(azOfUrl("http://127.0.0.1:8080/az1/live/show/3.ts"), "az1");
  assert.equal(azOfUrl("http://media-hls.localhost:8080/live/show/playlist.m3u8"), null);
  assert.equal(azOfUrl("not a url"), null);
});

test("union of overlapping stall intervals", () => {
  assert.equal(unionMs([[0, 100], [50, 150], [300, 400], [390, 395]]), 250);
  assert.equal(unionMs([]), 0);
});

/** Plays `seconds` of wall time at 100 ms samples; `media(t)` gives currentTime at wall ms t. */
function run(meter, fromMs, toMs, media, extra = {}) {
  for (let t = fromMs; t <= toMs; t += 100) meter.sample({ now: t, currentTime: media(t), paused: false, ended: false, ...extra });
}

test("undisturbed playback: all played, no stall, nothing skipped", () => {
  const m = new PlaybackMeter();
  m.fragChanged({ now: 0, sn: 10, durationS: 2, az: "az1" });
  run(m, 0, 10_000, (t) => 30 + t / 1000);
  for (let sn = 11; sn < 15; sn++) m.fragChanged({ now: (sn - 10) * 2000, sn, durationS: 2, az: "az1" });
  const s = m.summary(10_000);
  assert.ok(Math.abs(s.played_s - 10) < 1e-6, s.played_s);
  assert.equal(s.rebuffer_ms, 0);
  assert.equal(s.skipped_s, 0);
  assert.deepEqual(s.azs_played, [{ az: "az1", seconds: 10 }]);
});

test("a frozen currentTime and a waiting event count once", () => {
  const m = new PlaybackMeter();
  run(m, 0, 2000, (t) => t / 1000);
  m.waiting(2050);
  run(m, 2100, 4000, () => 2); // frozen 2000..4000
  m.playing(4000);
  run(m, 4100, 5000, (t) => 2 + (t - 4000) / 1000);
  const s = m.summary(5000);
  assert.equal(s.rebuffer_ms, 2000);
  assert.deepEqual(s.stalls_ms, [2000]);
  assert.deepEqual(m.takeEpisodes().map((e) => e.ms), [2000]);
  assert.ok(Math.abs(s.played_s - 3) < 1e-6);
  assert.equal(s.skipped_s, 0);
});

test("an open stall counts up to now; paused and ended are not stalls", () => {
  const m = new PlaybackMeter();
  run(m, 0, 1000, (t) => t / 1000);
  run(m, 1100, 1500, () => 1, { paused: true });
  run(m, 1600, 2000, () => 1, { ended: true });
  assert.equal(m.summary(2000).rebuffer_ms, 0);
  run(m, 2100, 3000, () => 1);
  assert.equal(m.summary(3500).rebuffer_ms, 1500);
});

test("a forward jump is skipped content, and not counted again as a sequence gap", () => {
  const m = new PlaybackMeter();
  m.fragChanged({ now: 0, sn: 1, durationS: 2, az: "az1" });
  run(m, 0, 1000, (t) => t / 1000);
  m.sample({ now: 1100, currentTime: 5.1, paused: false, ended: false }); // +4.1 s in 0.1 s
  m.fragChanged({ now: 1100, sn: 3, durationS: 2, az: "az1" });
  const s = m.summary(1100);
  assert.equal(s.skipped_s, 4);
  assert.equal(s.sn_gaps[0].skipped_s, 0);
  assert.ok(Math.abs(s.played_s - 1.1) < 1e-6);
});

test("a sequence gap on a continuous timeline is skipped content", () => {
  const m = new PlaybackMeter();
  m.fragChanged({ now: 0, sn: 7, durationS: 2, az: "az1" });
  run(m, 0, 4000, (t) => t / 1000);
  m.fragChanged({ now: 2000, sn: 9, durationS: 2, az: "az2" });
  const s = m.summary(4000);
  assert.equal(s.skipped_s, 2);
  assert.deepEqual(s.azs_played.map((r) => r.az), ["az1", "az2"]);
});

test("the seek to the start position before playback is not a skip", () => {
  const m = new PlaybackMeter();
  m.sample({ now: 0, currentTime: 0, paused: false, ended: false });
  m.sample({ now: 100, currentTime: 2.07, paused: false, ended: false });
  assert.equal(m.started, false);
  run(m, 200, 1200, (t) => 2.07 + (t - 100) / 1000);
  const s = m.summary(1200);
  assert.equal(m.started, true);
  assert.equal(s.skipped_s, 0);
  assert.ok(Math.abs(s.played_s - 1.1) < 1e-6, s.played_s); // from 100 ms on
});

test("nothing counts before playback starts; ENDLIST and fatal errors are kept", () => {
  const m = new PlaybackMeter();
  run(m, 0, 3000, () => 0);
  assert.equal(m.started, false);
  run(m, 3100, 4000, (t) => (t - 3000) / 1000);
  m.levelLoaded({ live: true });
  m.error({ type: "networkError", details: "levelLoadError", fatal: false, code: 503 });
  m.error({ type: "mediaError", details: "bufferStalledError", fatal: true, code: null });
  m.levelLoaded({ live: false });
  const s = m.summary(4000);
  assert.equal(s.rebuffer_ms, 0);
  assert.equal(s.saw_endlist, true);
  assert.equal(s.errors.length, 2);
  assert.equal(s.fatal_errors.length, 1);
});
