/*
 * LogDig overlay, the segments: which visitors the heat map is of, and the pickers that
 * change it. Served with overlay-layers.js and overlay.js as one script, inside one function
 * (web/dashboard/overlay.py); el(), safe(), panel() and load() are overlay.js's.
 *
 * The parameters are the dashboard's filters (analysis/filters.py), checked by the server
 * with the same rules; page is not one (the link names the page). The first request names
 * none, so the server uses the filter the signed link carries (the dashboard view it was
 * opened from) and says which in the answer's `segment`; from then on every request names
 * every parameter, an empty one meaning "all visitors".
 *
 * A filter other than the variant is computed on demand (web/dashboard/segments.py): while
 * it is, the endpoint answers 202 {status: "computing", retry_after: s} and the overlay
 * says so and asks again after retry_after seconds, until the data arrives.
 */
var SEGMENT = ['channel', 'source', 'utm_source', 'utm_campaign', 'country', 'device', 'browser', 'visitor', 'variant'];
var seg = null; // the segment asked for; null until the first answer names the link's
var poll = 0; // the timer of the next question while a segment is being computed

function segmentQuery(url) {
  if (!seg) return;
  SEGMENT.forEach(function (p) {
    url.searchParams.set(p, seg[p] || '');
  });
}

// "mobile · new visitors · from news.example": the segment in words, for the panel.
function segmentText(s) {
  var out = [];
  if (s.device) out.push(s.device + ' devices');
  if (s.visitor) out.push(s.visitor + ' visitors');
  if (s.source) out.push('from ' + s.source);
  if (s.utm_source) out.push('utm_source ' + s.utm_source);
  ['channel', 'utm_campaign', 'country', 'browser'].forEach(function (p) {
    if (s[p]) out.push(p.replace('_', ' ') + ' ' + s[p]);
  });
  if (s.variant) out.push('variant ' + s.variant);
  return out.join(' · ');
}

function repick(name, value) {
  seg[name] = value;
  load();
}

function choice(name, label, options, value, onChange) {
  var wrap = el('label', {marginRight: '10px'}, label + ' ');
  var s = el('select', {font: 'inherit'});
  s.name = name;
  options.forEach(function (o) {
    var opt = el('option', {}, o[1]);
    opt.value = o[0];
    s.appendChild(opt);
  });
  s.value = value;
  s.addEventListener('change', safe(onChange));
  wrap.appendChild(s);
  return wrap;
}

// The experiment variants that clicked on the page: their A/B heat maps (no computation).
function variantPick(into, experiments) {
  var variants = [['', 'all visitors']];
  Object.keys(experiments).forEach(function (name) {
    experiments[name].forEach(function (v) {
      variants.push([name + ':' + v, name + ': ' + v]);
    });
  });
  into.appendChild(choice('variant', 'Variant', variants, seg.variant || '', function () {
    repick('variant', this.value);
  }));
}

// Device, visitor and source (the referrer's domain, or the landing URL's utm_source):
// a change fetches again. Other filters the link carried stay, shown in the panel's title.
function segmentPicks(into) {
  var any = [['', 'any']];
  into.appendChild(choice('device', 'Device', any.concat([['desktop', 'desktop'], ['mobile', 'mobile'], ['tablet', 'tablet']]), seg.device || '', function () {
    repick('device', this.value);
  }));
  into.appendChild(choice('visitor', 'Visitor', any.concat([['new', 'new'], ['returning', 'returning']]), seg.visitor || '', function () {
    repick('visitor', this.value);
  }));
  var kind = seg.utm_source && !seg.source ? 'utm_source' : 'source';
  var which = choice('source_kind', 'Source', [['source', 'referrer'], ['utm_source', 'utm_source']], kind, function () {
    var value = seg[kind] || '';
    seg[kind] = '';
    kind = this.value;
    if (value) repick(kind, value);
  });
  var text = el('input', {font: 'inherit', width: '9em', marginLeft: '4px'});
  text.name = 'source';
  text.type = 'text';
  text.placeholder = 'news.example';
  text.value = seg[kind] || '';
  text.addEventListener('change', safe(function () {
    repick(kind, text.value.trim());
  }));
  which.appendChild(text);
  into.appendChild(which);
}

// After an answer: 202 while the segment is computed (ask again later), else false.
function computing(res) {
  if (res.status !== 202 || !res.body || res.body.status !== 'computing') return false;
  var s = res.body.retry_after > 0 ? res.body.retry_after : 3;
  clearTimeout(poll);
  poll = setTimeout(safe(load), s * 1000);
  var what = segmentText(res.body.segment || seg || {});
  status = 'Computing the heat map of ' + (what || 'this segment') + ' from the stored events\u2026 (asking again every ' + s + ' s)';
  whenReady(function () {
    var bar = data ? panel() : panel(status);
    bar.setAttribute('data-computing', '');
  });
  return true;
}
