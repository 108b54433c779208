"""Your own Spark session on LogDig's raw objects: a starting point for a notebook.

Run it as a script (``python analysis/notebook_example.py``) or paste the cells into
Jupyter. Without ``LOGDIG_S3_ENDPOINT`` it reads the local folder ``LOGDIG_DATA_DIR``;
with it, ``s3a://`` (needs hadoop-aws; the ``deploy/spark`` image has it and its
``spark-defaults.conf`` points s3a at MinIO).
"""

# %% A session, and where the raw events are
import os
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from analysis.jobs import heatmap, pages
from analysis.schema import check, dedupe, struct_type

spark = SparkSession.builder.appName("my-logdig-notebook").config("spark.sql.session.timeZone", "UTC").getOrCreate()
if os.environ.get("LOGDIG_S3_ENDPOINT"):
    root = f"s3a://{os.environ.get('LOGDIG_S3_BUCKET', 'logdig')}"
else:
    root = Path(os.environ.get("LOGDIG_DATA_DIR", "./logdig-data")).resolve().as_uri()

# %% Raw events: one JSON object a line, one folder per UTC day. A glob over the day
# folders never picks up results/ (the results live under their own prefix).
events = spark.read.json(f"{root}/20[0-9][0-9]-*/*.jsonl")
events.printSchema()
events.groupBy("type").count().show()

# %% Your own question: the ten pages with the most clicks from phones this week
(
    events.filter((F.col("type") == "click") & (F.col("viewport_w") < 768))
    .groupBy("current_page")
    .count()
    .orderBy(F.desc("count"))
    .show(10, truncate=False)
)

# %% Or LogDig's own jobs: the same typed read and checks as `logdig analyze`
from pyspark.sql import types as T  # noqa: E402

typed = (
    spark.read.schema(struct_type(T, corrupt_column=True))
    .option("columnNameOfCorruptRecord", "_corrupt_record")
    .json(f"{root}/20[0-9][0-9]-*/*.jsonl")
    .withColumn("day", F.regexp_extract(F.input_file_name(), r"/(\d{4}-\d{2}-\d{2})/[^/]+$", 1))
    .withColumn("_corrupt", F.col("_corrupt_record").isNotNull())
    .drop("_corrupt_record")
)
clean = dedupe(check(typed).filter(F.col("_reason").isNull()).drop("_reason")).filter(
    F.coalesce(F.col("bot"), F.lit(False)) == False  # noqa: E712 - a column
)
pages.views(clean).orderBy(F.desc("views")).show(10, truncate=False)
heatmap.grid(clean).orderBy(F.desc("clicks")).show(10)
