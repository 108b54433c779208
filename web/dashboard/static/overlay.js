/*
 * LogDig heat-map overlay: draws a page's click density and per-element click counts
 * over the live page, aligned to its layout at the current width.
 *
 * Loaded by the tracker when the page URL carries ?logdig_overlay=<signed>, from the
 * collector that serves this file (COLLECTOR/overlay.js). It fetches
 * COLLECTOR/overlay/data?sig=<signed> (CORS, no cookies); a forged or expired value
 * gets 403 and the overlay shows the reason instead of a heat map.
 *
 * Grid cells are GRID columns of the viewport width by row_px page pixels (see
 * analysis/jobs/heatmap.py), so a cell is drawn at (col / columns * innerWidth,
 * row * row_px): the same place on a phone and on a wide screen. Everything it adds to
 * the page lives in shadow roots (the host page's CSS stays out), carries
 * data-logdig-ignore (the tracker does not record clicks on it), and gets its text
 * through textContent only: selectors and counts come from event data.
 *
 * The link is signed for one page. When a single-page app moves to another URL (pushState,
 * popstate, hashchange), the overlay draws again; on another page it hides the heat map and
 * says so, and it comes back when the app returns to the page.
 */
(function (w, d) {
  'use strict';
  var ROOT_ID = 'logdig-overlay';
  var script = d.currentScript;
  var sig = new URLSearchParams(w.location.search).get('logdig_overlay');
  if (!sig || !script || d.getElementById(ROOT_ID)) return;

  var data = null;
  var root = null;
  var shown = true;

  function el(tag, style, text) {
    var e = d.createElement(tag);
    e.setAttribute('data-logdig-ignore', '');
    Object.assign(e.style, style);
    if (text != null) e.textContent = text;
    return e;
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

  // 256 colours from transparent blue through green and yellow to red.
  function palette() {
    var c = el('canvas').getContext('2d');
    c.canvas.width = 256;
    c.canvas.height = 1;
    var g = c.createLinearGradient(0, 0, 256, 0);
    g.addColorStop(0.0, 'rgb(0,0,255)');
    g.addColorStop(0.35, 'rgb(0,255,255)');
    g.addColorStop(0.55, 'rgb(0,255,0)');
    g.addColorStop(0.75, 'rgb(255,255,0)');
    g.addColorStop(1.0, 'rgb(255,0,0)');
    c.fillStyle = g;
    c.fillRect(0, 0, 256, 1);
    return c.getImageData(0, 0, 256, 1).data;
  }

  function drawHeat(canvas, cells, columns, rowPx, width) {
    var ctx = canvas.getContext('2d', {willReadFrequently: true});
    var max = 0;
    cells.forEach(function (c) {
      max = Math.max(max, c[2]);
    });
    if (!max) return 0;
    var cellW = width / columns;
    var radius = Math.max(cellW, rowPx) * 1.5;
    // Density as alpha: each cell a soft disc, weighted by its share of the busiest cell.
    cells.forEach(function (c) {
      var x = (c[0] + 0.5) * cellW;
      var y = (c[1] + 0.5) * rowPx;
      var g = ctx.createRadialGradient(x, y, 0, x, y, radius);
      g.addColorStop(0, 'rgba(0,0,0,' + Math.min(1, c[2] / max) + ')');
      g.addColorStop(1, 'rgba(0,0,0,0)');
      ctx.fillStyle = g;
      ctx.fillRect(x - radius, y - radius, 2 * radius, 2 * radius);
    });
    // Colourise: alpha picks the colour, and stays (scaled) as transparency.
    var img = ctx.getImageData(0, 0, canvas.width, canvas.height);
    var px = img.data;
    var colours = palette();
    for (var i = 3; i < px.length; i += 4) {
      var a = px[i];
      if (!a) continue;
      px[i - 3] = colours[a * 4];
      px[i - 2] = colours[a * 4 + 1];
      px[i - 1] = colours[a * 4 + 2];
      px[i] = Math.min(210, a * 1.5);
    }
    ctx.putImageData(img, 0, 0);
    return cells.length;
  }

  function badges(layer, clickMap) {
    var n = 0;
    clickMap.slice(0, 100).forEach(function (item) {
      var target = null;
      try {
        target = d.querySelector(item.selector);
      } catch (e) {
        return; // not a selector this browser understands
      }
      if (!target) return;
      var r = target.getBoundingClientRect();
      if (!r.width && !r.height) return;
      var label = item.clicks + (item.clicks === 1 ? ' click' : ' clicks');
      if (item.rage_clicks) label += ' · ' + item.rage_clicks + ' rage';
      var b = el(
        'span',
        {
          position: 'absolute',
          left: r.left + w.scrollX + 'px',
          top: Math.max(0, r.top + w.scrollY - 18) + 'px',
          font: '600 11px/16px system-ui, sans-serif',
          padding: '0 5px',
          borderRadius: '8px',
          background: item.rage_clicks ? '#c53030' : '#1a202c',
          color: '#fff',
          whiteSpace: 'nowrap'
        },
        label
      );
      b.className = 'logdig-badge';
      b.setAttribute('data-selector', item.selector);
      b.setAttribute('data-clicks', String(item.clicks));
      layer.appendChild(b);
      n++;
    });
    return n;
  }

  function toolbar(text) {
    var bar = el('div', {
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
      maxWidth: 'calc(100vw - 24px)',
      pointerEvents: 'auto'
    });
    bar.id = ROOT_ID + '-bar';
    // A shadow root keeps the host page's CSS (button { position: absolute } ...) out.
    bar.ui = bar.attachShadow({mode: 'open'});
    bar.ui.appendChild(el('span', {}, text));
    return bar;
  }

  function button(label, onClick) {
    var b = el('button', {marginLeft: '8px', font: 'inherit', cursor: 'pointer'}, label);
    b.type = 'button';
    b.addEventListener('click', onClick);
    return b;
  }

  function render() {
    if (root) root.remove();
    // A single-page app may have moved on to another page: its heat map is not this one's.
    here = w.location.href;
    var away = pageOf(here) !== data.page;
    var width = w.innerWidth;
    var de = d.documentElement;
    var pageW = Math.max(de.scrollWidth, width);
    var pageH = Math.min(Math.max(de.scrollHeight, d.body ? d.body.scrollHeight : 0), 16384);
    var cls = viewportClass(width);
    var cells = data.grids[cls] || [];
    root = el('div', {
      position: 'absolute',
      left: '0',
      top: '0',
      width: pageW + 'px',
      height: pageH + 'px',
      pointerEvents: 'none',
      zIndex: '2147483646',
      display: shown && !away ? 'block' : 'none'
    });
    root.id = ROOT_ID;
    var layer = root.attachShadow({mode: 'open'});
    var canvas = el('canvas', {position: 'absolute', left: '0', top: '0', width: pageW + 'px', height: pageH + 'px'});
    canvas.width = pageW;
    canvas.height = pageH;
    layer.appendChild(canvas);
    var drawn = drawHeat(canvas, cells, data.columns, data.row_px, width);
    var labelled = badges(layer, data.click_map);
    root.setAttribute('data-viewport-class', cls);
    root.setAttribute('data-cells', String(drawn));
    root.setAttribute('data-badges', String(labelled));
    if (away) root.setAttribute('data-away', '');
    d.body.appendChild(root);
    var total = cells.reduce(function (s, c) {
      return s + c[2];
    }, 0);
    var bar = d.getElementById(ROOT_ID + '-bar');
    if (bar) bar.remove();
    if (away) {
      bar = toolbar('LogDig heat map of ' + data.page + ': this is another page. Open its overlay from the dashboard.');
    } else {
      bar = toolbar('LogDig heat map · ' + cls + ' · ' + total + ' clicks · ' + data.from + ' to ' + data.to);
      bar.ui.appendChild(
        button(shown ? 'Hide' : 'Show', function () {
          shown = !shown;
          render();
        })
      );
    }
    bar.ui.appendChild(
      button('Close', function () {
        root.remove();
        bar.remove();
        w.removeEventListener('resize', onResize);
        w.removeEventListener('popstate', onNavigate);
        w.removeEventListener('hashchange', onNavigate);
        clearInterval(watch);
        clearTimeout(timer);
      })
    );
    d.body.appendChild(bar);
  }

  function notice(text) {
    var bar = toolbar(text);
    bar.style.background = '#c53030';
    bar.setAttribute('role', 'alert');
    bar.ui.appendChild(
      button('Close', function () {
        bar.remove();
      })
    );
    d.body.appendChild(bar);
  }

  function whenReady(f) {
    if (d.body) f();
    else d.addEventListener('DOMContentLoaded', f);
  }

  var timer = 0;
  function onResize() {
    clearTimeout(timer);
    timer = setTimeout(render, 150);
  }

  // Navigation without a load (pushState has no event): draw again when the URL changes,
  // a moment later so the app has drawn the new page.
  var here = '';
  var watch = 0;
  function onNavigate() {
    if (w.location.href !== here) onResize();
  }

  var url = new URL('overlay/data', script.src);
  url.searchParams.set('sig', sig);
  fetch(url, {credentials: 'omit', cache: 'no-store'})
    .then(function (r) {
      return r.json().then(function (body) {
        return {ok: r.ok, body: body};
      });
    })
    .then(function (res) {
      if (!res.ok) {
        return whenReady(function () {
          notice('LogDig overlay refused: ' + (res.body.error || 'invalid link'));
        });
      }
      data = res.body;
      whenReady(render);
      w.addEventListener('resize', onResize);
      w.addEventListener('popstate', onNavigate);
      w.addEventListener('hashchange', onNavigate);
      watch = setInterval(onNavigate, 500);
      // Images and fonts that load later move things: draw again once the page is loaded.
      if (d.readyState !== 'complete') w.addEventListener('load', render);
    })
    .catch(function () {
      whenReady(function () {
        notice('LogDig overlay: the collector could not be reached.');
      });
    });
})(window, document);
