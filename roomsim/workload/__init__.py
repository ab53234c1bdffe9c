"""What a scenario becomes before anything is simulated: the World.

`world` turns a Scenario into numpy tables (participants, streams, links, CPU pools);
`conversation` (who talks when) and `traces` (time-varying links) are processes started on
it; `expected` gives the closed-form costs of that workload that the engines and tests
check against.
"""
