/*
 * LogDig overlay, the layers: pure drawing and counting over the data of
 * /overlay/data (web/dashboard/overlaydata.py). web/dashboard/overlay.py serves this file
 * and overlay.js as one script, inside one function (w = window, d = document), so these
 * declarations are private to it. Every element made here comes from el() (overlay.js):
 * data-logdig-ignore, text through textContent only.
 *
 * Geometry: a grid cell is 1/columns of the viewport width by row_px page pixels, so
 * cell (col, row) sits at (col / columns * innerWidth, row * row_px). Attention and scroll
 * depth are shares of the page height, drawn on this page's height.
 */

// 256 colours along the stops, as RGBA bytes.
function palette(stops) {
  var c = el('canvas').getContext('2d');
  c.canvas.width = 256;
  c.canvas.height = 1;
  var g = c.createLinearGradient(0, 0, 256, 0);
  stops.forEach(function (s) {
    g.addColorStop(s[0], s[1]);
  });
  c.fillStyle = g;
  c.fillRect(0, 0, 256, 1);
  return c.getImageData(0, 0, 256, 1).data;
}

// Clicks: transparent blue through green and yellow to red. Movement: violet to white,
// so both can be on at once and still be told apart.
var HEAT = [
  [0.0, 'rgb(0,0,255)'],
  [0.35, 'rgb(0,255,255)'],
  [0.55, 'rgb(0,255,0)'],
  [0.75, 'rgb(255,255,0)'],
  [1.0, 'rgb(255,0,0)']
];
var MOVES = [
  [0.0, 'rgb(60,0,120)'],
  [0.5, 'rgb(170,60,255)'],
  [1.0, 'rgb(255,220,255)']
];

// A canvas over the whole page with the cells' density: [[col, row, count, ...], ...].
function heatCanvas(name, cells, columns, rowPx, width, pageW, pageH, stops) {
  var canvas = el('canvas', {position: 'absolute', left: '0', top: '0', width: pageW + 'px', height: pageH + 'px'});
  canvas.width = pageW;
  canvas.height = pageH;
  canvas.setAttribute('data-layer', name);
  var ctx = canvas.getContext('2d', {willReadFrequently: true});
  var max = 0;
  cells.forEach(function (c) {
    max = Math.max(max, c[2]);
  });
  canvas.drawn = 0;
  if (!max) return canvas;
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
  var colours = palette(stops);
  for (var i = 3; i < px.length; i += 4) {
    var a = px[i];
    if (!a) continue;
    px[i - 3] = colours[a * 4];
    px[i - 2] = colours[a * 4 + 1];
    px[i - 1] = colours[a * 4 + 2];
    px[i] = Math.min(210, a * 1.5);
  }
  ctx.putImageData(img, 0, 0);
  canvas.drawn = cells.length;
  return canvas;
}

function pill(text, style) {
  return el(
    'span',
    Object.assign(
      {
        position: 'absolute',
        font: '600 11px/16px system-ui, sans-serif',
        padding: '0 5px',
        borderRadius: '8px',
        color: '#fff',
        whiteSpace: 'nowrap'
      },
      style
    ),
    text
  );
}

// The page box of the element a selector (from event data) names, or null.
function boxOf(selector) {
  var target = null;
  try {
    target = d.querySelector(selector);
  } catch (e) {
    return null; // not a selector this browser understands
  }
  if (!target) return null;
  var r = target.getBoundingClientRect();
  if (!r.width && !r.height) return null;
  return {left: r.left + w.scrollX, top: r.top + w.scrollY, width: r.width, height: r.height};
}

// An element's pills (its clicks, then its dead clicks) share one row just above it, laid
// out side by side, so none sits on another's (a pill below an element landed on the
// click count of the element underneath).
function badgeRow(layer, box, selector) {
  var rows = layer.logdigRows || (layer.logdigRows = {});
  if (!rows[selector]) {
    rows[selector] = el('div', {
      position: 'absolute',
      left: box.left + 'px',
      top: Math.max(0, box.top - 18) + 'px',
      display: 'flex',
      gap: '4px'
    });
    layer.appendChild(rows[selector]);
  }
  return rows[selector];
}

// Click counts above the elements clicked most.
function clickBadges(layer, clickMap) {
  var n = 0;
  clickMap.slice(0, 100).forEach(function (item) {
    var box = boxOf(item.selector);
    if (!box) return;
    var label = item.clicks + (item.clicks === 1 ? ' click' : ' clicks');
    if (item.rage_clicks) label += ' · ' + item.rage_clicks + ' rage';
    var b = pill(label, {position: 'relative', background: item.rage_clicks ? '#c53030' : '#1a202c'});
    b.className = 'logdig-badge';
    b.setAttribute('data-selector', item.selector);
    b.setAttribute('data-clicks', String(item.clicks));
    badgeRow(layer, box, item.selector).appendChild(b);
    n++;
  });
  return n;
}

// Dead clicks: a dashed outline on the element, and its dead clicks with their share of
// the element's clicks in its row of pills (after its click count).
function deadMarks(layer, clickMap) {
  var n = 0;
  clickMap.forEach(function (item) {
    if (!item.dead_clicks || !item.clicks) return;
    var box = boxOf(item.selector);
    if (!box) return;
    var share = item.dead_clicks / item.clicks;
    layer.appendChild(
      el('div', {
        position: 'absolute',
        left: box.left - 3 + 'px',
        top: box.top - 3 + 'px',
        width: box.width + 2 + 'px',
        height: box.height + 2 + 'px',
        border: '2px dashed #dd6b20',
        borderRadius: '4px'
      })
    );
    var b = pill(item.dead_clicks + ' dead · ' + Math.round(share * 100) + '%', {position: 'relative', background: '#dd6b20'});
    b.className = 'logdig-dead';
    b.setAttribute('data-selector', item.selector);
    b.setAttribute('data-dead', String(item.dead_clicks));
    b.setAttribute('data-share', share.toFixed(4));
    badgeRow(layer, box, item.selector).appendChild(b);
    n++;
  });
  return n;
}

function seconds(ms) {
  if (ms < 100) return Math.round(ms) + ' ms';
  return ms >= 10000 ? Math.round(ms / 1000) + ' s' : (ms / 1000).toFixed(1) + ' s';
}

// Attention: each tenth of the page veiled by how little it was looked at (the tenth
// looked at longest is clear), with its mean time in view and the share of views that
// had it in view.
function attentionBands(layer, rows, pageW, pageH) {
  var max = 0;
  rows.forEach(function (r) {
    max = Math.max(max, r.mean_ms);
  });
  if (!rows.length) return 0;
  var h = pageH / 10;
  rows.forEach(function (r) {
    var band = el('div', {
      position: 'absolute',
      left: '0',
      top: r.tenth * h + 'px',
      width: pageW + 'px',
      height: h + 'px',
      background: 'rgba(20,20,40,' + (max ? 0.55 * (1 - r.mean_ms / max) : 0).toFixed(3) + ')',
      borderTop: '1px dotted rgba(255,255,255,.5)',
      boxSizing: 'border-box'
    });
    band.className = 'logdig-attention';
    band.setAttribute('data-tenth', String(r.tenth));
    band.setAttribute('data-ms', String(Math.round(r.mean_ms)));
    // on the left: the panel is fixed at the bottom right, and a band scrolls under it
    var label = pill(seconds(r.mean_ms) + ' · ' + Math.round(r.reached * 100) + '% saw it', {
      left: '12px',
      top: '4px',
      background: 'rgba(26,32,44,.85)'
    });
    band.appendChild(label);
    layer.appendChild(band);
  });
  return rows.length;
}

// Scroll reach: a line where each share of visitors still was (their deepest scroll, in
// tenths of the page), labelled.
function scrollLines(layer, reach, pageW, pageH) {
  reach.forEach(function (r) {
    var y = Math.min(pageH - 2, (r.depth / 100) * pageH);
    var line = el('div', {
      position: 'absolute',
      left: '0',
      top: y + 'px',
      width: pageW + 'px',
      height: '0',
      borderTop: '2px solid #2b6cb0'
    });
    line.className = 'logdig-reach';
    line.setAttribute('data-share', String(r.share));
    line.setAttribute('data-depth', String(r.depth));
    line.appendChild(
      pill(Math.round(r.share * 100) + '% of visitors scrolled this far (' + r.depth + '% of the page)', {
        left: '12px',
        top: '-18px',
        background: '#2b6cb0'
      })
    );
    layer.appendChild(line);
  });
  return reach.length;
}
