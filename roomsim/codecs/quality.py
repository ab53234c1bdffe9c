"""Objective video quality: PSNR and SSIM on 8-bit luma planes, in numpy only.

Both metrics are computed on luma (Y'), as video-codec evaluations report them (Y-PSNR,
Y-SSIM): chroma carries little of the detail a codec loses and would dilute the
difference between one and two generations of coding.

SSIM follows Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error
visibility to structural similarity", IEEE TIP 13(4), 2004: an 11x11 Gaussian window with
sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, mean of the map over the valid region (the
window never leaves the image), as in the authors' reference implementation. The Gaussian
is separable, so each local mean is two 1-D passes over sliding-window views.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: PSNR reported for identical images (finite, so JSON stays standard and means work)
PSNR_IDENTICAL_DB = 100.0

_WINDOW = 11
_SIGMA = 1.5
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def psnr(reference: np.ndarray, test: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB; `PSNR_IDENTICAL_DB` when the images are equal."""
    if reference.shape != test.shape:
        raise ValueError(f"shape mismatch: {reference.shape} vs {test.shape}")
    error = reference.astype(np.float64) - test.astype(np.float64)
    mse = float(np.mean(error * error))
    if mse == 0.0:
        return PSNR_IDENTICAL_DB
    return min(PSNR_IDENTICAL_DB, 10.0 * math.log10(peak * peak / mse))


def _gaussian() -> np.ndarray:
    offsets = np.arange(_WINDOW) - (_WINDOW - 1) / 2
    weights = np.exp(-(offsets**2) / (2 * _SIGMA**2))
    return weights / weights.sum()


_KERNEL = _gaussian()


def _filter(image: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local means over the valid region (two separable passes)."""
    rows = sliding_window_view(image, _WINDOW, axis=1) @ _KERNEL
    return sliding_window_view(rows, _WINDOW, axis=0) @ _KERNEL


def ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean structural similarity of two 8-bit planes (1.0 for identical images)."""
    if reference.shape != test.shape:
        raise ValueError(f"shape mismatch: {reference.shape} vs {test.shape}")
    if min(reference.shape) < _WINDOW:
        raise ValueError(f"SSIM needs at least {_WINDOW}x{_WINDOW} pixels, got {reference.shape}")
    x = reference.astype(np.float64)
    y = test.astype(np.float64)
    mu_x, mu_y = _filter(x), _filter(y)
    var_x = _filter(x * x) - mu_x * mu_x
    var_y = _filter(y * y) - mu_y * mu_y
    cov = _filter(x * y) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + _C1) * (2 * cov + _C2)
    denominator = (mu_x * mu_x + mu_y * mu_y + _C1) * (var_x + var_y + _C2)
    return float(np.mean(numerator / denominator))
