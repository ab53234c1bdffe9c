"""Quality proxies without media files: an E-model MOS for audio, a transparent proxy for video.

Audio follows the ITU-T G.107 E-model (06/2015), narrowband, all parameters at their
defaults (Table 3: SLR 8, RLR 2, STMR 15, TELR 65 dB, WEPL 110 dB, No -61.18 dBm0p, qdu 1,
A 0) except the three the simulation measures:

* Ta = T = Tr/2: the mouth-to-ear delay (capture to playout, from the run);
* Ppl: frames not played (lost on the way, or discarded late by the jitter buffer);
* the codec's Ie and Bpl.

    R = (Ro - Is) - Id - Ie,eff                         sec. 7.1, with A = 0
    Ro - Is = 94.77 - 1.41 = 93.36                      sec. 7.2-7.3 at the defaults
    Id = Idte(T) + Idle(Tr) + Idd(Ta)                   sec. 7.4
    Ie,eff = Ie + (95 - Ie) Ppl / (Ppl / BurstR + Bpl)  sec. 7.5, random loss: BurstR = 1
    MOS = 1 + 0.035 R + R (R - 60)(100 - R) 7e-6        Annex B (1 below R = 0, 4.5 above 100)

With no delay and no loss this gives R = 93.2, the recommendation's default rating.

Codec values: G.711 has Ie = 0 and, with packet-loss concealment (G.711 Appendix I),
Bpl = 25.1 under random loss (ITU-T G.113 (11/2007) Appendix I, Tables I.1 and I.3).
No ITU-T value for Opus was found: G.113's wideband and fullband appendices predate it
in the editions searched, and Opus's maintainer knew of none (xiph/opus issue #51, 2017).
Opus is therefore given G.711's narrowband values, a modelling choice: at call bitrates
Opus is at least transparent on the narrowband scale and it conceals loss.

Video has no comparable parametric standard we can feed from a simulation (ITU-T P.1203
needs bitstream details), so its score is a proxy, stated here in full: resolution and
frame rate each score on a log scale and the share of frames not shown (freezes) scales
the result down:
    q_res = log2(pixels / 90p) / log2(1080p / 90p),  q_fps = ln(1 + fps) / ln(31)
    video MOS = 1 + 4 * clip(q_res) * clip(q_fps) * (1 - frozen share)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from roomsim.codecs.costs import RESOLUTIONS

#: Ro - Is with every G.107 parameter at its default (see module docstring).
RO_MINUS_IS = 93.36
_NO = -61.18  # total noise, dBm0p, at the defaults
_RLR, _TELR, _WEPL = 2.0, 65.0, 110.0
_RO = 15 - 1.5 * (8 + _NO)


@dataclass(frozen=True)
class CodecImpairment:
    """E-model equipment impairment Ie and packet-loss robustness Bpl, with the source."""

    ie: float
    bpl: float
    source: str


CODEC_IMPAIRMENT = {
    "g711": CodecImpairment(0.0, 25.1, "ITU-T G.113 (11/2007) App. I, Tables I.1/I.3 (with PLC, random loss)"),
    "opus": CodecImpairment(0.0, 25.1, "no ITU-T value found; G.711+PLC values used (modelling choice)"),
}


def delay_impairment(ta_ms: float) -> float:
    """Id(Ta) of G.107 sec. 7.4 with default echo parameters, T = Ta, Tr = 2 Ta."""
    t = max(0.0, ta_ms)
    terv = _TELR - 40 * math.log10((1 + t / 10) / (1 + t / 150)) + 6 * math.exp(-0.3 * t * t)
    roe = -1.5 * (_NO - _RLR)
    re = 80 + 2.5 * (terv - 14)
    idte = ((roe - re) / 2 + math.sqrt((roe - re) ** 2 / 4 + 100) - 1) * (1 - math.exp(-t))
    rle = 10.5 * (_WEPL + 7) * (2 * t + 1) ** -0.25
    idle = (_RO - rle) / 2 + math.sqrt((_RO - rle) ** 2 / 4 + 169)
    idd = 0.0
    if t > 100:
        x = math.log10(t / 100) / math.log10(2)
        idd = 25 * ((1 + x**6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2)
    return idte + idle + idd


def effective_equipment_impairment(codec: str, loss_pct: float, burst_ratio: float = 1.0) -> float:
    """Ie,eff of G.107 sec. 7.5 for a codec at a packet-loss percentage."""
    c = CODEC_IMPAIRMENT.get(codec, CODEC_IMPAIRMENT["opus"])
    ppl = max(0.0, loss_pct)
    return c.ie + (95 - c.ie) * ppl / (ppl / burst_ratio + c.bpl)


def r_to_mos(r: float) -> float:
    """G.107 Annex B."""
    if r < 0:
        return 1.0
    if r > 100:
        return 4.5
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6


def audio_r(mouth_to_ear_ms: float, loss_pct: float, codec: str = "opus") -> float:
    """E-model rating R."""
    return RO_MINUS_IS - delay_impairment(mouth_to_ear_ms) - effective_equipment_impairment(codec, loss_pct)


def audio_mos(mouth_to_ear_ms: float, loss_pct: float, codec: str = "opus") -> float:
    """E-model MOS (conversational quality estimate)."""
    return r_to_mos(audio_r(mouth_to_ear_ms, loss_pct, codec))


_LOW = RESOLUTIONS["90p"][0] * RESOLUTIONS["90p"][1]
_HIGH = RESOLUTIONS["1080p"][0] * RESOLUTIONS["1080p"][1]


def video_mos(pixels: float, fps: float, frozen_share: float) -> float:
    """The video proxy of the module docstring."""
    if pixels <= 0 or fps <= 0:
        return 1.0
    q_res = min(1.0, max(0.0, math.log2(pixels / _LOW) / math.log2(_HIGH / _LOW)))
    q_fps = min(1.0, max(0.0, math.log(1 + fps) / math.log(31)))
    return 1 + 4 * q_res * q_fps * (1 - min(1.0, max(0.0, frozen_share)))
