"""The `njit` every roomsim kernel is decorated with: numba's, after roomsim's kernel cache
locator is installed (roomsim.sim.jit_cache says why), so each kernel is filed under the
kernel key and can be compiled at install time."""

from __future__ import annotations

from numba import njit

from roomsim.sim.jit_cache import install_kernel_cache

install_kernel_cache()

__all__ = ["njit"]
