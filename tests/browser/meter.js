// What a viewer got out of a playback session, measured from the outside: media time played,
// time stalled, content skipped, which AZ each second came from. Pure (no DOM, no clock): the
// page feeds it samples and events with their times, so node --test can check the accounting.
// All times are milliseconds on one monotonic clock (performance.now() in the page).

/** A forward jump of currentTime beyond the wall time elapsed, larger than this, is a skip (s). */
export const JUMP_TOLERANCE_S = 0.1;
/** currentTime advancing by less than this in one sample is not advancing (s). */
const FROZEN_EPSILON_S = 0.001;

/** "media-hls-az2.localhost:8080" → "az2"; "/az1/live/show/3.ts" (path mode) → "az1". */
export function azOfUrl(url) {
  try {
    const u = new URL(url);
    const host = u.hostname.match(/^media-hls-(az\d+)\./);
    if (host) return host[1];
    const path = u.pathname.match(/^\/(az\d+)\//);
    return path ? path[1] : null;
  } catch {
    return null;
  }
}

/** Total length of the union of [start, end] intervals. */
export function unionMs(intervals) {
  const sorted = intervals.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let total = 0;
  let cur = null;
  for (const [a, b] of sorted) {
    if (cur && a <= cur[1]) {
      cur[1] = Math.max(cur[1], b);
    } else {
      if (cur) total += cur[1] - cur[0];
      cur = [a, b];
    }
  }
  if (cur) total += cur[1] - cur[0];
  return total;
}

const round = (x, digits) => Number(x.toFixed(digits));

export class PlaybackMeter {
  constructor() {
    this.startedAt = null;
    this.prev = null; // last sample: { now, currentTime }
    this.playedS = 0;
    this.stallIntervals = []; // [start, end] ms, after playback first started
    this.waitingSince = null;
    this.frozenSince = null;
    this.episodeStart = null; // start of the stall now open, waiting or frozen
    this.episodes = []; // finished stalls not yet taken: { start, end, ms }
    this.stallsMs = []; // every finished stall's length
    this.jumps = []; // { at, from, to, skipped_s }
    this.snGaps = []; // { at, from_sn, to_sn, skipped_s }
    this.lastFrag = null;
    this.azRuns = []; // { az, seconds }
    this.pendingPlayedS = 0; // played before the first fragment change named an AZ
    this.maxLatencyS = 0;
    this.sawEndlist = false;
    this.errors = [];
  }

  get started() {
    return this.startedAt !== null;
  }

  get currentAz() {
    return this.azRuns.length ? this.azRuns[this.azRuns.length - 1].az : null;
  }

  /** Seconds played since playback moved to the current AZ. */
  get currentAzPlayedS() {
    return this.azRuns.length ? this.azRuns[this.azRuns.length - 1].seconds : 0;
  }

  start(now) {
    if (this.startedAt === null) this.startedAt = now;
  }

  /** The media element's `waiting` event. */
  waiting(now) {
    if (this.started && this.waitingSince === null) this.waitingSince = now;
    this.updateEpisode();
  }

  /** The media element's `playing` event. */
  playing(now) {
    this.start(now);
    if (this.waitingSince !== null) {
      this.addStall(this.waitingSince, now);
      this.waitingSince = null;
    }
    this.updateEpisode();
  }

  addStall(start, end) {
    const last = this.stallIntervals[this.stallIntervals.length - 1];
    if (last && start >= last[0] && start <= last[1]) last[1] = Math.max(last[1], end);
    else this.stallIntervals.push([start, end]);
  }

  /** Opens a stall episode when waiting or frozen starts, closes it when both are over. */
  updateEpisode() {
    const starts = [this.waitingSince, this.frozenSince].filter((x) => x !== null);
    if (starts.length) {
      this.episodeStart = Math.min(this.episodeStart ?? Infinity, ...starts);
    } else if (!starts.length && this.episodeStart !== null) {
      const start = this.episodeStart;
      const end = Math.max(start, ...this.stallIntervals.map((i) => i[1]).slice(-4));
      this.episodes.push({ start, end, ms: Math.round(end - start) });
      this.stallsMs.push(Math.round(end - start));
      this.episodeStart = null;
    }
  }

  /** Stall episodes finished since the last call. */
  takeEpisodes() {
    return this.episodes.splice(0);
  }

  /** One poll of the media element (every ≤100 ms). */
  sample({ now, currentTime, paused, ended, playbackRate = 1, latencyS = null }) {
    const prev = this.prev;
    this.prev = { now, currentTime };
    if (!prev) return;
    const dMedia = currentTime - prev.currentTime;
    const dWallS = ((now - prev.now) / 1000) * playbackRate;
    if (!this.started) {
      // Playing means advancing at about wall speed: the player's seek to its start position
      // (the live sync point) is neither playback nor a skip.
      const advancing = dMedia > FROZEN_EPSILON_S && dMedia <= dWallS + JUMP_TOLERANCE_S;
      if (!paused && advancing) this.start(prev.now);
      else return;
    }
    if (Number.isFinite(latencyS) && latencyS > this.maxLatencyS) this.maxLatencyS = latencyS;
    if (paused || ended) {
      this.frozenSince = null;
      this.updateEpisode();
      return;
    }
    if (dMedia <= FROZEN_EPSILON_S) {
      // Not advancing while it should be: stalled for this whole sample period. A backwards
      // move (dMedia < 0) is a seek back, not content played.
      this.addStall(prev.now, now);
      if (this.frozenSince === null) this.frozenSince = prev.now;
      this.updateEpisode();
      return;
    }
    const excess = dMedia - dWallS;
    const played = excess > JUMP_TOLERANCE_S ? dWallS : dMedia;
    if (excess > JUMP_TOLERANCE_S) {
      this.jumps.push({
        at: now,
        from: round(prev.currentTime, 3),
        to: round(currentTime, 3),
        skipped_s: round(excess, 3),
      });
    }
    this.addPlayed(played);
    this.frozenSince = null;
    this.updateEpisode();
  }

  addPlayed(seconds) {
    this.playedS += seconds;
    const run = this.azRuns[this.azRuns.length - 1];
    if (run) run.seconds += seconds;
    else this.pendingPlayedS += seconds;
  }

  /**
   * hls.js FRAG_CHANGED: the fragment now playing. A jump in sequence numbers is content
   * skipped, less whatever a currentTime jump since the previous change already counted.
   */
  fragChanged({ now, sn, durationS, az }) {
    const last = this.lastFrag;
    if (last && Number.isFinite(sn) && Number.isFinite(last.sn) && sn > last.sn + 1) {
      const missingS = (sn - last.sn - 1) * (last.durationS || durationS || 0);
      const jumpedS = this.jumps.filter((j) => j.at >= last.now).reduce((s, j) => s + j.skipped_s, 0);
      const skipped = Math.max(0, missingS - jumpedS);
      this.snGaps.push({ at: now, from_sn: last.sn, to_sn: sn, skipped_s: round(skipped, 3) });
    }
    this.lastFrag = { now, sn, durationS };
    if (az && az !== this.currentAz) {
      this.azRuns.push({ az, seconds: this.azRuns.length ? 0 : this.pendingPlayedS });
    }
  }

  levelLoaded({ live }) {
    if (live === false) this.sawEndlist = true;
  }

  error(e) {
    this.errors.push(e);
  }

  /** Total stalled time so far, an open stall counted up to `now`. */
  rebufferMs(now) {
    const open = [];
    if (this.waitingSince !== null) open.push([this.waitingSince, now]);
    if (this.frozenSince !== null) open.push([this.frozenSince, now]);
    return unionMs([...this.stallIntervals, ...open]);
  }

  skippedS() {
    const sum = (xs) => xs.reduce((s, x) => s + x.skipped_s, 0);
    return sum(this.jumps) + sum(this.snGaps);
  }

  summary(now) {
    return {
      started: this.started,
      played_s: round(this.playedS, 3),
      rebuffer_ms: Math.round(this.rebufferMs(now)),
      stalls_ms: this.episodeStart === null ? this.stallsMs : [...this.stallsMs, Math.round(now - this.episodeStart)],
      skipped_s: round(this.skippedS(), 3),
      jumps: this.jumps,
      sn_gaps: this.snGaps,
      fatal_errors: this.errors.filter((e) => e.fatal),
      errors: this.errors,
      azs_played: this.azRuns.map((r) => ({ az: r.az, seconds: round(r.seconds, 3) })),
      saw_endlist: this.sawEndlist,
      max_latency_s: round(this.maxLatencyS, 3),
    };
  }
}
