"""LogDig analysis: heat maps, page statistics, funnels and A/B tests.

The jobs in ``analysis.jobs`` are pure ``DataFrame -> DataFrame`` functions written
against the PySpark DataFrame API. They run unchanged on DuckDB (embedded, through
sqlframe) and on Apache Spark. Reading raw objects and writing results happen at the
edges, in ``analysis.io`` and ``analysis.run``.
"""
