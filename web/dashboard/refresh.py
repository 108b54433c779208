"""The "Refresh now" button: today's analysis for one site, on demand.

``POST /dashboard/refresh`` (``token``, ``next``, the CSRF token) takes the site's lock
(logdig.refresh: one run at a time per site; a second click while one runs gets a 409 page
saying so), hands the run to whoever runs jobs, waits up to ``WAIT_SECONDS`` for it and
sends the browser back to the page it came from with the outcome as a message. The run is
``worker.jobs.refresh``: a forced flush (so a click sent a second ago is in), then today's
analysis for that site.

Who runs it: under compose and `logdig worker`, an rq worker (the job is enqueued by name,
at the front of the queue; this module never imports ``worker``); `logdig dev`, which has
no rq worker, puts a function under ``refresh_runner`` in the app's extensions that runs it
in a thread of its own process. With no worker running the click is refused, not queued
for ever.

Each web process caches result documents for 30 s (``results.Results``); ``sync_cache``
drops a site's cached documents in every process once it sees a newer finished run.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from logdig.queue import JOBS
from logdig.refresh import JOB_TIMEOUT, QUEUED_SECONDS, Refreshes
from web.dashboard import timefmt
from web.dashboard.auth import _safe_next

WAIT_SECONDS = 20.0  # the click's request waits this long for the run, then shows the page anyway
JOB = "worker.jobs.refresh_job"


def ctx() -> dict:
    return current_app.extensions["logdig"]


def _runs() -> Refreshes:
    return Refreshes(ctx()["redis"], ctx()["clock"])


def _now() -> datetime:
    return datetime.fromtimestamp(ctx()["clock"](), UTC)


def sync_cache(token: str) -> None:
    """Forget this process' cached results of ``token`` once a newer refresh finished."""
    last = _runs().last(token) if token else None
    if not last or not last.get("ok"):
        return
    seen = current_app.extensions.setdefault("logdig_refreshes_seen", {})
    if seen.get(token) != last.get("id"):
        reader = current_app.extensions.get("logdig_dashboard")
        if reader is not None:
            reader.forget(token)
        seen[token] = last.get("id")


def hint(token: str) -> str:
    """The line beside the button: what it does, and the last refresh."""
    every = ctx()["settings"].analyze_today_interval
    text = "Writes out the queued events and analyses today for this site now"
    text += f" (the schedule does it every {timefmt.span(every)} when new events arrived)." if every else "."
    last = _runs().last(token) if token else None
    if last and last.get("finished"):
        when = datetime.fromtimestamp(last["finished"], UTC)
        if last.get("ok"):
            text += f" Last refreshed at {timefmt.utc_text(when)} ({last.get('seconds', 0):.1f} s)."
        else:
            text += f" The last refresh, at {timefmt.utc_text(when)}, failed."
    return text


def _enqueue(token: str, run_id: str) -> str | None:
    """Hand the run to an rq worker; the reason it cannot be, or None."""
    from rq import Queue, Worker

    queue = Queue(JOBS, connection=ctx()["redis"])
    if not Worker.count(queue=queue):
        return "no logdig worker is running to do it (start `logdig worker`; under compose, the worker service)"
    queue.enqueue(
        JOB,
        token,
        run_id,
        job_id=f"logdig-refresh-{run_id}",
        job_timeout=JOB_TIMEOUT,
        ttl=QUEUED_SECONDS,  # not started by then: dropped; the lock expires soon after
        result_ttl=3600,
        failure_ttl=86400,
        at_front=True,  # before queued flushes and analyses, after the job running now
    )
    return None


def _still_queued(run_id: str) -> bool:
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        return Job.fetch(f"logdig-refresh-{run_id}", connection=ctx()["redis"]).get_status() == "queued"
    except NoSuchJobError:
        return False


def refresh():
    token = request.form.get("token", "")
    site = ctx()["sites"].get(token) if token else None
    if site is None:
        abort(400, "token: no site has this token")
    back = _safe_next(request.form.get("next")) or url_for("dashboard.ui.overview", token=token)
    runs = _runs()
    run_id = runs.start(token)
    if run_id is None:
        held = runs.running(token) or {}
        started = held.get("started")
        since = f", started {timefmt.ago(datetime.fromtimestamp(started, UTC), _now())}" if started else ""
        message = (
            f"A refresh of {site.name} is already running{since}. Its tables show when it ends; "
            "go back and reload the page in a moment."
        )
        return render_template("dashboard/refresh.html", message=message, back=back), 409
    runner = ctx().get("refresh_runner")
    try:
        problem = runner(token, run_id) if runner else _enqueue(token, run_id)
    except Exception:
        runs.cancel(token, run_id, "could not be started")
        raise
    if problem:
        runs.cancel(token, run_id, problem)
        flash(f"Not refreshed: {problem}.", "error")
        return redirect(back, 303)
    outcome = runs.wait(token, run_id, WAIT_SECONDS)
    if outcome is None:
        why = (
            "it waits for the worker, busy with another job (a scheduled analysis)"
            if not runner and _still_queued(run_id)
            else "it is still running"
        )
        flash(f"Refreshing {site.name}: {why}. Reload this page in a moment for the fresh tables.", "warn")
    elif outcome.get("ok"):
        sync_cache(token)
        written = outcome.get("flushed_events", 0)
        flash(
            f"Refreshed {site.name}: today's tables are from now ({outcome.get('seconds', 0):.1f} s; "
            f"{written} queued event{'' if written == 1 else 's'} written out first).",
            "ok",
        )
    else:
        flash(f"The refresh of {site.name} failed: {outcome.get('error')}. The scheduled analysis still runs.", "error")
    return redirect(back, 303)


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/refresh", "refresh", refresh, methods=["POST"])
    bp.context_processor(lambda: {"refresh_hint": hint})
