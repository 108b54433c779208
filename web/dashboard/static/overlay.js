/*
 * LogDig heat-map overlay: draws a page's clicks, movement, dead clicks, attention and
 * scroll reach over the live page, aligned to its layout at the current width, with a
 * panel to switch the layers, pick a layout class, an experiment variant and a segment
 * (device, new or returning visitor, source: overlay-segments.js), and measure a region
 * (its clicks, distinct users and share of the page's clicks).
 *
 * Loaded by the tracker when the page URL carries ?logdig_overlay=<signed>, from the
 * collector that serves this file (COLLECTOR/overlay.js, with overlay-layers.js, the
 * drawing, and overlay-region.js, the rectangle tool, in one function: see
 * web/dashboard/overlay.py). It fetches
 * COLLECTOR/overlay/data?sig=<signed>[&viewport=...][&device=...&variant=...] (CORS, no
 * cookies); a forged or expired value gets 403 and the overlay shows the reason instead of
 * a heat map; a segment being computed gets 202 and the overlay asks again.
 *
 * Everything it adds to the page lives in shadow roots (the host page's CSS stays out),
 * carries data-logdig-ignore (the tracker does not record clicks on it), and gets its text
 * through textContent only: selectors and counts come from event data. Handlers catch
 * their own errors: the overlay never throws into the page.
 *
 * The link is signed for one page. When a single-page app moves to another URL (pushState,
 * popstate, hashchange), the overlay draws again; on another page it hides the heat map and
 * says so, and it comes back when the app returns to the page.
 */
var ROOT_ID = 'logdig-overlay';
var script = d.currentScript;
var sig = new URLSearchParams(w.location.search).get('logdig_overlay');
var LAYERS = [
  ['clicks', 'Clicks'],
  ['moves', 'Moves'],
  ['dead', 'Dead clicks'],
  ['attention', 'Attention'],
  ['scroll', 'Scroll reach']
];
var CLASSES = ['desktop', 'tablet', 'mobile'];

var data = null;
var root = null;
var shown = true;
var on = {clicks: true, moves: false, dead: false, attention: false, scroll: false};
var pick = {viewport: ''}; // the layout; the visitors are seg (overlay-segments.js)
var measuring = false; // the rectangle tool is on
var rect = null; // the last region measured, in page pixels
var status = '';
var drawn = {}; // what the last render() drew of each layer (render's counts)
var asked = 0; // the latest request: an older answer that arrives late is dropped

function el(tag, style, text) {
  var e = d.createElement(tag);
  e.setAttribute('data-logdig-ignore', '');
  Object.assign(e.style, style || {});
  if (text != null) e.textContent = text;
  return e;
}

// A div over the whole page (g: geometry()), with more style.
function pageSheet(g, style) {
  var e = el('div', {position: 'absolute', left: '0', top: '0', width: g.pageW + 'px', height: g.pageH + 'px'});
  Object.assign(e.style, style);
  return e;
}

// Runs f, and never lets an error reach the page: it shows in the panel instead.
function safe(f) {
  return function () {
    try {
      return f.apply(this, arguments);
    } catch (e) {
      status = 'LogDig overlay error: ' + (e && e.message);
      try {
        panel();
      } catch (e2) {
        /* nothing more to do */
      }
    }
  };
}

// The page as the analysis names it (analysis/schema.py normalise_url): no query, no
// fragment, no trailing slashes.
function pageOf(href) {
  var base = href.split('?')[0].split('#')[0];
  return base.replace(/\/+$/, '') || base;
}

function viewportClass(width) {
  return width < 768 ? 'mobile' : width < 1024 ? 'tablet' : 'desktop';
}

function geometry() {
  var width = w.innerWidth;
  var de = d.documentElement;
  return {
    width: width,
    pageW: Math.max(de.scrollWidth, width),
    pageH: Math.min(Math.max(de.scrollHeight, d.body ? d.body.scrollHeight : 0), 16384),
    cls: pick.viewport || viewportClass(width)
  };
}

function render() {
  if (root) root.remove();
  // A single-page app may have moved on to another page: its heat map is not this one's.
  here = w.location.href;
  var away = pageOf(here) !== data.page;
  var g = geometry();
  var cells = data.grids[g.cls] || [];
  root = pageSheet(g, {
    pointerEvents: 'none',
    zIndex: '2147483646',
    display: shown && !away ? 'block' : 'none'
  });
  root.id = ROOT_ID;
  var layer = root.attachShadow({mode: 'open'});
  var counts = {cells: 0, badges: 0, moves: 0, dead: 0, attention: 0, reach: 0};
  if (on.clicks) {
    var heat = heatCanvas('clicks', cells, data.columns, data.row_px, g.width, g.pageW, g.pageH, HEAT);
    layer.appendChild(heat);
    counts.cells = heat.drawn;
  }
  if (on.moves) {
    var moved = heatCanvas('moves', data.moves[g.cls] || [], data.move_columns, data.move_row_px, g.width, g.pageW, g.pageH, MOVES);
    layer.appendChild(moved);
    counts.moves = moved.drawn;
  }
  if (on.attention) counts.attention = attentionBands(layer, data.attention[g.cls] || [], g.pageW, g.pageH);
  if (on.scroll) counts.reach = scrollLines(layer, data.scroll_reach, g.pageW, g.pageH);
  if (on.clicks) counts.badges = clickBadges(layer, data.click_map);
  if (on.dead) counts.dead = deadMarks(layer, data.click_map);
  if (rect) layer.appendChild(regionBox(rect));
  if (measuring) layer.appendChild(catcher(g));
  root.setAttribute('data-viewport-class', g.cls);
  root.setAttribute('data-segment', new URLSearchParams(data.segment || {}).toString());
  Object.keys(counts).forEach(function (k) { root.setAttribute('data-' + k, String(counts[k])); });
  if (away) root.setAttribute('data-away', '');
  drawn = counts;
  d.body.appendChild(root);
  panel();
}

function button(label, onClick) {
  var b = el('button', {marginLeft: '8px', font: 'inherit', cursor: 'pointer'}, label);
  b.type = 'button';
  b.addEventListener('click', safe(onClick));
  return b;
}

function row(style) {
  return el('div', Object.assign({marginTop: '6px'}, style || {}));
}

// The panel: bottom right, in its own shadow root (the host page's CSS stays out).
function panel(text) {
  var bar = d.getElementById(ROOT_ID + '-bar');
  if (bar) bar.remove();
  bar = el('div', {
    position: 'fixed',
    right: '12px',
    bottom: '12px',
    zIndex: '2147483647',
    background: '#1a202c',
    color: '#fff',
    font: '13px/1.4 system-ui, sans-serif',
    padding: '8px 10px',
    borderRadius: '6px',
    boxShadow: '0 2px 8px rgba(0,0,0,.3)',
    maxWidth: 'calc(100vw - 44px)',
    pointerEvents: 'auto'
  });
  bar.id = ROOT_ID + '-bar';
  var ui = bar.attachShadow({mode: 'open'});
  d.body.appendChild(bar);
  var away = data && pageOf(w.location.href) !== data.page;
  if (text || !data || away) {
    ui.appendChild(el('span', {}, text || 'LogDig heat map of ' + data.page + ': this is another page. Open its overlay from the dashboard.'));
    ui.appendChild(button('Close', close));
    return bar;
  }
  var g = geometry();
  var total = (data.grids[g.cls] || []).reduce(function (s, c) {
    return s + c[2];
  }, 0);
  var who = segmentText(data.segment || {});
  who = who ? ' · ' + who : '';
  ui.appendChild(el('span', {}, 'LogDig heat map · ' + g.cls + ' layout' + who + ' · ' + total + ' clicks · ' + data.from + ' to ' + data.to));
  ui.appendChild(button(shown ? 'Hide' : 'Show', function () {
    shown = !shown;
    render();
  }));
  ui.appendChild(button('Close', close));
  var layers = row();
  LAYERS.forEach(function (l) {
    var label = el('label', {marginRight: '10px', whiteSpace: 'nowrap'});
    var box = el('input', {verticalAlign: 'middle'});
    box.type = 'checkbox';
    box.name = l[0];
    box.checked = on[l[0]];
    box.addEventListener('change', safe(function () {
      on[l[0]] = box.checked;
      render();
    }));
    label.appendChild(box);
    label.appendChild(d.createTextNode(' ' + l[1]));
    layers.appendChild(label);
  });
  ui.appendChild(layers);
  var picks = row();
  var classes = [['', 'this width (' + viewportClass(w.innerWidth) + ')']].concat(CLASSES.map(function (c) {
    return [c, c];
  }));
  picks.appendChild(choice('viewport', 'Layout', classes, pick.viewport, function () {
    pick.viewport = this.value;
    load();
  }));
  variantPick(picks, data.experiments || {});
  var tool = button(measuring ? 'Drag over the page…' : 'Measure a region', function () {
    measuring = !measuring;
    render();
  });
  tool.name = 'measure';
  picks.appendChild(tool);
  ui.appendChild(picks);
  var visitors = row();
  segmentPicks(visitors);
  ui.appendChild(visitors);
  var out = el('output', {display: 'block', marginTop: '6px'});
  out.name = 'region';
  if (rect) {
    var s = regionStats(data.grids[g.cls] || [], data.columns, data.row_px, g.width, rect, data.users);
    var users = s.users === null ? (data.variant ? 'users not kept per variant' : 'users not computed for these days') : s.users + (s.users === 1 ? ' user' : ' users');
    out.textContent = 'Region: ' + s.clicks + ' clicks · ' + users + ' · ' + (s.share * 100).toFixed(1) + '% of the page\u2019s clicks';
    out.setAttribute('data-clicks', String(s.clicks));
    out.setAttribute('data-users', s.users === null ? '' : String(s.users));
    out.setAttribute('data-share', s.share.toFixed(4));
    ui.appendChild(out);
  }
  var note = status || (data.variant ? 'A variant has click and movement maps only.' : '');
  if (note) ui.appendChild(el('div', {marginTop: '6px', color: '#fbd38d'}, note));
  // A layer the tracker's heat-map module records, switched on and empty: say why.
  var empty = [['moves', 'movement'], ['dead', 'dead clicks'], ['attention', 'attention']].filter(function (l) {
    return on[l[0]] && !drawn[l[0]] && !(data.variant && l[0] !== 'moves');
  });
  if (empty.length && !status) {
    var why = el('div', {marginTop: '6px', color: '#fbd38d'}, 'No ' + empty.map(function (l) { return l[1]; }).join(', ') +
      ' recorded for this page, layout and visitors in these days. The tracker\u2019s heat-map module records ' +
      (empty.length > 1 ? 'them' : 'it') + ': its script tag needs data-heatmap.');
    why.setAttribute('data-empty', empty.map(function (l) { return l[0]; }).join(' '));
    ui.appendChild(why);
  }
  return bar;
}

function close() {
  if (root) root.remove();
  var bar = d.getElementById(ROOT_ID + '-bar');
  if (bar) bar.remove();
  w.removeEventListener('resize', onResize);
  w.removeEventListener('popstate', onNavigate);
  w.removeEventListener('hashchange', onNavigate);
  clearInterval(watch);
  clearTimeout(timer);
  clearTimeout(poll);
  asked++; // an answer still on its way is dropped
}

function notice(text) {
  var bar = panel(text);
  bar.style.background = '#c53030';
  bar.setAttribute('role', 'alert');
}

function whenReady(f) {
  if (d.body) f();
  else d.addEventListener('DOMContentLoaded', f);
}

var timer = 0;
function onResize() {
  clearTimeout(timer);
  timer = setTimeout(safe(render), 150);
}

// Navigation without a load (pushState has no event): draw again when the URL changes,
// a moment later so the app has drawn the new page.
var here = '';
var watch = 0;
function onNavigate() {
  if (w.location.href !== here) onResize();
}

// Fetch the data for the current picks; the first answer starts the overlay, later ones
// (a picker changed) draw again. A refusal of a pick keeps what is drawn and says why; a
// segment still being computed is asked for again (overlay-segments.js, computing()).
function load() {
  clearTimeout(poll);
  var url = new URL('overlay/data', script.src);
  url.searchParams.set('sig', sig);
  if (pick.viewport) url.searchParams.set('viewport', pick.viewport);
  segmentQuery(url);
  status = data ? 'Loading…' : '';
  if (data) panel();
  var mine = ++asked;
  return fetch(url, {credentials: 'omit', cache: 'no-store'})
    .then(function (r) {
      return r.json().then(function (body) {
        return {ok: r.ok, status: r.status, body: body};
      });
    })
    .then(
      safe(function (res) {
        if (mine !== asked || computing(res)) return;
        if (!res.ok && !data) {
          return whenReady(function () {
            notice('LogDig overlay refused: ' + (res.body.error || 'invalid link'));
          });
        }
        if (!res.ok) {
          status = 'Not shown: ' + (res.body.error || 'refused');
          return panel();
        }
        var first = !data;
        data = res.body;
        seg = Object.assign({}, data.segment);
        status = '';
        rect = null;
        whenReady(safe(render));
        if (!first) return;
        w.addEventListener('resize', onResize);
        w.addEventListener('popstate', onNavigate);
        w.addEventListener('hashchange', onNavigate);
        watch = setInterval(safe(onNavigate), 500);
        // Images and fonts that load later move things: draw again once the page is loaded.
        if (d.readyState !== 'complete') w.addEventListener('load', safe(render));
      })
    )
    .catch(function () {
      whenReady(function () {
        if (data) {
          status = 'LogDig overlay: the collector could not be reached.';
          panel();
        } else notice('LogDig overlay: the collector could not be reached.');
      });
    });
}

if (sig && script && !d.getElementById(ROOT_ID)) load();
