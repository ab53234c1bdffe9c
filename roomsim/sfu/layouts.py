"""What each subscriber's screen shows, and so which tracks (and how big) it needs.

* `all`: every track, as large as the downlink allows (the tile size is not a limit);
* `speaker`: the most recent speaker at viewport size, the next four as thumbnails a
  quarter of the viewport high, nobody else (a modelling choice of a common speaker view);
* `livekit-loadtest`: LiveKit's load tester: one track at 720p, five at 180p, the rest off;
* `grid-NxN`: the N x N most recent speakers, each in a tile of viewport / N.

`last_n` additionally limits video to the N most recent speakers (Jitsi's last-N). Audio
is always forwarded. A tile of height h takes the smallest spatial layer at least h high,
as adaptive-stream clients request (LiveKit's adaptiveStream picks the layer for the
rendered element size). Priority within a subscriber: audio, then video by speaker
recency — the allocator serves tracks in that order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from roomsim.codecs.video_presets import VIDEO_PRESETS
from roomsim.sfu.layers import OperatingPoints
from roomsim.workload.world import World

IntArray = npt.NDArray[np.int64]

SPEAKER_THUMBNAILS = 4
#: `lk load-test`'s default ("speaker") layout: one track at the high layer (1280x720),
#: five at the low layer (320x180), every other video track off (livekit-cli
#: pkg/loadtester/loadtester.go, onTrackSubscribed: LayoutSpeaker, highHeight/lowHeight).
#: The tester gives the high slot to the first track it subscribes to; here it goes to the
#: most recent speaker, like every layout of this module.
LOADTEST_TILES = (720, 180, 180, 180, 180, 180)
NO_LIMIT = 1 << 30


def tile_heights(layout: str, viewport: str) -> list[int]:
    """Tile height (pixels) by recency rank among the others; beyond the list: not shown."""
    height = VIDEO_PRESETS[viewport][1]
    if layout == "speaker":
        return [height] + [height // 4] * SPEAKER_THUMBNAILS
    if layout == "livekit-loadtest":
        return list(LOADTEST_TILES)
    if layout.startswith("grid-"):
        n = int(layout.split("x")[1])
        return [height // n] * (n * n)
    return []


class Layouts:
    """Builds the (subscriber, track, spatial cap) pairs the allocator works on."""

    def __init__(
        self, world: World, points: OperatingPoints, layout: str, last_n: int | None, viewport: str
    ) -> None:
        self.world = world
        self.last_n = last_n
        self.tiles: dict[str, list[int]] = {}
        for p in world.participants:
            name = p.group.layout or layout
            if name not in self.tiles:
                self.tiles[name] = tile_heights(name, viewport)
        self.layout_of = [p.group.layout or layout for p in world.participants]
        self.track_pub = np.array(world.track_pub, dtype=np.int64)
        room_of = np.array([p.room for p in world.participants], dtype=np.int64)
        self.track_room = room_of[self.track_pub] if len(self.track_pub) else self.track_pub
        self.subscribes = np.array([p.group.subscribe for p in world.participants], dtype=bool)
        #: a SIP caller (a telephone) takes audio only
        self.audio_only = np.array([p.group.kind == "sip" for p in world.participants], dtype=bool)
        self.track_audio = points.track_audio
        # highest spatial layer of each track and its spatial heights, for the caps
        self.spatial_heights: list[dict[int, int]] = []
        for t in range(len(world.track_pub)):
            lo, hi = points.track_ptr[t], points.track_ptr[t + 1]
            heights: dict[int, int] = {}
            for s, h in zip(points.spatial[lo:hi], points.height[lo:hi], strict=True):
                heights[int(s)] = max(heights.get(int(s), 0), int(h))
            self.spatial_heights.append(heights)
        self._cap_cache: dict[tuple[int, int], int] = {}
        self._table: dict[int, IntArray] = {}
        self.room_of = room_of
        #: per room, its last pairs (sub, track, cap); and the presence and ranks they follow
        self._rooms: dict[int, tuple[IntArray, IntArray, IntArray]] = {}
        self._seen: tuple[npt.NDArray[np.bool_], IntArray] | None = None

    def cap(self, track: int, height: int) -> int:
        """Highest spatial layer a tile of `height` needs (NO_LIMIT: any)."""
        if height >= NO_LIMIT:
            return NO_LIMIT
        key = (track, height)
        if key not in self._cap_cache:
            heights = self.spatial_heights[track]
            fitting = [s for s, h in sorted(heights.items()) if h >= height]
            self._cap_cache[key] = fitting[0] if fitting else max(heights)
        return self._cap_cache[key]

    def _track_caps(self, height: int) -> IntArray:
        """Spatial cap of every track for a tile of `height` (cached per height)."""
        if height not in self._table:
            self._table[height] = np.array(
                [self.cap(t, height) for t in range(len(self.track_pub))], dtype=np.int64
            )
        return self._table[height]

    def _caps(
        self, track: IntArray, relative: IntArray, audio: npt.NDArray[np.bool_], heights: list[int]
    ) -> IntArray:
        caps = np.full(len(track), -1, dtype=np.int64)
        caps[audio] = 0
        video = ~audio
        if not heights:
            caps[video] = NO_LIMIT
        else:
            shown = video & (relative < len(heights))
            tile = np.array(heights, dtype=np.int64)[relative[shown]]
            values = np.empty(int(shown.sum()), dtype=np.int64)
            for height in np.unique(tile):
                pick = tile == height
                values[pick] = self._track_caps(int(height))[track[shown][pick]]
            caps[shown] = values
        if self.last_n is not None:
            caps[video & (relative >= self.last_n)] = -1
        return caps

    def pairs(
        self, present: npt.NDArray[np.bool_], rank: IntArray
    ) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """(sub, track, cap, sub_ptr): every subscriber's pairs in priority order; cap -1 =
        not shown, else the highest spatial layer wanted.

        Relative recency (rank among the others) is monotone in the room rank, so one sort
        of the room's tracks serves every subscriber of the room; a room whose presence and
        speaker order did not change reuses its last pairs."""
        w = self.world
        subs_out, tracks_out, caps_out = [], [], []
        track_room = self.track_room
        if self._seen is None or len(self._seen[1]) != len(rank):
            redo = set(range(len(w.room_members)))
        else:  # rooms where someone came, left or moved in the speaker order
            moved = (present != self._seen[0]) | (rank != self._seen[1])
            redo = set(self.room_of[moved].tolist())
        self._seen = (present.copy(), rank.copy())
        for r, members in enumerate(w.room_members):
            cached = self._rooms.get(r)
            if cached is not None and r not in redo:
                subs_out.append(cached[0])
                tracks_out.append(cached[1])
                caps_out.append(cached[2])
                continue
            subs_out.append(np.zeros(0, dtype=np.int64))
            tracks_out.append(np.zeros(0, dtype=np.int64))
            caps_out.append(np.zeros(0, dtype=np.int64))
            self._rooms[r] = (subs_out[-1], tracks_out[-1], caps_out[-1])
            subs = np.array(
                [p for p in members if present[p] and self.subscribes[p]], dtype=np.int64
            )
            tracks = np.flatnonzero((track_room == r) & present[self.track_pub])
            if len(subs) == 0 or len(tracks) == 0:
                continue
            pubs = self.track_pub[tracks]
            audio = self.track_audio[tracks]
            order = np.lexsort((tracks, rank[pubs], ~audio))
            tracks, pubs, audio = tracks[order], pubs[order], audio[order]
            own = pubs[None, :] == subs[:, None]
            relative = rank[pubs][None, :] - (rank[pubs][None, :] > rank[subs][:, None])
            caps = np.empty(own.shape, dtype=np.int64)
            for name in {self.layout_of[p] for p in subs}:
                rows = np.array([self.layout_of[p] == name for p in subs])
                caps[rows] = self._caps(
                    np.broadcast_to(tracks, own.shape)[rows].ravel(),
                    relative[rows].ravel(),
                    np.broadcast_to(audio, own.shape)[rows].ravel(),
                    self.tiles[name],
                ).reshape(int(rows.sum()), len(tracks))
            caps[self.audio_only[subs][:, None] & ~audio[None, :]] = -1
            keep = ~own
            subs_out[-1] = np.broadcast_to(subs[:, None], own.shape)[keep]
            tracks_out[-1] = np.broadcast_to(tracks, own.shape)[keep]
            caps_out[-1] = caps[keep]
            self._rooms[r] = (subs_out[-1], tracks_out[-1], caps_out[-1])
        cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)  # noqa: E731
        sub, track, cap = cat(subs_out), cat(tracks_out), cat(caps_out)
        sub_ptr = np.searchsorted(sub, np.arange(len(w.participants) + 1))
        return sub, track, cap, sub_ptr
