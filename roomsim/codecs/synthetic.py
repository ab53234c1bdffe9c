"""Synthetic camera and microphone for each participant, generated with numpy.

No sample media is downloaded: every participant gets a source that is cheap to generate,
exactly reproducible from (seed, participant index), and easy to recognise after a lossy
round trip through encoders and an MCU:

* audio: a sine tone at a frequency no other participant uses, with a syllable-rate
  envelope; participants take turns talking (loud) while the others murmur (quiet), so an
  active-speaker detector has something to detect and every tone stays audible;
* video: a "talking head" test card in the participant's own dominant colour: a static
  textured background, a swaying head, a scrolling colour-bar strip, faint sensor noise,
  and the participant's label drawn with a built-in 5x7 bitmap font.

Frames are produced straight in I420 (yuv420p) so no colour conversion is charged to the
camera.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np

from roomsim.codecs.composite import planes

# 5x7 glyphs, one string per row ("#" = ink). Lower-case input is drawn upper-case.
_GLYPHS: dict[str, tuple[str, ...]] = {
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "C": (".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."),
    "D": ("###..", "#..#.", "#...#", "#...#", "#...#", "#..#.", "###.."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "G": (".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "I": (".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "J": ("..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."),
    "K": ("#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "M": ("#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"),
    "N": ("#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "Q": (".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "S": (".####", "#....", "#....", ".###.", "....#", "....#", "####."),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "U": ("#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "V": ("#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "W": ("#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
    "Y": ("#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."),
    "Z": ("#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"),
    "-": (".....", ".....", ".....", "#####", ".....", ".....", "....."),
    "_": (".....", ".....", ".....", ".....", ".....", ".....", "#####"),
    ".": (".....", ".....", ".....", ".....", ".....", ".##..", ".##.."),
    " ": (".....",) * 7,
}
GLYPH_WIDTH, GLYPH_HEIGHT = 5, 7
_UNKNOWN = ("#####", "#...#", "#...#", "#...#", "#...#", "#...#", "#####")


def render_text(text: str, scale: int = 1) -> np.ndarray:
    """Boolean ink mask of `text` in the 5x7 font, one blank column between glyphs.

    Unknown characters draw as a hollow box rather than vanishing, so a label never
    silently loses a character.
    """
    if not text:
        return np.zeros((GLYPH_HEIGHT * scale, 0), dtype=bool)
    columns: list[np.ndarray] = []
    for position, char in enumerate(text.upper()):
        rows = _GLYPHS.get(char, _UNKNOWN)
        glyph = np.array([[c == "#" for c in row] for row in rows], dtype=bool)
        if position:
            columns.append(np.zeros((GLYPH_HEIGHT, 1), dtype=bool))
        columns.append(glyph)
    mask = np.concatenate(columns, axis=1)
    return np.kron(mask, np.ones((scale, scale), dtype=bool)).astype(bool)


def label_scale(height: int) -> int:
    """Font scale that makes a label about an eighth of the frame height tall."""
    return max(1, round(height / (8 * GLYPH_HEIGHT)))


def label_origin(width: int, height: int) -> tuple[int, int]:
    """Top-left (x, y) of the label: inset from the corner by a fraction of the frame."""
    return (max(2, width // 32), max(2, height // 18))


def participant_rgb(index: int) -> tuple[int, int, int]:
    """Dominant colour of participant `index`: hues spread by the golden angle.

    Consecutive participants get hues ~222 degrees apart and no two of the first dozen are
    closer than ~20 degrees, so a colour check can tell any tile from the others.
    """
    hue = (index * 0.618033988749895) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.8, 0.75)
    return (round(red * 255), round(green * 255), round(blue * 255))


def rgb_to_yuv(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """BT.601 limited-range Y'CbCr of an 8-bit RGB colour (what yuv420p encoders assume)."""
    red, green, blue = (c / 255.0 for c in rgb)
    y = 16 + 65.481 * red + 128.553 * green + 24.966 * blue
    u = 128 - 37.797 * red - 74.203 * green + 112.0 * blue
    v = 128 + 112.0 * red - 93.786 * green - 18.214 * blue
    return (y, u, v)


def participant_yuv(index: int) -> tuple[float, float, float]:
    """Dominant colour of participant `index` in BT.601 limited-range Y'CbCr."""
    return rgb_to_yuv(participant_rgb(index))


def tone_hz(index: int, sample_rate: int = 48_000) -> float:
    """Tone frequency of participant `index`: 110 Hz apart, all under 3.4 kHz.

    3.4 kHz is the top of G.711's telephone band; after 28 participants the grid shifts by
    half a step (55 Hz) so tones stay distinct up to 56 participants, and an FFT over
    0.1 s (10 Hz bins) separates any two of them.
    """
    step, count = 110.0, 28
    frequency = 300.0 + step * (index % count) + (step / 2) * ((index // count) % 2)
    if frequency >= sample_rate / 2:
        raise ValueError(f"tone {frequency} Hz does not fit a {sample_rate} Hz stream")
    return frequency


#: dBFS levels of the talker and of everyone else (14 dB apart: clearly "the speaker",
#: yet every murmur stays tens of dB above the codec's noise floor).
TALK_DBFS = -12.0
MURMUR_DBFS = -26.0


def talker_at(time_s: float, participant_count: int, turn_s: float) -> int:
    """Index of the participant whose turn it is at `time_s` (round-robin turns)."""
    return int(time_s // turn_s) % participant_count


class AudioSource:
    """A participant's microphone: a steady tone, loud on its talking turns.

    The signal is computed from the absolute sample index, so frames are identical no
    matter how a run is chunked, and a tone's phase never jumps between frames.
    """

    def __init__(
        self, index: int, participant_count: int, sample_rate: int, turn_s: float = 2.0
    ) -> None:
        self.index = index
        self.participant_count = participant_count
        self.sample_rate = sample_rate
        self.turn_s = turn_s
        self.frequency_hz = tone_hz(index, sample_rate)
        self._block: np.ndarray | None = None
        self._block_start = 0

    #: samples generated per call to the signal model (1 s at 48 kHz); frames are slices
    BLOCK = 48_000

    def samples(self, start: int, count: int) -> np.ndarray:
        """`count` int16 samples starting at absolute sample `start`.

        Generated a block at a time and sliced, so a 20 ms frame costs a slice rather
        than a dozen numpy calls; values depend only on the absolute index either way.
        """
        block = self._block
        if block is None or not (self._block_start <= start
                                 and start + count <= self._block_start + block.size):
            block = self._generate(start, max(count, self.BLOCK))
            self._block, self._block_start = block, start
        offset = start - self._block_start
        return block[offset:offset + count].copy()

    def _generate(self, start: int, count: int) -> np.ndarray:
        n = np.arange(start, start + count, dtype=np.float64)
        t = n / self.sample_rate
        turn = (t // self.turn_s).astype(np.int64) % self.participant_count
        level = np.where(turn == self.index, TALK_DBFS, MURMUR_DBFS)
        amplitude = 32767.0 * 10.0 ** (level / 20.0)
        # syllable-rate envelope (4 Hz, 0.6..1.0) so levels move like speech
        envelope = 0.8 + 0.2 * np.sin(2 * np.pi * 4.0 * t + self.index)
        signal = amplitude * envelope * np.sin(2 * np.pi * self.frequency_hz * t)
        return np.round(signal).astype(np.int16)


class VideoSource:
    """A participant's camera: a labelled, moving test card in the participant's colour.

    Everything static (background texture, label, colour bars, head shape, noise bank) is
    built once; a frame is a few slice assignments, so generating it costs far less than
    encoding it.
    """

    #: frames in the noise bank (cycled); enough that the encoder sees changing noise
    NOISE_FRAMES = 4

    def __init__(self, label: str, index: int, width: int, height: int, fps: int,
                 seed: int = 0) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"I420 needs even dimensions, got {width}x{height}")
        self.label = label
        self.index = index
        self.width = width
        self.height = height
        self.fps = fps
        y, u, v = participant_yuv(index)
        rng = np.random.default_rng(np.random.SeedSequence([seed, index, 0x5EED]))

        rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
        texture = (
            6.0 * np.sin(2 * np.pi * cols / max(8.0, width / 7.3))
            * np.cos(2 * np.pi * rows / max(8.0, height / 5.1))
            + 4.0 * np.sin(2 * np.pi * (cols + rows) / max(8.0, width / 3.7))
            + 8.0 * (rows / height - 0.5)
        )
        self._luma = np.clip(y + texture, 16, 235).astype(np.uint8)
        self._cb = np.full((height // 2, width // 2), round(u), dtype=np.uint8)
        self._cr = np.full((height // 2, width // 2), round(v), dtype=np.uint8)

        # head: a lighter, less saturated ellipse of the same hue
        self._head_w = (width // 4) & ~1
        self._head_h = (height // 2) & ~1
        hy, hx = np.mgrid[0:self._head_h, 0:self._head_w]
        ellipse = ((hx - self._head_w / 2 + 0.5) / (self._head_w / 2)) ** 2 + (
            (hy - self._head_h / 2 + 0.5) / (self._head_h / 2)
        ) ** 2 <= 1.0
        self._head_mask = ellipse
        self._head_mask_c = ellipse[::2, ::2]
        self._head_y = np.uint8(min(235, y + 55))
        self._head_u = np.uint8(round(128 + 0.5 * (u - 128)))
        self._head_v = np.uint8(round(128 + 0.5 * (v - 128)))

        # scrolling colour bars along the bottom eighth (two periods, sliced per frame)
        self._bars_h = (height // 8) & ~1
        bar_colours = [(235, 235, 235), (235, 235, 16), (16, 235, 235), (16, 235, 16),
                       (235, 16, 235), (235, 16, 16), (16, 16, 235), (16, 16, 16)]
        bar_w = max(2, (width // len(bar_colours)) & ~1)
        period = bar_w * len(bar_colours)
        bars_yuv = np.array([rgb_to_yuv(c) for c in bar_colours])
        which = (np.arange(period + width + 2) // bar_w) % len(bar_colours)
        self._bars_period = period
        self._bars_y = np.round(bars_yuv[which, 0]).astype(np.uint8)
        self._bars_u = np.round(bars_yuv[which[::2], 1]).astype(np.uint8)
        self._bars_v = np.round(bars_yuv[which[::2], 2]).astype(np.uint8)

        # label: white ink with a black one-pixel outline, top-left
        scale = label_scale(height)
        ink = render_text(label, scale)
        outline = np.zeros((ink.shape[0] + 2, ink.shape[1] + 2), dtype=bool)
        for dy in range(3):
            for dx in range(3):
                outline[dy:dy + ink.shape[0], dx:dx + ink.shape[1]] |= ink
        x0, y0 = label_origin(width, height)
        oh = min(outline.shape[0], height - y0)
        ow = min(outline.shape[1], width - x0)
        self._label_slice = (slice(y0 - 1, y0 - 1 + oh), slice(x0 - 1, x0 - 1 + ow))
        patch = self._luma[self._label_slice].copy()
        patch[outline[:oh, :ow]] = 16
        inner = np.zeros_like(outline)
        inner[1:-1, 1:-1] = ink
        patch[inner[:oh, :ow]] = 235
        self._label_patch = patch
        self._label_ink = inner[:oh, :ow]
        # neutral chroma under the outlined label, so white ink stays white after 4:2:0
        ys, xs = self._label_slice
        self._label_slice_c = (slice(ys.start // 2, (ys.stop + 1) // 2),
                               slice(xs.start // 2, (xs.stop + 1) // 2))
        self._cb[self._label_slice_c] = 128
        self._cr[self._label_slice_c] = 128

        noise = rng.integers(-2, 3, size=(self.NOISE_FRAMES, height, width), dtype=np.int16)
        self._noise = noise.astype(np.int8)

    def head_position(self, frame_index: int) -> tuple[int, int]:
        """Top-left (x, y) of the head in frame `frame_index` (even, for I420 chroma)."""
        t = frame_index / self.fps
        centre_x = self.width / 2 + 0.12 * self.width * math.sin(2 * math.pi * t / 3.0)
        centre_y = self.height * 0.55 + 0.03 * self.height * math.sin(2 * math.pi * t / 1.7)
        x = int(centre_x - self._head_w / 2) & ~1
        y = int(centre_y - self._head_h / 2) & ~1
        x = min(max(0, x), self.width - self._head_w)
        y = min(max(0, y), self.height - self._head_h - self._bars_h)
        return (x, y)

    def frame(self, frame_index: int) -> np.ndarray:
        """Frame `frame_index` as a packed I420 array of shape (height * 3 // 2, width)."""
        width, height = self.width, self.height
        out = np.empty((height * 3 // 2, width), dtype=np.uint8)
        luma, cb, cr = planes(out, width, height)
        np.add(self._luma, self._noise[frame_index % self.NOISE_FRAMES], out=luma,
               casting="unsafe")
        cb[...] = self._cb
        cr[...] = self._cr

        x, y = self.head_position(frame_index)
        head = luma[y:y + self._head_h, x:x + self._head_w]
        head[self._head_mask] = self._head_y
        cy, cx = y // 2, x // 2
        mask_c = self._head_mask_c
        cb[cy:cy + mask_c.shape[0], cx:cx + mask_c.shape[1]][mask_c] = self._head_u
        cr[cy:cy + mask_c.shape[0], cx:cx + mask_c.shape[1]][mask_c] = self._head_v

        shift = (frame_index * max(2, width // 160)) % self._bars_period & ~1
        bars_top = height - self._bars_h
        luma[bars_top:, :] = self._bars_y[shift:shift + width]
        cb[bars_top // 2:, :] = self._bars_u[shift // 2:shift // 2 + width // 2]
        cr[bars_top // 2:, :] = self._bars_v[shift // 2:shift // 2 + width // 2]

        luma[self._label_slice] = self._label_patch
        return out

    @property
    def label_ink(self) -> np.ndarray:
        """Boolean mask of the label's white ink, in the coordinates of the label patch
        (which starts one pixel above and left of `label_origin`)."""
        return self._label_ink


# Vowel formants (F1, F2, F3 in Hz; Peterson & Barney 1952 male averages for
# /a/, /i/, /u/, /e/, /o/-like vowels): enough spectral motion to keep a speech codec busy.
_VOWELS = ((730.0, 1090.0, 2440.0), (270.0, 2290.0, 3010.0), (300.0, 870.0, 2240.0),
           (530.0, 1840.0, 2480.0), (570.0, 840.0, 2410.0))


def speech_like(sample_rate: int, start: int, count: int, seed: int = 0) -> np.ndarray:
    """A voice-like int16 signal: a gliding harmonic source shaped by changing formants.

    Four syllables a second with a pause every few seconds and a little breath noise, so
    a speech codec meets voiced frames, transitions and near-silence in realistic
    proportions. Used by calibration, where a pure tone would make Opus unrealistically
    cheap. The phase is a closed form of the absolute time, so chunks join seamlessly.
    """
    t = (start + np.arange(count, dtype=np.float64)) / sample_rate
    f0 = 130.0 + 30.0 * np.sin(2 * np.pi * 0.5 * t) + 10.0 * np.sin(2 * np.pi * 3.1 * t)
    phase = 2 * np.pi * (
        130.0 * t
        - 30.0 / (2 * np.pi * 0.5) * np.cos(2 * np.pi * 0.5 * t)
        - 10.0 / (2 * np.pi * 3.1) * np.cos(2 * np.pi * 3.1 * t)
    )
    syllable = np.floor(t * 4.0).astype(np.int64)
    vowel = np.array(_VOWELS)[(syllable * 7 + seed) % len(_VOWELS)]  # (count, 3)
    top = min(4000.0, sample_rate / 2 - 200.0)
    signal = np.zeros(count)
    for k in range(1, int(top // 100) + 1):
        frequency = k * f0
        gain = np.exp(-(((frequency[:, None] - vowel) / 120.0) ** 2)).sum(axis=1) + 0.05
        signal += np.where(frequency < top, gain / np.sqrt(k), 0.0) * np.sin(k * phase)
    envelope = np.sqrt(np.abs(np.sin(np.pi * (t * 4.0 % 1.0))))
    envelope = np.where((t // 1.7).astype(np.int64) % 3 == 2, 0.02, envelope)
    rng = np.random.default_rng(np.random.SeedSequence([seed, start, 0xB4EA7]))
    signal = envelope * signal / 4.0 + 0.01 * rng.standard_normal(count)
    return np.clip(np.round(signal * 0.6 * 32767), -32768, 32767).astype(np.int16)
