"""What a run produced: result models and writers, and the figures read out of a finished run.

`models` is the JSON contract (pydantic) and its atomic writers; `report_extras`,
`breakdown` and `quality` read per-participant figures out of a finished world; `gate`
judges a result against the scenario's quality gate.
"""
