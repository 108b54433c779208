"""The analysis jobs: pure ``DataFrame -> DataFrame`` functions over clean events.

Input to every job is the output of ``analysis.run.clean_events``: valid, repeat-free,
non-bot events with the derived columns ``ts_ms``, ``day``, ``page`` and
``viewport_class``. Every output is keyed by ``token`` and ``day``.
"""

JOBS = ("heatmap", "pages", "visits", "funnels", "experiments", "goals")
