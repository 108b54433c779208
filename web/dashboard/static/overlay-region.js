/*
 * LogDig heat-map overlay, the rectangle tool: drag over the page to measure a region (its
 * clicks, distinct users and share of the page's clicks). Served inside overlay.js's
 * function (web/dashboard/overlay.py PARTS): it uses that file's state (measuring, rect),
 * el(), pageSheet() and safe(), and render() draws the region and the numbers.
 */
// The rectangle tool: a transparent sheet over the page that takes the drag (so the page
// under it is not clicked), and draws the rectangle as it grows.
function catcher(g) {
  var sheet = pageSheet(g, {
    pointerEvents: 'auto',
    cursor: 'crosshair'
  });
  sheet.className = 'logdig-catcher';
  var start = null;
  var box = null;
  function corners(e) {
    return {
      left: Math.min(start.x, e.pageX),
      top: Math.min(start.y, e.pageY),
      right: Math.max(start.x, e.pageX),
      bottom: Math.max(start.y, e.pageY)
    };
  }
  // The drag ends where the button is released, on the sheet or not (outside the window
  // the sheet gets no mouseup; the window does, or the next move has no button down).
  var end = safe(function (e) {
    w.removeEventListener('mouseup', end, true);
    if (!start) return;
    rect = corners(e);
    start = null;
    measuring = false;
    render();
  });
  sheet.addEventListener(
    'mousedown',
    safe(function (e) {
      e.preventDefault();
      start = {x: e.pageX, y: e.pageY};
      if (box) box.remove();
      box = regionBox(corners(e));
      sheet.appendChild(box);
      w.addEventListener('mouseup', end, true);
    })
  );
  sheet.addEventListener(
    'mousemove',
    safe(function (e) {
      if (!start) return;
      if (!e.buttons) return end(e);
      var r = corners(e);
      Object.assign(box.style, {
        left: r.left + 'px',
        top: r.top + 'px',
        width: r.right - r.left + 'px',
        height: r.bottom - r.top + 'px'
      });
    })
  );
  return sheet;
}

function regionBox(r) {
  var box = el('div', {
    position: 'absolute',
    left: r.left + 'px',
    top: r.top + 'px',
    width: r.right - r.left + 'px',
    height: r.bottom - r.top + 'px',
    border: '2px solid #d53f8c',
    background: 'rgba(213,63,140,.12)',
    boxSizing: 'border-box'
  });
  box.className = 'logdig-region';
  return box;
}

// The cells whose centre lies in the rectangle (page pixels): their clicks, their distinct
// users (cells carry user numbers when data.users) and the share of the page's clicks.
function regionStats(cells, columns, rowPx, width, rect, withUsers) {
  var cellW = width / columns;
  var clicks = 0;
  var total = 0;
  var users = {};
  var nUsers = 0;
  cells.forEach(function (c) {
    total += c[2];
    var x = (c[0] + 0.5) * cellW;
    var y = (c[1] + 0.5) * rowPx;
    if (x < rect.left || x > rect.right || y < rect.top || y > rect.bottom) return;
    clicks += c[2];
    (c[3] || []).forEach(function (u) {
      if (!users[u]) nUsers++;
      users[u] = 1;
    });
  });
  return {clicks: clicks, users: withUsers ? nUsers : null, share: total ? clicks / total : 0, total: total};
}
