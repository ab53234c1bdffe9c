"""Lessons whose quoted numbers cannot drift from the code.

Each lesson folder under experiments/lessons/ has a `lesson.yaml` manifest: the roomsim
commands that produce its results, the charts its README shows, and every number its prose
quotes, each as a query over those results (`quotes.py`). `python -m roomsim.lessons
rebuild` reruns every lesson, copies its charts into `figures/`, stores compact results in
`results/` and writes each number into the README between `<!--n:NAME-->` and `<!--/n-->`.
`python -m roomsim.lessons check` (and the test suite) recomputes every quoted number from
the committed results and re-runs each lesson's scenarios briefly against the committed
fingerprint, so a hand-edited number or a code change that moves a lesson fails loudly.
"""
