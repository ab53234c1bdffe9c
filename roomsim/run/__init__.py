"""One run, end to end: build the World, attach its runtimes, run a topology, collect results.

`runner` drives a topology through the tick loop; `runtimes` attaches agents, the data
plane and extensions; `budget` says what a run would cost before anything is allocated;
`media_run` runs the real-media (PyAV) MCU from a scenario.
"""
