from __future__ import annotations

import pytest

from logdig.config import ConfigError, Settings


def test_defaults_and_environment_overrides():
    s = Settings.from_env({"LOGDIG_BATCH_MIN": "5", "LOGDIG_S3_ENDPOINT": "http://minio:9000", "AWS_REGION": ""})
    assert s.batch_min == 5 and s.s3_endpoint == "http://minio:9000" and s.aws_region == "us-east-1"
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize(
    "env, message",
    [
        ({"LOGDIG_MAX_WAIT": "soon"}, "LOGDIG_MAX_WAIT must be a whole number"),
        ({"LOGDIG_QUEUE_MAX": "0"}, "at least 1"),
        ({"LOGDIG_BATCH_MIN": "500", "LOGDIG_BATCH_MAX": "100"}, "must not exceed"),
    ],
)
def test_bad_values_name_the_setting(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)
