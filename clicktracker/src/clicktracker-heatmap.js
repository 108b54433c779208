/*
 * LogDig heat-map module: mouse movement, attention and the dead-click verdict.
 *
 * Loaded by clicktracker.js after the page has loaded when its script tag has
 * data-heatmap (from the collector, next to the endpoint). It talks to the core through
 * two internal properties of window.logdig and sets no global of its own:
 *   logdig._e(type, fields)  the core's emit: an event of the current page view, queued
 *                            in the core's outbox (so the delivery guarantees hold);
 *   logdig._h = f            set here: the core calls f(event) for every event it makes.
 * Written for size like the core (<= 2,048 bytes gzip, tests/browser/test_build.py), and
 * every entry point runs through safe(): no exception ever reaches the page.
 * clicktracker/README.md documents what it records.
 */
((w, d) => {
  try {
    var api = w.logdig;
    // No core, or loaded twice: nothing to do (an opted-out core does not load this).
    if (!api?._e || api._h) return;
    // (Two arguments at most, the hook's: no rest array on every mousemove.)
    var safe = (f) => (a, b) => {
      try {
        return f(a, b);
      } catch {}
    };
    var on = (target, type, f) => target.addEventListener(type, safe(f), {capture: true, passive: true});
    var whole = (v) => Math.max(0, Math.round(v));

    // Per page view: when it started (performance.now() time; the first view at navigation
    // start), the pointer samples not sent yet, how many were taken (at most 300), the
    // time of the last one, and the milliseconds each tenth of the page height was in view.
    var start = 0;
    var points = [];
    var taken = 0;
    var sampled = -1e9;
    var attention;
    // Attention bookkeeping: the time of the last update and which tenths were in view
    // then (0 while the tab is hidden: hidden time counts nowhere).
    var last = 0;
    var shown = 0;
    var tick = () => {
      var t = performance.now();
      var top = w.scrollY;
      var h = d.documentElement.scrollHeight / 10;
      shown && shown.map((v, i) => v && (attention[i] += t - last));
      last = t;
      // A tenth is in view when its middle is.
      shown = !d.hidden && attention.map((v, i) => (i += 0.5) * h >= top && i * h < top + w.innerHeight);
    };
    // The samples go out as one move event at most every 5 s (timer), and at page leave.
    var timer = 0;
    var flush = () => {
      clearTimeout(timer);
      timer = 0;
      points[0] && api._e('move', {points: points.splice(0)});
    };
    var view = (t) => {
      start = last = t;
      points = [];
      taken = 0;
      attention = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
      shown = 0;
      tick();
    };

    // Dead clicks: each click waits here 1 s, dead (unless it is on a form control, which
    // answers it itself) until an answer comes: a DOM change outside the ignored elements,
    // a scroll, a focus change, or a navigation (the page leave). Each is kept as [event,
    // time of the click, its element]: no timer per click (a cold setTimeout costs 25-35 us
    // inside the click); those older than 1 s are dropped when an answer comes and on the
    // 1 s tick. Pressing the pointer on another element ends the wait of the clicks
    // before (its focus change, and what its click does, answer it, not them).
    var clicks = [];
    var IGNORED = '[data-logdig-ignore],.logdig-ignore';
    var waiting = (t = performance.now()) => (clicks = clicks.filter((c) => t - c[1] < 1e3));
    var answer = () => waiting().map((c) => (c[0].dead = false));

    // For a click, the core passes the element too (a core older than this module does
    // not: then it is found again by its selector).
    api._h = safe((e, el) => {
      var type = e.type;
      if (type == 'click') {
        e.dead = !/^(inp|tex|sel)/.test(e.tag);
        // Where in the element the click landed.
        el ||= d.querySelector(e.selector);
        var box = el.getBoundingClientRect();
        e.offset_x = whole(e.x - box.left - w.scrollX);
        e.offset_y = whole(e.y - box.top - w.scrollY);
        clicks.push([e, performance.now(), el]);
      }
      if (type == 'pageview') view(performance.now() - e.spent_milli_sec);
      if (type == 'pageleave') {
        answer();
        tick();
        flush();
        e.attention = attention.map(whole);
      }
    });

    on(d, 'mousemove', (e) => {
      var t = e.timeStamp;
      if (t - sampled >= 100 && taken < 300) {
        sampled = t;
        taken++;
        points.push([whole(e.pageX), whole(e.pageY), whole(t - start)]);
        timer ||= setTimeout(safe(flush), 5e3);
      }
    });
    on(d, 'scroll', () => (tick(), answer()));
    on(d, 'pointerdown', (p) => (clicks = waiting().filter((c) => c[2].contains(p.target))));
    on(d, 'focusin', answer);
    on(w, 'resize', tick);
    on(d, 'visibilitychange', tick);
    setInterval(safe(() => tick(waiting())), 1e3);
    new MutationObserver(
      safe((r) => clicks[0] && r.some((m) => !(m.target.closest ? m.target : m.target.parentNode).closest(IGNORED)) && answer())
    ).observe(d, {subtree: true, childList: true, attributes: true, characterData: true});
    // The view that is open now (an earlier SPA view's start is not known here).
    view(0);
  } catch {}
})(window, document);
