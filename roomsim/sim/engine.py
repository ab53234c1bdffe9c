"""The tick loop: a simpy process that moves all packets of one time window per tick.

simpy drives what happens in time (joins and leaves, talk-spurts, and in later layers
congestion feedback and agent pipelines); the ticker hands each window [t0, t1) to the
topology, which pushes that window's frames and packets through its stages with numpy.
After capture stops the ticker keeps going until every packet has been delivered or
dropped, so every link's counters close (sent = delivered + dropped).
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import simpy

from roomsim.sim.metrics import NS


def run_ticks(env: simpy.Environment, tick_ns: int, end_capture_ns: int, horizon_ns: int,
              step: Callable[[int, int, bool], None], in_flight: Callable[[], int],
              on_tick: Callable[[float], None] | None = None) -> int:
    """Run ticks until capture has ended and nothing is in flight (or the horizon).

    `on_tick(simulated_s)` is told the end of each tick (a progress bar listens).

    Returns the end time (ns) of the last tick processed.
    """
    last_end = [0]

    def ticker() -> Generator[simpy.Event, None, None]:
        k = 0
        while True:
            t0, t1 = k * tick_ns, (k + 1) * tick_ns
            capturing = t0 < end_capture_ns
            if (not capturing and in_flight() == 0) or t0 >= horizon_ns:
                return
            step(t0, t1, capturing)
            last_end[0] = t1
            if on_tick is not None:
                on_tick(t1 / NS)
            k += 1
            yield env.timeout(t1 / NS - env.now)

    env.run(until=env.process(ticker()))
    return last_end[0]
