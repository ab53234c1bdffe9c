"""MCU video compositing and audio mixing on decoded media (numpy + FFmpeg's swscale).

One implementation serves two callers: calibration times it to fill the cost profile, and
the real-media MCU runs it, so the profile's composite and mix figures are the cost of the
very code the MCU executes.

Frames are packed I420 arrays (`height * 3 // 2` rows: Y, then U, then V); a tile is scaled
with `VideoFrame.reformat` (swscale, bilinear, as MCUs built on FFmpeg or libyuv do) and
copied into the canvas plane by plane. Tile geometry keeps the sources' 16:9 aspect and
even coordinates (I420 chroma is subsampled 2x2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import VideoReformatter

#: swscale filter for tile scaling: bilinear is the usual realtime choice (cheap, no ringing)
SCALE_INTERPOLATION = "BILINEAR"

# One reformatter for the process: it keeps swscale contexts between calls instead of
# building one per tile.
_REFORMATTER = VideoReformatter()

#: the blank canvas colour (black in limited-range Y'CbCr)
BLACK_Y, BLACK_C = 16, 128


@dataclass(frozen=True)
class Tile:
    """A rectangle of the output frame, in luma pixels (all four values even)."""

    x: int
    y: int
    width: int
    height: int


def _fit(box_w: float, box_h: float, aspect: float) -> tuple[int, int]:
    """Largest even (width, height) of `aspect` that fits the box."""
    width = min(box_w, box_h * aspect)
    height = width / aspect
    return (int(width) & ~1, int(height) & ~1)


def grid_tiles(count: int, width: int, height: int, aspect: float = 16 / 9) -> list[Tile]:
    """`count` equal tiles on a near-square grid, each centred in its cell."""
    if count <= 0:
        return []
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    cell_w, cell_h = width / cols, height / rows
    tile_w, tile_h = _fit(cell_w, cell_h, aspect)
    tiles = []
    for i in range(count):
        row, col = divmod(i, cols)
        x = int(col * cell_w + (cell_w - tile_w) / 2) & ~1
        y = int(row * cell_h + (cell_h - tile_h) / 2) & ~1
        tiles.append(Tile(x, y, tile_w, tile_h))
    return tiles


def speaker_tiles(count: int, width: int, height: int, aspect: float = 16 / 9) -> list[Tile]:
    """Active-speaker layout: tile 0 large on top, the other `count - 1` in a bottom strip.

    The strip is a quarter of the height and holds at least four thumbnails' worth of
    width, so thumbnails do not grow when only one or two others are present.
    """
    if count <= 0:
        return []
    if count == 1:
        return [Tile(*_centred(width, height, _fit(width, height, aspect)))]
    strip_h = (height // 4) & ~1
    main_w, main_h = _fit(width, height - strip_h, aspect)
    tiles = [Tile((width - main_w) // 2 & ~1, 0, main_w, main_h)]
    slots = max(4, count - 1)
    cell_w = width / slots
    thumb_w, thumb_h = _fit(cell_w, strip_h, aspect)
    used = (count - 1) * cell_w
    left = (width - used) / 2
    for i in range(count - 1):
        x = int(left + i * cell_w + (cell_w - thumb_w) / 2) & ~1
        tiles.append(Tile(x, (height - strip_h) & ~1, thumb_w, thumb_h))
    return tiles


def _centred(width: int, height: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    tile_w, tile_h = size
    return ((width - tile_w) // 2 & ~1, (height - tile_h) // 2 & ~1, tile_w, tile_h)


def blank_canvas(width: int, height: int) -> np.ndarray:
    """A black packed-I420 frame."""
    canvas = np.empty((height * 3 // 2, width), dtype=np.uint8)
    canvas[:height] = BLACK_Y
    canvas[height:] = BLACK_C
    return canvas


def planes(packed: np.ndarray, width: int, height: int) -> tuple[np.ndarray, ...]:
    """Y, U, V views into a packed I420 array (no copies).

    Offsets are taken on the flat buffer: when height / 2 is odd a chroma plane does not
    fill whole rows of the packed array (e.g. a 160x90 tile).
    """
    flat = packed.reshape(-1)
    luma_size, chroma_size = width * height, (width // 2) * (height // 2)
    luma = flat[:luma_size].reshape(height, width)
    cb = flat[luma_size:luma_size + chroma_size].reshape(height // 2, width // 2)
    cr = flat[luma_size + chroma_size:luma_size + 2 * chroma_size].reshape(
        height // 2, width // 2)
    return (luma, cb, cr)


def scale_frame(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """Scale a decoded frame to (width, height) and return it as packed I420."""
    if frame.width == width and frame.height == height and frame.format.name == "yuv420p":
        return frame.to_ndarray()
    scaled = _REFORMATTER.reformat(frame, width=width, height=height, format="yuv420p",
                                   interpolation=SCALE_INTERPOLATION, threads=1)
    return scaled.to_ndarray()


def place(canvas: np.ndarray, canvas_w: int, canvas_h: int, tile: Tile,
          image: np.ndarray) -> None:
    """Copy a packed-I420 image of the tile's size into the canvas at the tile."""
    dst_y, dst_u, dst_v = planes(canvas, canvas_w, canvas_h)
    src_y, src_u, src_v = planes(image, tile.width, tile.height)
    dst_y[tile.y:tile.y + tile.height, tile.x:tile.x + tile.width] = src_y
    cx, cy, cw, ch = tile.x // 2, tile.y // 2, tile.width // 2, tile.height // 2
    dst_u[cy:cy + ch, cx:cx + cw] = src_u
    dst_v[cy:cy + ch, cx:cx + cw] = src_v


def composite(frames: list[av.VideoFrame], tiles: list[Tile], width: int,
              height: int) -> np.ndarray:
    """One composite output frame: every frame scaled into its tile on a black canvas."""
    canvas = blank_canvas(width, height)
    for frame, tile in zip(frames, tiles, strict=True):
        place(canvas, width, height, tile, scale_frame(frame, tile.width, tile.height))
    return canvas


def mix(inputs: list[np.ndarray], samples: int) -> np.ndarray:
    """Sum int16 inputs in int32 and clip back to int16, as an audio MCU mixes.

    An empty input list gives silence; inputs shorter than `samples` (a decoder that has
    not caught up) are summed over the part they cover.
    """
    accumulator = np.zeros(samples, dtype=np.int32)
    for pcm in inputs:
        n = min(samples, pcm.shape[-1])
        accumulator[:n] += pcm.reshape(-1)[:n]
    np.clip(accumulator, -32768, 32767, out=accumulator)
    return accumulator.astype(np.int16)
