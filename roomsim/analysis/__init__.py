"""Everything drawn or written from results: terminal tables, run summaries, charts,
findings and the HTML report.

The only package that imports matplotlib (always the Agg backend, never pyplot); the
simulation core never imports it. `summary`, `settings` and `experiment` stay light so the
API and the sweep file model can use them without loading any plotting code.
"""
