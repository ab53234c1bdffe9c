"""What a scenario becomes before anything is simulated: the World.

`world` turns a Scenario into numpy tables (`streams`: one stream per layer of each
published track; participants; links; CPU pools), applying the per-participant `wire`
settings and the SVC layering (`svc`); `conversation` (who talks when) and `traces`
(time-varying links) are processes started on it; `rates` gives each stream's mean wire
rates in closed form, which the transports and the topologies' closed forms start from.
"""
