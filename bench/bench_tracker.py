"""Tracker: compressed size of clicktracker.js, and main-thread time per click in Chromium.

    python3 bench/bench_tracker.py [--clicks 1000] [--runs 3]

Size: gzip level 9 (Python's gzip, mtime 0, as tests/browser/test_build.py measures
it) and brotli quality 11 (node's zlib.brotliCompressSync) of
clicktracker/dist/clicktracker.js. Baseline: Plausible's published script size,
2,560 bytes; ratio = 2,560 / ours, target 1.25 (2,048 bytes).

Click cost: the fixture page clicktracker/fixtures/index.html, served with COOP/COEP
headers so the page is cross-origin isolated and performance.now() ticks in 5 us
rather than 100 us, is loaded twice in Chromium: with the tracker and without it.
The page dispatches --clicks synthetic clicks (rotating over a button, a link, a
data-logdig card and an input button; a window listener prevents navigation) and
times each dispatchEvent() with performance.now(); dispatch is synchronous, so that
is the time of every click listener. A 10 ms pause after each click lets the tracker
send (the collector answers 202 at once), so the outbox stays short as on a real page.
The tracker's cost per click = median with - median without (median of --runs).
Target 0.1 ms. Also printed: the same with the collector down (events pile up; since the
tracker keeps its outbox in memory and persists it on its send timer, a click no longer
touches localStorage, so this is the click cost while sends are failing).
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from common import bench_line, machine, median, need

from tests.helpers import system_chromium
from web.tracker import TRACKER_FILE, install_tag, render_page

PLAUSIBLE = 2560  # bytes, Plausible's published script size
TARGET_MS = 0.1

CLICKS_JS = """
async ([n, pause]) => {
  const targets = ['#buy', '#link-products', '#card', '#input-button'].map((s) => document.querySelector(s));
  window.addEventListener('click', (e) => e.preventDefault());
  const times = [];
  const outbox = [];
  for (let i = 0; i < n; i++) {
    const el = targets[i % targets.length];
    const r = el.getBoundingClientRect();
    const ev = new MouseEvent('click', {bubbles: true, cancelable: true, view: window,
                                        clientX: r.left + 3 + (i % 7), clientY: r.top + 3});
    const t0 = performance.now();
    el.dispatchEvent(ev);
    times.push(performance.now() - t0);
    if (i % 50 == 0) outbox.push((JSON.parse(localStorage.logdig_q || '[]')).length);
    if (pause) await new Promise((ok) => setTimeout(ok, pause));
  }
  return {times, outbox, isolated: self.crossOriginIsolated};
}
"""


def sizes() -> tuple[int, int, int]:
    data = TRACKER_FILE.read_bytes()
    gz = len(gzip.compress(data, compresslevel=9, mtime=0))
    br = int(
        subprocess.run(
            [
                "node",
                "-e",
                "const z=require('zlib');const d=require('fs').readFileSync(process.argv[1]);"
                "console.log(z.brotliCompressSync(d,{params:{[z.constants.BROTLI_PARAM_QUALITY]:11}}).length)",
                str(TRACKER_FILE),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    return len(data), gz, br


class Site(BaseHTTPRequestHandler):
    """The fixture page with or without the tracker; /logs answers 202 (or 503 when down)."""

    down = False

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/with.html"):
            tag = install_tag("bench-token", src="/clicktracker.js", endpoint="/logs")
            self._send(200, render_page("index.html", tag).encode(), "text/html")
        elif self.path.startswith("/without.html"):
            self._send(200, render_page("index.html", "").encode(), "text/html")
        elif self.path.startswith("/clicktracker.js"):
            self._send(200, TRACKER_FILE.read_bytes(), "text/javascript")
        else:
            self._send(404, b"", "text/plain")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if Site.down:
            self._send(503, b'{"error":"down"}', "application/json")
            return
        n = len(json.loads(body)) if body.startswith(b"[") else 1
        self._send(202, json.dumps({"accepted": n, "duplicates": 0, "rejected": []}).encode(), "application/json")


def clicks(browser, base: str, page_name: str, n: int, pause: int) -> dict:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/{page_name}")
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)  # the tracker is async: let it load and send its page view
    result = page.evaluate(CLICKS_JS, [n, pause])
    context.close()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clicks", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pause", type=int, default=10, help="ms after each click")
    args = ap.parse_args()
    need("node", "chromium")
    print(f"tracker: {machine()}")
    raw, gz, br = sizes()
    print(f"  clicktracker.js: {raw} bytes, gzip -9 {gz} bytes, brotli 11 {br} bytes (Plausible: {PLAUSIBLE})")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    with_ms, without_ms, outboxes = [], [], []
    try:
        with system_chromium() as browser:
            for run in range(args.runs):
                a = clicks(browser, base, "with.html", args.clicks, args.pause)
                b = clicks(browser, base, "without.html", args.clicks, args.pause)
                if not a["isolated"]:
                    print("  (page not cross-origin isolated: performance.now() is coarse)")
                with_ms.append(median(a["times"]))
                without_ms.append(median(b["times"]))
                outboxes += a["outbox"]
                print(
                    f"  run {run + 1}: dispatch median with tracker {with_ms[-1] * 1000:.1f} us, "
                    f"without {without_ms[-1] * 1000:.1f} us; stored outbox median {median(a['outbox'])} events"
                )
            Site.down = True
            down = clicks(browser, base, "with.html", 600, 0)
            nodown = clicks(browser, base, "without.html", 600, 0)
    finally:
        server.shutdown()
    cost = max(median(with_ms) - median(without_ms), 1e-6)
    full = [t for t, q in zip(down["times"][-100:], [500] * 100, strict=False)]
    down_cost = median(full) - median(nodown["times"][-100:])
    print(
        f"  tracker cost per click: {cost * 1000:.1f} us (median of {args.runs} runs; target {TARGET_MS * 1000:.0f} us)"
    )
    print(f"  collector down (sends failing, events piling up): {down_cost * 1000:.0f} us per click")
    print(bench_line("tracker_gzip", "bytes", gz, PLAUSIBLE, PLAUSIBLE / gz, 1.25, raw=raw))
    print(bench_line("tracker_brotli", "bytes", br, PLAUSIBLE, PLAUSIBLE / br, 1.25, note="baseline_is_plausible_gzip"))
    print(
        bench_line(
            "tracker_click",
            "ms",
            cost,
            TARGET_MS,
            TARGET_MS / cost,
            1.0,
            dispatch_without_ms=median(without_ms),
            outbox_down_ms=down_cost,
        )
    )


if __name__ == "__main__":
    main()
