"""What a run produced: result models and writers, and the figures read out of a finished run.

`models` is the JSON contract (pydantic) and its atomic writers; `report_extras` and
`quality` read per-participant figures (latency breakdown, transport, MOS) out of a
finished world and topology; `gate` judges a result against the scenario's quality gate.
"""
