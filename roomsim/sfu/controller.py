"""The SFU's control plane, run at tick boundaries: who gets which layer, and when.

At every control instant (each transport-feedback interval) the controller

1. feeds the feedback that reached the node to the per-subscriber estimators (`bwe`),
   finishes or aborts bandwidth probes;
2. closes the active-speaker window when one ends and reorders the rooms' speakers;
3. lays out every subscriber's screen (`layouts`) and allocates operating points within
   headroom x estimate (kernels_sfu.allocate_layers);
4. turns changed allocations into forwarding entries, requesting the keyframes the
   switches need (`publishers`, `plan`); pauses layers nobody wants (dynacast);
5. starts probes for subscribers held below what their path carried before.

Joins and leaves run steps 3-4 at the next tick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from roomsim.scenario.topology import SfuOptions, SpeakerOptions
from roomsim.sfu.layers import OperatingPoints, build_points
from roomsim.sfu.layouts import Layouts
from roomsim.sfu.plan import INF, ForwardingPlan
from roomsim.sfu.publishers import Publishers
from roomsim.sfu.speakers import Recency, SpeakerDetector
from roomsim.sim.kernels_sfu import allocate_layers
from roomsim.transport.feedback import FeedbackBuffer
from roomsim.transport.gcc import PADDING_WIRE_BYTES, GccEstimators, padding_times
from roomsim.workload.world import AUDIO, VIDEO, World

IntArray = npt.NDArray[np.int64]

#: LiveKit probe controller (pkg/sfu/streamallocator/probe_controller.go): wait 5 s between
#: probes, x1.5 after each failure up to 30 s; goal = usage + 120 % of the next step.
PROBE_WAIT_NS = 5_000_000_000
PROBE_WAIT_MAX_NS = 30_000_000_000
PROBE_BACKOFF = 1.5
PROBE_OVERSHOOT = 1.2
#: How long a probe sends padding (a modelling choice within LiveKit's 2 s trend wait).
PROBE_DURATION_NS = 1_000_000_000
#: Layer switches kept for the report (all are counted).
MAX_SWITCH_EVENTS = 5000


@dataclass
class Probe:
    """Probe state per subscriber."""

    active: npt.NDArray[np.bool_]
    start: IntArray
    end: IntArray
    goal: npt.NDArray[np.float64]
    padding_bps: npt.NDArray[np.float64]
    overused: npt.NDArray[np.bool_]
    next_allowed: IntArray
    wait: IntArray
    started: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    succeeded: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


class SfuController:
    """Estimators, speakers, layouts, allocation and the forwarding plan of one SFU run."""

    def __init__(
        self, world: World, options: SfuOptions, speakers: SpeakerOptions, grace_ns: int
    ) -> None:
        self.world = world
        self.options = options
        w = world
        st = w.streams
        n, m = len(w.participants), len(st)
        self.points: OperatingPoints = build_points(w, options.simulcast)
        self.track_points = np.diff(self.points.track_ptr)
        self.layouts = Layouts(w, self.points, options.layout, options.last_n, options.viewport)
        self.publishers = Publishers(w, options.keyframes)
        self.detector = SpeakerDetector(n, speakers)
        self.recency = Recency(w.room_members)
        self.plan = ForwardingPlan(m, n, st.track.astype(np.int64), grace_ns)
        self.gcc = options.bwe.estimator == "gcc"
        self.feedback_ns = round(options.bwe.feedback_ms * 1e6)
        self.bwe = GccEstimators(n, self.feedback_ns)
        self.started = np.zeros(n, dtype=bool)
        self.ceiling = np.zeros(n)
        self.adaptive = np.zeros(n, dtype=bool)
        #: who sends transport-wide feedback (RTCP over UDP): a WebSocket (TCP) subscriber
        #: reports nothing, so its estimate stays at its start-up probe of the downlink
        self.reports_feedback = np.array([p.group.transport.kind == "webrtc" for p in w.participants], dtype=bool)
        self.candidates = (st.pub >= 0) & (options.simulcast | st.top)
        self.pair_key = np.zeros(0, dtype=np.int64)
        self.pair_level = np.zeros(0, dtype=np.int64)
        self.usage: npt.NDArray[np.float64] = np.zeros(n)
        self.upgrade = np.full(n, np.inf)
        z = lambda dtype=np.int64, value=0: np.full(n, value, dtype=dtype)  # noqa: E731
        self.probe = Probe(
            z(bool, False),
            z(),
            z(),
            z(np.float64),
            z(np.float64),
            z(bool, False),
            z(),
            z(np.int64, PROBE_WAIT_NS),
            z(),
            z(),
        )
        self.switches = z()
        self.switch_events: list[dict[str, Any]] = []
        self.min_estimate = np.full(n, np.inf)
        self.wants_dirty = True
        self._last_budgets: npt.NDArray[np.float64] | None = None
        self.n_tracks = max(1, len(w.track_pub))
        self.track_kind = np.array(w.track_kind, dtype=np.int64)

    # -- membership ------------------------------------------------------------------------
    def join(self, now_ns: int, joined: list[int]) -> None:
        """New participants: start their estimators from a start-up probe of their downlink."""
        w = self.world
        if joined:
            who = np.array(joined, dtype=np.int64)
            rate = w.links.rate_bps[w.downlink[who]].astype(np.float64)
            rtt = (w.links.delay_ns[w.uplink[who]] + w.links.delay_ns[w.downlink[who]]) / 1e6
            self.bwe.start(who, rate, rtt)
            self.ceiling[who] = rate
            self.started[who] = True
            self.probe.next_allowed[who] = now_ns + PROBE_WAIT_NS
        self.wants_dirty = True

    # -- feedback --------------------------------------------------------------------------
    def feedback(self, now_ns: int, records: FeedbackBuffer) -> None:
        """Update estimators with the feedback that reached the node by `now`."""
        live = self.started & self.world.present & self.adaptive
        overused = self.bwe.update(now_ns, records, live)
        self.min_estimate = np.where(
            live, np.minimum(self.min_estimate, self.bwe.estimate), self.min_estimate
        )
        self._finish_probes(now_ns, overused)
        self.ceiling = np.where(live, np.maximum(self.ceiling, self.bwe.estimate), self.ceiling)

    def feedback_rows(self) -> IntArray:
        """Estimator row of each reporting subscriber (its own index), -1 for the others."""
        if getattr(self, "_rows_of", None) is not self.adaptive:
            self._rows_of = self.adaptive
            self._rows = np.where(self.adaptive, np.arange(len(self.adaptive)), -1).astype(np.int64)
        return self._rows

    def budgets(self) -> npt.NDArray[np.float64]:
        """What each subscriber may receive: headroom x estimate (or x configured downlink)."""
        w = self.world
        if self.gcc:
            estimate = np.where(self.started, self.bwe.estimate, np.inf)
        else:
            estimate = np.array([net.downlink_kbps * 1e3 for net in w.networks])
        return self.options.headroom * estimate

    # -- speakers ----------------------------------------------------------------------------
    def speakers(self, now_ns: int) -> None:
        """Close speaker windows that ended; reorder rooms whose speakers changed."""
        while self.detector.due(now_ns):
            levels = self.detector.update(self.detector.next_update_ns)
            if self.recency.promote(levels, self.detector.active() & self.world.present):
                self.wants_dirty = self.wants_dirty or self._layout_follows_speakers()

    def _layout_follows_speakers(self) -> bool:
        return self.options.last_n is not None or any(
            name != "all" for name in self.layouts.layout_of
        )

    # -- allocation ----------------------------------------------------------------------------
    def allocate(self, now_ns: int) -> bool:
        """Lay out, allocate, and retarget changed pairs; True if the plan changed."""
        w = self.world
        if self.wants_dirty:
            self._wants = self.layouts.pairs(w.present, self.recency.rank(len(w.participants)))
            self.wants_dirty = False
            sub, track, cap, _ = self._wants
            multi = (self.track_points[track] > 1) & (cap >= 0)
            self.adaptive = (np.bincount(sub[multi], minlength=len(w.participants)) > 0) & self.reports_feedback
            self._last_budgets = None
        sub, track, cap, sub_ptr = self._wants
        budgets = self.budgets()
        if self._last_budgets is not None and np.array_equal(budgets, self._last_budgets):
            return False  # same wants, same budgets: same allocation
        self._last_budgets = budgets
        level = np.empty(len(sub), dtype=np.int64)
        p = self.points
        allocate_layers(
            sub_ptr,
            track,
            cap,
            budgets,
            p.track_ptr,
            p.rate_bps,
            p.spatial,
            p.track_audio,
            self.options.allow_pause,
            level,
        )
        self._account(sub, track, cap, level)
        key = sub * self.n_tracks + track
        prev_key, prev_level = self.pair_key, self.pair_level
        order = np.argsort(prev_key)
        old = np.full(len(key), -1, dtype=np.int64)
        kept = np.zeros(len(prev_key), dtype=bool)  # previous pairs still wanted (keys are unique)
        if len(prev_key):
            sorted_keys = prev_key[order]
            where = np.minimum(np.searchsorted(sorted_keys, key), len(sorted_keys) - 1)
            found = sorted_keys[where] == key
            old[found] = prev_level[order][where][found]
            kept[order[where[found]]] = True
        gone = ~kept & (prev_level >= 0)
        changed = np.flatnonzero(old != level)
        self.pair_key, self.pair_level = key, level
        gone_keys = prev_key[gone]
        c_sub = np.concatenate([sub[changed], gone_keys // self.n_tracks])
        c_track = np.concatenate([track[changed], gone_keys % self.n_tracks])
        c_old = np.concatenate([old[changed], prev_level[gone]])
        c_new = np.concatenate([level[changed], np.full(len(gone_keys), -1, dtype=np.int64)])
        if len(c_sub) == 0:
            return False
        self._retarget(now_ns, c_sub, c_track, c_old, c_new)
        return True

    def _account(self, sub: IntArray, track: IntArray, cap: IntArray, level: IntArray) -> None:
        """Per subscriber: allocated rate, and the cheapest upgrade it is denied."""
        p = self.points
        n = len(self.world.participants)
        shown = level >= 0
        base = p.track_ptr[track]
        rate = np.where(shown, p.rate_bps[base + np.maximum(level, 0)], 0.0)
        self.usage = np.bincount(sub, weights=rate, minlength=n).astype(np.float64)
        nxt = base + level + 1
        has_next = shown & (nxt < p.track_ptr[track + 1])
        nxt = np.where(has_next, nxt, base)
        allowed = has_next & (p.spatial[nxt] <= cap)
        step = np.where(allowed, p.rate_bps[nxt] - rate, np.inf)
        upgrade = np.full(n, np.inf)
        np.minimum.at(upgrade, sub, step)
        self.upgrade = upgrade

    def _retarget(
        self, now_ns: int, sub: IntArray, track: IntArray, old: IntArray, new: IntArray
    ) -> None:
        w = self.world
        p = self.points
        switch = np.full(len(sub), now_ns, dtype=np.int64)
        showing = new >= 0
        key_stream = np.where(showing, p.key_stream[p.track_ptr[track] + np.maximum(new, 0)], 0)
        video = showing & (w.streams.kind[key_stream] == VIDEO)
        need_key = np.flatnonzero(video & ~self.plan.forwarding_now(key_stream, sub, now_ns))
        if len(need_key):  # one keyframe request per stream, in the order the pairs name them
            wanted = key_stream[need_key]
            streams, first, which = np.unique(wanted, return_index=True, return_inverse=True)
            at = np.zeros(len(streams), dtype=np.int64)
            for k in np.argsort(first, kind="stable"):
                at[k] = self.publishers.request_keyframe(int(streams[k]), now_ns)
            switch[need_key] = at[which]
        shown = np.flatnonzero(showing)
        point = p.track_ptr[track[shown]] + new[shown]
        lo, count = p.stream_ptr[point], p.stream_ptr[point + 1] - p.stream_ptr[point]
        owners = np.repeat(shown, count)  # every stream of each shown pair's point
        rank = np.arange(len(owners)) - np.repeat(np.cumsum(count) - count, count)
        self.plan.retarget(now_ns, sub, track, switch, p.streams[np.repeat(lo, count) + rank], owners)
        moved = (old >= 0) & showing & (self.track_kind[track] == VIDEO)
        np.add.at(self.switches, sub[moved], 1)
        for i in np.flatnonzero(moved)[: max(0, MAX_SWITCH_EVENTS - len(self.switch_events))]:
            t = int(track[i])
            self.switch_events.append(
                {
                    "t_s": round(now_ns / 1e9, 3),
                    "effective_s": round(int(switch[i]) / 1e9, 3),
                    "participant": w.participants[int(sub[i])].id,
                    "publisher": w.participants[w.track_pub[t]].id,
                    "track": t,
                    "from": self.point_label(t, int(old[i])),
                    "to": self.point_label(t, int(new[i])),
                }
            )

    def point_label(self, track: int, point: int) -> str:
        """A readable name for an operating point: resolution (and temporal layer for SVC)."""
        p = self.points
        i = p.track_ptr[track] + point
        s = int(p.key_stream[i])
        spec = self.world.streams.specs[s]
        label = spec.resolution or "audio"
        return f"{label}/T{int(p.temporal[i])}" if spec.svc_offset_ns >= 0 else label

    # -- dynacast and probes ------------------------------------------------------------------
    def dynacast(self, now_ns: int) -> None:
        """Pause layers nobody has wanted for the pause delay."""
        if not self.options.dynacast:
            return
        w = self.world
        live = self.candidates & w.present[np.maximum(w.streams.pub, 0)]
        self.publishers.dynacast(
            now_ns,
            self.plan.wanted_streams(now_ns),
            round(self.options.dynacast_pause_s * 1e9),
            self.publishers.is_video(),
            live,
        )

    def start_probes(self, now_ns: int) -> None:
        """Probe subscribers held below their path's best estimate so far."""
        if not (self.gcc and self.options.bwe.probe):
            return
        pr = self.probe
        h = self.options.headroom
        est = self.bwe.estimate
        goal = np.minimum((self.usage + PROBE_OVERSHOOT * self.upgrade) / h, self.ceiling)
        reachable = goal * h >= self.usage + self.upgrade
        start = (
            self.started
            & self.adaptive
            & self.world.present
            & ~pr.active
            & np.isfinite(self.upgrade)
            & (est < 0.99 * self.ceiling)
            & reachable
            & (now_ns >= pr.next_allowed)
            & (goal > self.usage)
        )
        who = np.flatnonzero(start)
        if len(who) == 0:
            return
        pr.active[who] = True
        pr.start[who] = now_ns
        pr.end[who] = now_ns + PROBE_DURATION_NS
        pr.goal[who] = goal[who]
        pr.padding_bps[who] = goal[who] - self.usage[who]
        pr.overused[who] = False
        pr.started[who] += 1
        self.bwe.begin_probe(who)

    def _finish_probes(self, now_ns: int, overused: npt.NDArray[np.bool_]) -> None:
        pr = self.probe
        pr.overused |= overused & pr.active
        sending = pr.active & (pr.end > now_ns)
        abort = sending & pr.overused
        pr.end[abort] = now_ns  # stop padding at once
        settle = np.round((self.bwe.rtt_ms + 2 * self.feedback_ns / 1e6) * 1e6).astype(np.int64)
        done = np.flatnonzero(pr.active & (pr.end + settle <= now_ns))
        if len(done) == 0:
            return
        rate = self.bwe.probe_rate(done)
        ok = ~pr.overused[done] & (rate >= 0.95 * pr.goal[done])
        good, bad = done[ok], done[~ok]
        self.bwe.raise_to(good, np.minimum(rate[ok], pr.goal[good]), now_ns)
        pr.succeeded[good] += 1
        pr.wait[good] = PROBE_WAIT_NS
        pr.wait[bad] = np.minimum(
            np.rint(pr.wait[bad] * PROBE_BACKOFF).astype(np.int64), PROBE_WAIT_MAX_NS
        )
        pr.next_allowed[done] = now_ns + pr.wait[done]
        pr.active[done] = False

    def padding(self, t0: int, t1: int) -> tuple[IntArray, IntArray]:
        """Probe padding packets to send in [t0, t1): (subscriber, send time)."""
        pr = self.probe
        who = np.flatnonzero(pr.active & (pr.end > t0) & (pr.padding_bps > 0))
        return padding_times(who, pr.start, pr.end, pr.padding_bps, t0, t1)

    # -- reporting -------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Figures for the run's details."""
        w = self.world
        per: dict[str, Any] = {}
        for i in np.flatnonzero(self.adaptive | (self.switches > 0)):
            per[w.participants[i].id] = {
                "estimate_kbps": round(float(self.bwe.estimate[i]) / 1e3, 1)
                if np.isfinite(self.bwe.estimate[i])
                else None,
                "min_estimate_kbps": round(float(self.min_estimate[i]) / 1e3, 1)
                if np.isfinite(self.min_estimate[i])
                else None,
                "layer_switches": int(self.switches[i]),
                "probes": int(self.probe.started[i]),
                "probes_ok": int(self.probe.succeeded[i]),
            }
        pub = self.publishers
        return {
            "bwe": {"estimator": self.options.bwe.estimator, "participants": per},
            "layer_switches": self.switch_events,
            "layer_switch_count": int(self.switches.sum()),
            "keyframes": {
                "requested": pub.requested,
                "sent": pub.sent,
                "extra_bytes": pub.sent_bytes,
            },
            "dynacast": {"paused_layer_seconds": round(float(pub.paused_ns.sum()) / 1e9, 3)},
            "speaker_changes": {
                w.scenario.rooms[r].id: int(c) for r, c in enumerate(self.recency.changes)
            },
        }

    def closed_form_plan(self, as_arrays: bool = False) -> tuple[Any, Any]:
        """Settled (stream, subscriber) pairs and the streams publishers keep sending (as
        lists, or with `as_arrays` as an (n, 2) array and an array)."""
        w = self.world
        plan = self.plan
        open_ = plan.end == INF
        live = self.candidates & w.present[np.maximum(w.streams.pub, 0)]
        never = np.iinfo(np.int64).max
        paused = (self.publishers.off_from < never) & (self.publishers.on_from == never)
        sending = np.flatnonzero(live & ~paused)
        if as_arrays:
            return np.stack([plan.stream[open_], plan.sub[open_]], axis=1), sending
        receive = list(zip(plan.stream[open_].tolist(), plan.sub[open_].tolist(), strict=True))
        return receive, [int(s) for s in sending]


__all__ = ["AUDIO", "PADDING_WIRE_BYTES", "SfuController", "build_points"]
