"""Codecs: wire-level specs (one module per codec) and measured CPU cost profiles."""

from roomsim.codecs import av1, g711, h264, opus, vp8, vp9
from roomsim.codecs.base import CodecSpec, MediaKind

_SPECS: dict[str, CodecSpec] = {m.SPEC.name: m.SPEC for m in (opus, g711, vp8, vp9, h264, av1)}

AUDIO_CODECS = tuple(name for name, spec in _SPECS.items() if spec.kind == "audio")
VIDEO_CODECS = tuple(name for name, spec in _SPECS.items() if spec.kind == "video")


def get_codec(name: str) -> CodecSpec:
    """The spec of a codec by its lower-case name ("opus", "vp8", ...)."""
    try:
        return _SPECS[name]
    except KeyError:
        raise KeyError(f"unknown codec {name!r}; known: {', '.join(sorted(_SPECS))}") from None


__all__ = ["AUDIO_CODECS", "VIDEO_CODECS", "CodecSpec", "MediaKind", "get_codec"]
