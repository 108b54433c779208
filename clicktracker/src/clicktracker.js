/*
 * LogDig clicktracker: records clicks, page views, page leaves, custom events and
 * experiment exposures, and delivers them to a LogDig collector.
 *
 * Written for size: the minified file must stay <= 2,048 bytes gzipped (a test checks
 * it), so the code reuses a few helpers and prefers short constructs (some locals are
 * extra parameters with a default, which no caller passes). One IIFE; the only
 * global it sets is window.logdig (the API). Every entry point (listener, timer, promise
 * callback, API call) runs through safe(), so no exception ever reaches the host page.
 * clicktracker/README.md documents the options, the fields and the transport.
 */
((w, d) => {
  try {
    // A second copy of the script on the same page does nothing.
    if (w.logdig?.track) return;

    // Read once: the getter costs about 15 us on every cold call, and clicks are cold.
    var ua = navigator.userAgent;
    // data-* attributes of the script tag (read while the script first runs).
    var opt = d.currentScript.dataset;
    var token = opt.token;
    var endpoint = opt.endpoint || new URL('/logs', d.currentScript.src);
    // Adds one of the collector's scripts next to the endpoint (see the end).
    var load = (name) => (d.head.appendChild(d.createElement('script')).src = new URL(name, endpoint));
    var maxOutbox = +opt.maxOutbox || 500;
    // Interactive elements: links (any element with href), buttons, form controls,
    // [role=button], marked ones and whatever data-track adds; also any element with an
    // onclick handler (see click). Without data-track this ends in ",undefined", a selector
    // that matches no HTML element.
    var TRACKED = '[href],button,input,select,textarea,[role=button],[onclick],[data-logdig],' + opt.track;
    var IGNORED = '[data-logdig-ignore],.logdig-ignore';

    // (Three arguments at most, experiment()'s: no rest array and spread on every click.)
    var safe =
      (f) =>
      (a, b, c) => {
        try {
          return f(a, b, c);
        } catch {}
      };
    var on = (target, type, f, capture) => target.addEventListener(type, safe(f), capture);

    // The dashboard's heat-map overlay: the page was opened from the dashboard with
    // ?logdig_overlay=<signed>. The collector's overlay.js draws it (loaded at the end).
    var overlay = /logdig_overlay=/.test(location);

    // The one place for opt-outs: no token, the overlay open (the owner's own visit does
    // not count), or Do Not Track / Global Privacy Control when the site asks to respect
    // them with data-respect-dnt.
    var off = overlay || !token || ('respectDnt' in opt && (navigator.doNotTrack == '1' || navigator.globalPrivacyControl));

    // localStorage when it works, else memory (private mode, blocked or full storage).
    // Opted out: memory only, so nothing is written, and emit() sends nothing.
    var store = (!off && safe(() => localStorage)()) || {};
    var set = (k, v) => {
      try {
        store[k] = v;
      } catch {
        // Full: a copy in memory from now on.
        (store = {...store})[k] = v;
      }
    };
    // Adds n to a stored counter; adding 0 writes nothing.
    var count = (k, n) => (n && set(k, (n += +store[k] || 0)), n);

    // 20 characters of [0-9a-v] (so [A-Za-z0-9]) from crypto.getRandomValues: each
    // random byte mod 32 in base 32, uniform, 100 bits in all.
    var random = () => crypto.getRandomValues(new Uint8Array(20)).reduce((s, b) => s + (b % 32).toString(32), '');
    var userKey = store.logdig_uk || random();

    // The outbox: a JSON array of events in storage, oldest first, shared by the tabs.
    // New events first wait in pending, in memory, so that a click costs no storage work.
    // persist() moves them into the stored outbox at the latest 300 ms after they come
    // (see emit) and on hide, giving each its event_id. It drops an event too large for
    // any request (huge props), the oldest events beyond the cap, and the ids in done
    // (answered by the collector); the dropped events are counted. Returns the outbox.
    var pending = [];
    var saving;
    var persist = (
      dropped = 0,
      done = [],
      // (A local: the stored outbox without the done ids.)
      q = (safe(() => JSON.parse(store.logdig_q))() || []).filter((e) => !done.includes(e.event_id))
    ) => {
      q.push(...pending.splice(0).filter((e) => ((e.event_id = random()), JSON.stringify(e).length < 6e4) || !++dropped));
      count('logdig_drop', q.splice(0, q.length - maxOutbox).length + dropped);
      set('logdig_q', JSON.stringify(q));
      return q;
    };
    // Oldest first, under 60 kB: keepalive and beacon bodies are limited to 64 KiB.
    var batch = (q, size) => q.filter((e) => (size += JSON.stringify(e).length) < 6e4, (size = 0));

    // timer: a pending send (or retry), or 1 while a request is in flight (one at a time).
    var timer;
    var fails = 0;
    // One batch by fetch(keepalive) as text/plain (no CORS preflight). Events leave the
    // outbox only on an answer: 2xx (its "rejected" would never succeed: dropped and
    // counted) or another 4xx (all dropped and counted). A network error, 429 or 5xx
    // keeps them and retries with jittered exponential backoff. Only the ids sent here
    // are removed, so events that other tabs added meanwhile stay. While a retry or the
    // next batch waits, or a request is in flight, it only persists. (b and answered are
    // locals: send is called with one argument at most.)
    var send = safe((_, b = batch(persist()), answered) =>
      b[0] &&
        !timer &&
        ((timer = 1),
        fetch(endpoint, {method: 'POST', body: JSON.stringify(b), keepalive: true})
          // The response, or the error (network: no status). Only the status counts: the
          // body is not read. (r?.: a page's own fetch wrapper may reject with nothing, and
          // a throw here, before timer = 0, would stop every later send.)
          .then(
            (answered = safe((r, status = r?.status) => {
              timer = 0; // first: should anything below throw, the next event still sends
              // 2xx, or 4xx but 429 (status is undefined when the network failed): these
              // are done, on to the next batch. Else a retry, with backoff.
              timer = setTimeout(
                () => send((timer = 0)),
                (status < 500) ^ (status == 429)
                  ? (persist(status > 299 && b.length, b.map((e) => e.event_id)), (fails = 0))
                  : Math.min(6e4, 1e3 * 2 ** fails++) * (0.5 + Math.random())
              );
            })),
            answered
          ))
    );

    var pageUrl;
    // (Set by the first page view, before any event.)
    var start;
    var loads = 0;
    // Rounded, and never below 0.
    var whole = (v) => Math.max(0, Math.round(v));
    // An event of this page view, as it is now; queue() sends it. The heat-map module sees
    // each one as it is made (logdig._h): a click, with its element el (the offset in it,
    // without finding it again; the dead-click verdict), a page view (its counters
    // restart), a page leave (it adds attention and sends its last moves).
    var make = (type, fields, el, e) => (
      (e = {
        // A Date: JSON.stringify writes it as toISOString() would, when the event is
        // persisted or sent, not inside the click (formatting costs about 25 us there).
        timestamp: new Date(),
        token: token,
        user_key: userKey,
        current_page: pageUrl,
        link: null,
        x: null,
        y: null,
        spent_milli_sec: whole(performance.now() - start),
        user_agent: ua,
        load_count: loads,
        type: type,
        viewport_w: w.innerWidth,
        viewport_h: w.innerHeight,
        page_h: d.documentElement.scrollHeight,
        ...fields
      }),
      api._h?.(e, el),
      e
    );
    // Into pending, and 300 ms later into the stored outbox and sent (unless a send,
    // request or retry is waiting: then only stored, since a retry can wait a minute and
    // a crash, with no pagehide, would lose what waits in memory).
    // Both return a truthy value (true, or a timer id), which leave() and experiment() use.
    var queue = (e) => off || (pending.push(e), (saving ||= setTimeout(() => send((saving = 0)), 300)));
    var emit = (type, fields) => queue(make(type, fields));

    // Clicks wait here 1 s, oldest first, so that the heat-map module can give its
    // dead-click verdict (clicktracker-heatmap.js: dead unless a navigation, a DOM change,
    // a scroll or a focus change answered it) before they are queued.
    var waiting = [];

    // Page views on load and on single-page navigation, with a page leave for the one
    // before; max scroll depth in percent of the page height.
    var depth;
    var left;
    var seen;
    var measure = () =>
      (depth = Math.max(
        depth,
        Math.min(100, whole(((w.scrollY + w.innerHeight) / d.documentElement.scrollHeight) * 100)) | 0
      ));
    // The heat-map module's hook (logdig._h) adds its fields (attention) to the page leave.
    // (emit() is truthy, so left is set.)
    var leave = () => (left ||= emit('pageleave', {scroll_depth: measure()}));
    var pageview = (referrer = d.referrer) => {
      pageUrl = location.href;
      start = loads && performance.now();
      loads = count('logdig_lc', 1);
      depth = left = 0;
      seen = {};
      emit('pageview', {referrer: referrer || null});
    };
    var route = safe(() => location.href != pageUrl && (leave(), pageview(pageUrl)));
    // pushState/replaceState keep their own behaviour and errors; then a pageview if the
    // URL changed.
    var wrap = (k, original = history[k]) =>
      (history[k] = (...a) => ((a = original.apply(history, a)), route(), a));

    // Clicks: one capturing listener on document, so elements added later count too. Every
    // click counts but those inside an ignored element; the element recorded is the nearest
    // interactive one (see TRACKED) from the clicked node up, else the clicked node itself.
    // Resolves a relative href against the page (one element, made once).
    var a = d.createElement('a');
    // (el, x and y are locals: a listener gets one argument.)
    var click = (e, el = e.target, x = whole(e.pageX), y = whole(e.pageY)) => {
      if (el.closest(IGNORED)) return;
      var hit = el.closest(TRACKED);
      el = hit || el;
      var tag = el.localName;
      var href = el.getAttribute('href');
      // Its text, from its first text nodes only (4: SHOW_TEXT, the nodes whose data
      // textContent joins), until 1,000 characters are read: textContent copied all of a
      // large container's text first (3 ms per click on the background of a 60,000-node
      // page, 18 ms at 300,000). The text is the same, textContent.trim().slice(0, 100),
      // unless over 900 of the characters read are whitespace (then it can be shorter, or
      // empty). The bound is on what is read: skipping whitespace until 100 characters of
      // text came read all of a container without text (47 ms for 150,000 text nodes).
      for (var t = '', p, k = d.createTreeWalker(el, 4); t.length < 1e3 && (p = k.nextNode()); ) t += p.data;
      // A short CSS selector that names the element: up to the nearest id (or body),
      // each step with its :nth-child(i).
      for (var s = '', p, n = el; !n.id && n != d.body && (p = n.parentElement); n = p)
        s = '>' + n.localName + ':nth-child(' + ([...p.children].indexOf(n) + 1) + ')' + s;
      var c = make('click', {
        link:
          href != null
            ? ((a.href = href), a.href)
            : // join() writes null and undefined as ''.
              [tag, el.getAttribute('class'), el.id, el.name, el.getAttribute('data-reactid')].join(';'),
        x: x,
        y: y,
        selector: (n.id ? '#' + CSS.escape(n.id) : n.localName) + s,
        tag: tag,
        // Rage: 3 or more clicks within 1 s and 30 px: 2 of those waiting (the last 1 s).
        rage: waiting.filter((c) => (c.x - x) ** 2 + (c.y - y) ** 2 < 901).length > 1,
        // Never an input's value (undefined is left out of the JSON).
        text: /^(inp|tex|sel)/.test(tag) ? undefined : t.trim().slice(0, 100),
        interactive: !!hit,
      }, el);
      waiting.push(c);
      // (Timers of equal delay run in order, so c is first unless a hide sent it.)
      setTimeout(() => waiting[0] == c && queue(waiting.shift()), 1e3);
    };

    // On hide: the page leave, everything pending into the stored outbox (so nothing is
    // lost when the page goes), then one beacon with what no beacon of this page carried
    // yet (visibilitychange and pagehide both come on leaving). A beacon has no answer,
    // so its events stay in the outbox, marked in beaconed, and are sent again by fetch
    // (later, or from the next page); the collector drops the repeats by event_id.
    var beaconed = [];
    // (b is a local.)
    var hide = (e, b) => (
      waiting.splice(0).map(queue),
      leave(),
      (b = batch(persist().filter((e) => !beaconed.includes(e.event_id)))),
      b[0] && navigator.sendBeacon(endpoint, JSON.stringify(b)) && beaconed.push(...b.map((e) => e.event_id))
    );

    // The API, replacing the queue array (window.logdig = window.logdig || []).
    var api = {
      // props must be an object (the collector rejects anything else).
      track: safe((name, props) => emit('custom', {name: name + '', props: props})),
      // Deterministic from user_key + name (a multiplicative hash with a final mixing
      // step, so that every bit of the input reaches the low bits); one exposure event
      // per page view (h is a local).
      experiment: safe((name, variants, cb, h = 0) => {
        for (var c of userKey + name) h = Math.imul(h ^ c.charCodeAt(), 2654435761);
        var v = variants[(Math.imul(h ^ (h >>> 15), 2654435761) >>> 0) % variants.length];
        seen[name] ||= emit('exposure', {name: name + '', variant: v + ''});
        cb?.(v);
        return v;
      }),
      push: safe(([method, ...args]) => api[method](...args)),
      // For the heat-map module (see the end).
      _e: emit
    };
    var queued = w.logdig;
    w.logdig = api;

    set('logdig_uk', userKey);
    wrap('pushState');
    wrap('replaceState');
    on(w, 'popstate', route);
    // Back to a page kept in the back/forward cache: a new page view.
    on(w, 'pageshow', (e) => e.persisted && pageview());
    // Answers to a click: a scroll (of the page or of any element), a focus change, a
    // DOM change outside the ignored elements (navigation: see route and hide).
    on(w, 'scroll', measure);
    on(d, 'click', click, true);
    on(w, 'pagehide', hide);
    on(d, 'visibilitychange', () => (d.hidden ? hide() : (left = 0)));
    pageview();
    queued?.map?.(api.push);
    // The collector's scripts (see load): the overlay, and with data-heatmap the heat-map
    // module once the page has loaded (not when opted out: it would record nothing). The
    // module queues its events with logdig._e.
    overlay && load('overlay.js');
    off || ('heatmap' in opt && on(w, 'load', () => load('clicktracker-heatmap.js')));
  } catch {}
})(window, document);
