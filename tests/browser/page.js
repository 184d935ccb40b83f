// Runs in the page: plays a multivariant URL with hls.js (default settings) in a muted video
// element, feeds a PlaybackMeter, and reports each event through `zcEmit` (exposed by play.mjs,
// which prints it as a JSON line).
import { PlaybackMeter, azOfUrl } from "./meter.js";

const SAMPLE_MS = 100;
const PROGRESS_MS = 1000;

const Hls = window.Hls;
const emit = (event, fields) =>
  window.zcEmit({ event, t: Math.round(performance.timeOrigin + performance.now()), ...fields });
const round3 = (x) => (Number.isFinite(x) ? Number(x.toFixed(3)) : null);

export function play(url) {
  const meter = new PlaybackMeter();
  const video = document.querySelector("video");
  video.muted = true;
  video.autoplay = true;
  const hls = new Hls();
  const now = () => performance.now();

  let announced = false;
  // After every input: the one `started` line, and a `stall` line per finished stall.
  const report = () => {
    if (meter.started && !announced) {
      announced = true;
      emit("started", { current_time: round3(video.currentTime), latency_s: round3(hls.latency) });
    }
    for (const e of meter.takeEpisodes()) emit("stall", { ms: e.ms, az: meter.currentAz });
  };
  video.addEventListener("waiting", () => {
    meter.waiting(now());
    report();
  });
  video.addEventListener("playing", () => {
    meter.playing(now());
    report();
  });

  hls.on(Hls.Events.FRAG_CHANGED, (_e, { frag }) => {
    const level = hls.levels[frag.level];
    const az = azOfUrl(frag.url);
    meter.fragChanged({ now: now(), sn: frag.sn, durationS: frag.duration, az });
    emit("frag", {
      sn: frag.sn,
      cc: frag.cc,
      duration_s: round3(frag.duration),
      level: frag.level,
      pathway: level ? level.pathwayId : null,
      az,
      url: frag.url,
    });
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_e, { level }) => {
    const l = hls.levels[level];
    emit("level", {
      level,
      pathway: l ? l.pathwayId : null,
      az: l ? azOfUrl(l.uri) : null,
      height: l ? l.height : null,
      bitrate: l ? l.bitrate : null,
    });
  });
  hls.on(Hls.Events.MANIFEST_PARSED, (_e, { levels }) => {
    emit("levels", {
      levels: levels.map((l) => ({ height: l.height, bitrate: l.bitrate, pathway: l.pathwayId })),
    });
  });
  hls.on(Hls.Events.LEVEL_LOADED, (_e, { details }) => {
    meter.levelLoaded({ live: details.live });
    if (!details.live) emit("endlist", { url: details.url });
  });
  hls.on(Hls.Events.ERROR, (_e, data) => {
    const e = {
      type: data.type,
      details: data.details,
      fatal: data.fatal,
      code: data.response ? data.response.code : null,
      url: data.url || (data.frag && data.frag.url) || (data.context && data.context.url) || null,
    };
    meter.error(e);
    emit("error", e);
  });

  setInterval(() => {
    meter.sample({
      now: now(),
      currentTime: video.currentTime,
      paused: video.paused,
      ended: video.ended,
      playbackRate: video.playbackRate,
      latencyS: hls.latency,
    });
    report();
  }, SAMPLE_MS);
  setInterval(() => {
    if (!meter.started) return;
    emit("progress", {
      played_s: round3(meter.playedS),
      az: meter.currentAz,
      az_played_s: round3(meter.currentAzPlayedS),
      rebuffer_ms: Math.round(meter.rebufferMs(now())),
      current_time: round3(video.currentTime),
      latency_s: round3(hls.latency),
    });
  }, PROGRESS_MS);

  hls.loadSource(url);
  hls.attachMedia(video);
  window.zcSummary = () => meter.summary(now());
  // `level N` on the harness's stdin: play level N from the next fragment on (as a viewer
  // picking a quality); -1 gives the choice back to the ABR controller.
  window.zcSetLevel = (n) => {
    hls.nextLevel = n;
  };
}
