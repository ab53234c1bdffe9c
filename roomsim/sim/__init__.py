"""The discrete-event core (simpy + numpy + numba).

Every compiled kernel lives in this package and is cached by `jit_cache` (one folder per
hash of this package's sources, in the user's cache directory, seeded at install time by
`precompile`), so this package's `__init__` has nothing to set up.
"""
