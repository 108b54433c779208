"""Reading from an S3 API server gives the same results as reading the local folder."""

from __future__ import annotations

import uuid

import pytest

from analysis import io, run
from analysis.jobs import JOBS
from logdig.config import Settings
from logdig.storage import open_store

from .conftest import DAYS, definitions
from .test_parity import differences

pytestmark = pytest.mark.integration


def test_s3_and_local_agree(s3_server, generated, duck):
    settings = Settings(
        s3_endpoint=s3_server,
        s3_bucket=f"t-{uuid.uuid4().hex[:12]}",
        aws_access_key_id="test",
        aws_secret_access_key="test-secret",
    )
    s3 = open_store(settings)
    s3.ensure_bucket()
    for key in generated.dataset.keys:
        s3.put(key, generated.store.get(key))
    funnels, experiments = definitions()

    def results(settings, store):
        summary = run.analyze(duck, settings, store, DAYS, funnels=funnels, experiments=experiments)
        docs = {k: io.read_json(store, k) for k in summary.written}
        for doc in docs.values():
            doc.pop("generated_at")
        return summary.quality, docs

    local = results(generated.settings, generated.store)
    remote = results(settings, s3)
    assert len(local[1]) == len(JOBS) * len(DAYS) * 3  # every job, day and site
    assert differences(local[0], remote[0], "quality") + differences(local[1], remote[1], "results") == []
    report = io.read_json(s3, "results/_days/all/2026-11-25.json")
    assert report["objects"] == sorted(k for k in generated.dataset.keys if k.startswith("2026-11-25/"))
    assert report["bytes"] == sum(len(generated.store.get(k)) for k in report["objects"]) > 0
