"""Entry point for spark-submit: the `logdig` analysis commands on the active Spark.

    spark-submit [--master URL] deploy/spark/submit.py analyze --engine spark [--from DATE] [--to DATE]

A file outside the ``analysis`` package, so the script's folder on sys.path cannot
shadow standard modules (``analysis/io.py`` would shadow ``io``).
"""

from analysis.cli import main

if __name__ == "__main__":
    main()
