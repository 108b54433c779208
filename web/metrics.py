"""Prometheus metrics, read from the counters every LogDig process keeps in Redis.

The collector's gunicorn workers and the flush worker are separate processes; the
counters live in one Redis hash (logdig/queue.py), so any scrape sees all of them.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, Metric
from redis.exceptions import RedisError

from logdig.queue import EventQueue

COUNTERS = {
    "accepted": ("logdig_events_accepted", "Events taken into the queue"),
    "duplicates": ("logdig_events_duplicate", "Events dropped as repeats of an event_id seen within the dedupe window"),
    "flushes": ("logdig_flushes", "Batches written to storage"),
    "objects_written": ("logdig_objects_written", "Objects written to storage"),
    "bytes_written": ("logdig_bytes_written", "Bytes written to storage"),
    "write_retries": ("logdig_write_retries", "Storage writes that failed and were retried"),
    "flush_failures": ("logdig_flush_failures", "Flushes that gave up after retries (the batch stays queued)"),
}


class StatsCollector:
    def __init__(self, queue: EventQueue):
        self.queue = queue

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("logdig_redis_up", "1 when Redis answered this scrape")
        try:
            stats = self.queue.stats()
            state = self.queue.state()
        except RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for field, (name, doc) in COUNTERS.items():
            yield CounterMetricFamily(name, doc, value=stats.get(field, 0))
        rejected = CounterMetricFamily(
            "logdig_events_rejected", "Events or requests refused, by reason", labels=["reason"]
        )
        for field, n in sorted(stats.items()):
            if field.startswith("rejected:"):
                rejected.add_metric([field.split(":", 1)[1]], n)
        yield rejected
        yield GaugeMetricFamily("logdig_queue_length", "Events waiting in the queue", value=state.length)
        yield GaugeMetricFamily(
            "logdig_inflight_events", "Events reserved by a flush, not yet acknowledged", value=state.inflight
        )


def registry_for(queue: EventQueue) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(queue))
    return registry
