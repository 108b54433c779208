/*
 * LogDig clicktracker: records clicks, page views, page leaves, custom events and
 * experiment exposures, and delivers them to a LogDig collector.
 *
 * Written for size: the minified file must stay <= 2,048 bytes gzipped (a test checks
 * it), so the code reuses a few helpers and prefers short constructs. One IIFE; the only
 * global it sets is window.logdig (the API). Every entry point (listener, timer, promise
 * callback, API call) runs through safe(), so no exception ever reaches the host page.
 * clicktracker/README.md documents the options, the fields and the transport.
 */
((w, d) => {
  try {
    // A second copy of the script on the same page does nothing.
    if (w.logdig?.track) return;

    var nav = navigator;
    var loc = location;
    var hist = history;
    var perf = performance;
    var J = JSON;
    var M = Math;
    var round = M.round;
    var de = d.documentElement;
    var script = d.currentScript;
    var opt = (k) => script.getAttribute('data-' + k);
    var token = opt('token');
    var endpoint = opt('endpoint') || new URL('/logs', script.src);
    var maxOutbox = +opt('max-outbox') || 500;
    // Without data-track this ends in ",null", a selector that matches no HTML element.
    var TRACKED =
      ':is(a,span):is([href],[reactid],[data-reactid]),button,[type=submit],[type=button],[data-logdig],' +
      opt('track');
    var OUTBOX = 'logdig_q';
    var DROPPED = 'logdig_drop';

    var safe =
      (f) =>
      (...a) => {
        try {
          return f(...a);
        } catch (e) {}
      };
    var on = (target, type, f, capture) => target.addEventListener(type, safe(f), capture);

    // The one place for opt-outs: no token, or Do Not Track / Global Privacy Control
    // when the site asks to respect them with data-respect-dnt.
    var off = !token || (opt('respect-dnt') != null && (nav.doNotTrack == '1' || nav.globalPrivacyControl));

    // localStorage when it works, else memory (private mode, blocked or full storage).
    // Opted out: memory only, so nothing is written, and emit() sends nothing.
    var memory = {};
    var store = !off && safe(() => localStorage)();
    var get = (k) => (store || memory)[k];
    var set = (k, v) => {
      memory[k] = v;
      try {
        store && (store[k] = v);
      } catch (e) {
        // Full: memory from now on.
        store = 0;
      }
    };
    var count = (k, n) => (set(k, (n += +get(k) || 0)), n);

    // 20 characters of [A-Za-z0-9] from crypto.getRandomValues: base64 of 30 random
    // bytes (40 uniform characters) without '+' and '/'.
    var random = () =>
      btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(30))))
        .replace(/[+/]/g, '')
        .slice(0, 20);
    var userKey = get('logdig_uk') || random();

    // The outbox: a JSON array of events, oldest first.
    var load = () => safe(() => J.parse(get(OUTBOX)))() || [];
    var save = (q) => set(OUTBOX, J.stringify(q));
    // Oldest first, under 60 kB: keepalive and beacon bodies are limited to 64 KiB.
    var batch = (q, size) => q.filter((e) => (size += J.stringify(e).length) < 6e4, (size = 0));
    var ids = (b) => b.map((e) => e.event_id);

    // timer: a pending send, or 1 while a request is in flight (one at a time).
    var timer = 0;
    var fails = 0;
    var schedule = (ms) =>
      timer ||
      (timer = setTimeout(
        safe(() => {
          timer = 0;
          send();
        }),
        ms
      ));
    // One batch by fetch(keepalive) as text/plain (no CORS preflight). Events leave the
    // outbox only on an answer: 2xx (its "rejected" would never succeed: dropped and
    // counted) or another 4xx (all dropped and counted). A network error, 429 or 5xx
    // keeps them and retries with jittered exponential backoff. Only the ids sent here
    // are removed, so events that other tabs added meanwhile stay.
    var send = () => {
      var b = batch(load());
      var sent = ids(b);
      var status = 0;
      b[0] &&
        ((timer = 1),
        fetch(endpoint, {method: 'POST', body: J.stringify(b), keepalive: true})
          .then((r) => ((status = r.status), r.json()))
          .catch((e) => e)
          .then(
            safe((answer) => {
              timer = 0;
              // status 0: the network failed.
              if (status && status < 500 && status != 429) {
                save(load().filter((e) => !sent.includes(e.event_id)));
                count(DROPPED, status > 299 ? sent.length : ~~answer.rejected?.length);
                fails = 0;
                schedule(0);
              } else schedule(M.min(6e4, 1e3 * 2 ** fails++) * (0.5 + M.random()));
            })
          ));
    };

    // Adds an event to the outbox; beyond the cap the oldest are dropped and counted.
    var pageUrl = loc.href;
    var start = 0;
    var loads = 0;
    var emit = (type, fields) => {
      var q = load();
      var e = {
        timestamp: new Date().toISOString(),
        token: token,
        user_key: userKey,
        current_page: pageUrl,
        link: null,
        x: null,
        y: null,
        spent_milli_sec: round(perf.now() - start),
        user_agent: nav.userAgent,
        load_count: loads,
        event_id: random(),
        type: type,
        viewport_w: w.innerWidth,
        viewport_h: w.innerHeight,
        page_h: de.scrollHeight,
        ...fields
      };
      // An event too large for any request (huge props) is dropped at once.
      off ||
        (J.stringify(e).length < 6e4 ? q.push(e) : count(DROPPED, 1),
        count(DROPPED, q.splice(0, q.length - maxOutbox).length),
        save(q),
        schedule(300));
    };

    // Page views on load and on single-page navigation, with a page leave for the one
    // before; max scroll depth in percent of the page height.
    var depth = 0;
    var left = 0;
    var seen = {};
    var measure = () =>
      (depth = M.max(depth, M.min(100, round(((w.scrollY + w.innerHeight) / de.scrollHeight) * 100)) | 0));
    var leave = () => left || (measure(), emit('pageleave', {scroll_depth: depth}), (left = 1));
    var pageview = (referrer) => {
      pageUrl = loc.href;
      start = loads && perf.now();
      loads = count('logdig_lc', 1);
      depth = left = 0;
      seen = {};
      emit('pageview', {referrer: referrer || null});
    };
    var route = safe(() => loc.href != pageUrl && (leave(), pageview(pageUrl)));
    // pushState/replaceState keep their own behaviour and errors; then a pageview if the
    // URL changed.
    var wrap = (k, original = hist[k]) =>
      (hist[k] = (...a) => {
        var r = original.apply(hist, a);
        route();
        return r;
      });

    // A short CSS selector that names one element: up to the nearest id (or body), each
    // step with its :nth-child(i).
    var selector = (el) => {
      for (var s = '', p; !el.id && el != d.body && (p = el.parentElement); el = p)
        s = '>' + el.localName + ':nth-child(' + ([...p.children].indexOf(el) + 1) + ')' + s;
      return (el.id ? '#' + CSS.escape(el.id) : el.localName) + s;
    };

    // Clicks: one capturing listener on document, so elements added later count too.
    var recent = [];
    var inside = (v) => M.max(0, round(v));
    var click = (e) => {
      var el = e.target;
      var t = perf.now();
      var x = round(e.pageX);
      var y = round(e.pageY);
      var a = d.createElement('a');
      if (el.closest('[data-logdig-ignore],.logdig-ignore')) return;
      // Rage: 3 or more clicks, each within 1 s and 30 px of this one.
      (recent = recent.filter((c) => t - c[0] < 1e3 && (c[1] - x) ** 2 + (c[2] - y) ** 2 < 901)).push([t, x, y]);
      if ((el = el.closest(TRACKED))) {
        var tag = el.localName;
        var href = el.getAttribute('href');
        var box = el.getBoundingClientRect();
        emit('click', {
          link:
            href != null
              ? ((a.href = href), a.href)
              : // join() writes null and undefined as ''.
                [tag, el.getAttribute('class'), el.id, el.name, el.dataset.reactid].join(';'),
          x: x,
          y: y,
          selector: selector(el),
          offset_x: inside(e.clientX - box.left),
          offset_y: inside(e.clientY - box.top),
          tag: tag,
          rage: !!recent[2],
          // Never an input's value (undefined is left out of the JSON).
          text: /^(inp|tex|sel)/.test(tag) ? undefined : el.textContent.trim().slice(0, 100)
        });
      }
    };

    // On hide: the page leave, then one beacon with what no beacon of this page carried
    // yet (visibilitychange and pagehide both come on leaving). A beacon has no answer,
    // so its events stay in the outbox, marked in beaconed, and are sent again by fetch
    // (later, or from the next page); the collector drops the repeats by event_id.
    var beaconed = [];
    var hide = () => {
      leave();
      var b = batch(load().filter((e) => !beaconed.includes(e.event_id)));
      b[0] && nav.sendBeacon(endpoint, J.stringify(b)) && beaconed.push(...ids(b));
    };

    // The API, replacing the queue array (window.logdig = window.logdig || []).
    var api = {
      // props must be an object (the collector rejects anything else).
      track: safe((name, props) => emit('custom', {name: name + '', props: props})),
      // Deterministic from user_key + name (a multiplicative hash with a final mixing
      // step, so that every bit of the input reaches the low bits); one exposure event
      // per page view.
      experiment: safe((name, variants, cb) => {
        var h = 0;
        for (var c of userKey + name) h = M.imul(h ^ c.charCodeAt(), 2654435761);
        var v = variants[(M.imul(h ^ (h >>> 15), 2654435761) >>> 0) % variants.length];
        seen[name] || ((seen[name] = 1), emit('exposure', {name: name + '', variant: v + ''}));
        cb?.(v);
        return v;
      }),
      push: safe((call) => api[call[0]](...call.slice(1)))
    };
    var queued = w.logdig;
    w.logdig = api;

    set('logdig_uk', userKey);
    wrap('pushState');
    wrap('replaceState');
    on(w, 'popstate', route);
    on(w, 'hashchange', route);
    // Back to a page kept in the back/forward cache: a new page view.
    on(w, 'pageshow', (e) => e.persisted && pageview(d.referrer));
    on(w, 'scroll', measure);
    on(d, 'click', click, true);
    on(w, 'pagehide', hide);
    on(d, 'visibilitychange', () => (d.hidden ? hide() : (left = 0)));
    pageview(d.referrer);
    queued?.map?.(api.push);
  } catch (e) {}
})(window, document);
