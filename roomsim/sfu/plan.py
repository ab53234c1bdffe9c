"""Who receives which stream, and from which frame on: forwarding entries with capture-time
windows.

A layer switch cannot happen at an arbitrary packet: the subscriber must keep the old
layer until a keyframe of the new one, so every change is an entry (stream, subscriber)
valid for frames captured in [start, end). Decisions only ever move windows that lie in
the future (start/end >= the decision time), so a packet's fate is fixed at capture: the
SFU credits each receiver when a packet is sent (loss basis) with exactly the entries that
will forward it. Entries whose window closed more than `grace` ago (no packet of theirs
can still be in flight) are dropped.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from roomsim.sim.kernels_fanout import credit_entries, expand_entries

IntArray = npt.NDArray[np.int64]
INF = np.iinfo(np.int64).max
NEG_INF = np.iinfo(np.int64).min


class ForwardingTable:
    """(key, target) entries with windows, grouped by key (CSR)."""

    def __init__(
        self,
        n_keys: int,
        key: IntArray,
        target: IntArray,
        start: IntArray,
        end: IntArray,
        settled_before: int,
    ) -> None:
        order = np.lexsort((target, key))
        self.key = key[order]
        self.target = target[order]
        self.start = start[order]
        self.end = end[order]
        self.indptr = np.searchsorted(self.key, np.arange(n_keys + 1))
        self.count = np.diff(self.indptr)
        #: no window needs checking: every entry is open and older than any packet in flight
        self.exact = bool(((self.start <= settled_before) & (self.end == INF)).all())

    def expand(self, keys: IntArray, capture: IntArray) -> tuple[IntArray, IntArray, IntArray]:
        """For items with these keys and capture times: (item index, target) per entry whose
        window holds the capture time, and the number of such entries per item."""
        return expand_entries(
            keys, capture, self.indptr, self.target, self.start, self.end, self.exact
        )

    def credit(self, keys: IntArray, capture: IntArray, marker: npt.NDArray[np.bool_], audio: npt.NDArray[np.bool_],
               packets: IntArray, frames: IntArray, audio_frames: IntArray) -> None:
        """Add to each target the packets, frames (at markers) and audio frames of the items
        its entries forward (capture times matter only when not `exact`)."""
        credit_entries(keys, capture, marker, audio, self.indptr, self.target, self.start, self.end, self.exact,
                       packets, frames, audio_frames)


class ForwardingPlan:
    """The (stream, subscriber) entries and their windows."""

    def __init__(
        self, n_streams: int, n_participants: int, stream_track: IntArray, grace_ns: int
    ) -> None:
        self.n_streams = n_streams
        self.n = n_participants
        self.stream_track = stream_track
        self.n_tracks = int(stream_track.max()) + 1 if len(stream_track) else 1
        self.grace_ns = grace_ns
        self.stream = np.zeros(0, dtype=np.int64)
        self.sub = np.zeros(0, dtype=np.int64)
        self.start = np.zeros(0, dtype=np.int64)
        self.end = np.zeros(0, dtype=np.int64)
        self.version = 0

    def forwarding_now(self, stream: IntArray, sub: IntArray, now_ns: int) -> npt.NDArray[np.bool_]:
        """Whether each (stream, sub) has an entry covering frames captured at `now`."""
        live = (self.start <= now_ns) & (now_ns < self.end)
        have = np.sort(self.stream[live] * self.n + self.sub[live])
        want = stream * self.n + sub
        if len(have) == 0:
            return np.zeros(len(want), dtype=bool)
        return have[np.minimum(np.searchsorted(have, want), len(have) - 1)] == want  # np.isin, one sort

    def retarget(
        self,
        now_ns: int,
        sub: IntArray,
        track: IntArray,
        switch_ns: IntArray,
        new_stream: IntArray,
        new_owner: IntArray,
    ) -> None:
        """Change pairs (sub[i], track[i]) from `switch_ns[i]` on: their current entries end
        there; the new streams (`new_stream`, each owned by pair `new_owner`) start there."""
        if len(sub) == 0:
            return
        pair = sub * self.n_tracks + track
        order = np.argsort(pair)
        pair_sorted, switch_sorted = pair[order], switch_ns[order]
        entry_pair = self.sub * self.n_tracks + self.stream_track[self.stream]
        where = np.searchsorted(pair_sorted, entry_pair)
        where = np.minimum(where, len(pair_sorted) - 1)
        hit = pair_sorted[where] == entry_pair
        cut = np.where(hit, switch_sorted[where], INF)
        self.end = np.minimum(self.end, np.maximum(self.start, cut))
        self.stream = np.concatenate([self.stream, new_stream])
        self.sub = np.concatenate([self.sub, sub[new_owner]])
        self.start = np.concatenate([self.start, switch_ns[new_owner]])
        self.end = np.concatenate([self.end, np.full(len(new_stream), INF, dtype=np.int64)])
        self._compact(now_ns)

    def _compact(self, now_ns: int) -> None:
        keep = (self.start < self.end) & ((self.end == INF) | (self.end + self.grace_ns > now_ns))
        if not keep.all():
            self.stream, self.sub = self.stream[keep], self.sub[keep]
            self.start, self.end = self.start[keep], self.end[keep]
        self.version += 1

    def purge(self, now_ns: int) -> bool:
        """Drop entries that can no longer forward anything; True if some were dropped."""
        old = (self.end != INF) & (self.end + self.grace_ns <= now_ns)
        if old.any():
            self._compact(now_ns)
            return True
        return False

    def unsettled(self, now_ns: int) -> bool:
        """Whether some entry still needs its window checked."""
        return bool(((self.start > now_ns - self.grace_ns) | (self.end != INF)).any())

    def table(self, now_ns: int) -> ForwardingTable:
        """Entries keyed by stream (all nodes): what the SFU credits at the source."""
        return ForwardingTable(
            self.n_streams, self.stream, self.sub, self.start, self.end, now_ns - self.grace_ns
        )

    def wanted_streams(self, now_ns: int) -> npt.NDArray[np.bool_]:
        """Streams some entry will still forward frames captured from now on."""
        wanted = np.zeros(self.n_streams, dtype=bool)
        wanted[self.stream[self.end > now_ns]] = True
        return wanted
