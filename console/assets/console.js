// refersion-relay console: live outcomes (server-sent events from the
// journal), the state panel refreshed every 2 s, and the replay of selected
// dead letters (dry run first). Plain JavaScript, no dependency.
'use strict';
(function () {
  var $ = function (sel) { return document.querySelector(sel); };
  var maxRows = 500;

  function text(tag, value, cls) {
    var el = document.createElement(tag);
    if (value !== undefined && value !== null) { el.textContent = String(value); }
    if (cls) { el.className = cls; }
    return el;
  }

  function outcomeClass(e) {
    if (e.dead_lettered || e.outcome === 'unauthorized' || e.outcome === 'stopped') { return 'o-bad'; }
    if (['skipped', 'already_done', 'nothing_to_cancel', 'no_conversion', 'replayed'].indexOf(e.outcome) >= 0) { return 'o-warn'; }
    return 'o-ok';
  }

  function clock(iso) {
    var d = new Date(iso);
    return isNaN(d) ? '' : d.toISOString().slice(11, 23);
  }

  // row builds a table row as the server renders one (console.html, "row").
  function row(e) {
    var tr = text('tr', null, outcomeClass(e) + ' new');
    tr.dataset.seq = e.seq;
    tr.dataset.orderId = e.order_id || '';
    var t = text('td', clock(e.time)); t.title = e.time; tr.appendChild(t);
    var o = text('td', e.outcome, 'outcome');
    if (e.dead_lettered) { o.appendChild(document.createTextNode(' ')); o.appendChild(text('span', '(dead-lettered)', 'small')); }
    tr.appendChild(o);
    var id = text('td');
    if (e.order_id) {
      var a = text('a', e.order_id);
      a.href = '?order_id=' + encodeURIComponent(e.order_id);
      id.appendChild(a);
    }
    tr.appendChild(id);
    tr.appendChild(text('td', e.status || ''));
    tr.appendChild(text('td', e.attempts || ''));
    tr.appendChild(text('td', (e.latency_ms || 0).toFixed(1) + ' ms'));
    var why = text('td', e.reason || '', 'why');
    if (e.body) { why.appendChild(document.createTextNode(' ')); why.appendChild(text('code', e.body)); }
    tr.appendChild(why);
    tr.appendChild(text('td', e.trace_id || '', 'trace'));
    return tr;
  }

  // Live outcomes: resume after the newest row the server rendered.
  var body = $('#outcomes tbody');
  var live = $('#live');
  if (body && window.EventSource) {
    var url = 'journal/stream?since=' + encodeURIComponent(document.body.dataset.seq) +
      '&epoch=' + encodeURIComponent(document.body.dataset.epoch);
    var es = new EventSource(url);
    es.addEventListener('open', function () { live.textContent = 'live'; live.className = 'live on'; });
    es.addEventListener('error', function () { live.textContent = 'reconnecting…'; live.className = 'live off'; });
    es.addEventListener('outcome', function (ev) {
      var e = JSON.parse(ev.data);
      body.insertBefore(row(e), body.firstChild);
      while (body.rows.length > maxRows) { body.deleteRow(body.rows.length - 1); }
      var none = $('#no-outcomes');
      if (none) { none.remove(); }
    });
    es.addEventListener('lost', function (ev) {
      var l = JSON.parse(ev.data);
      var tr = text('tr', null, 'o-warn');
      var td = text('td', l.lost + ' outcomes came faster than this page could read them: see tail or the metrics');
      td.colSpan = 8;
      tr.appendChild(td);
      body.insertBefore(tr, body.firstChild);
    });
  }

  // The state panel.
  function rate(v) { return (v || 0).toFixed(1) + '/s'; }
  function setState(s) {
    var c = $('#consuming');
    c.textContent = s.consuming ? 'consuming' : 'paused';
    c.className = 'value ' + (s.consuming ? 'ok' : 'bad');
    $('#reason').textContent = s.reason || '';
    var b = $('#breaker');
    b.textContent = s.breaker || '';
    b.className = 'value ' + (s.breaker === 'closed' ? 'ok' : 'bad');
    $('#rates').textContent = rate(s.rates.events_per_s) + ' events';
    $('#rates-detail').textContent = rate(s.rates.delivered_per_s) + ' delivered · ' + rate(s.rates.dead_lettered_per_s) + ' dead-lettered';
    $('#lag-total').textContent = s.lag_error ? 'unknown' : String(s.lag_total);
    var lag = $('#lag');
    lag.textContent = '';
    if (s.lag_error) {
      lag.textContent = s.lag_error;
    } else {
      Object.keys(s.lag || {}).sort(function (a, b) { return a - b; }).forEach(function (p) {
        lag.appendChild(text('span', 'p' + p + ': ' + s.lag[p]));
        lag.appendChild(document.createTextNode(' '));
      });
    }
    var n = s.counts;
    $('#delivered').textContent = n.delivered + ' delivered';
    $('#counts').textContent = n.events + ' events · ' + n.orders + ' orders · ' + n.skipped + ' skipped · ' +
      n.dead_lettered + ' dead-lettered · ' + n.in_flight + ' in flight';
  }
  function refresh() {
    fetch('api/state', { cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) { if (s) { setState(s); } })
      .catch(function () {});
  }
  if ($('#state')) { setInterval(refresh, 2000); }

  // Replay: a dry run of the selection, then the same selection for real.
  var form = $('#replay');
  if (!form) { return; }
  var token = $('#token');
  var dry = $('#dry-run');
  var go = $('#replay-go');
  var result = $('#replay-result');
  try { token.value = sessionStorage.getItem('refersion-relay-token') || ''; } catch (e) { /* storage off */ }
  token.addEventListener('change', function () {
    try { sessionStorage.setItem('refersion-relay-token', token.value); } catch (e) { /* storage off */ }
  });
  function selected() {
    return Array.prototype.map.call(document.querySelectorAll('.dl-select:checked'), function (c) { return c.value; });
  }
  var dryRunOf = null; // the selection the last successful dry run covered
  document.addEventListener('change', function (ev) {
    if (ev.target.classList && ev.target.classList.contains('dl-select')) {
      go.disabled = dryRunOf !== selected().join(',');
    }
  });
  function show(msg, bad) {
    result.hidden = false;
    result.textContent = msg;
    result.className = bad ? 'bad' : '';
  }
  function post(dryRun) {
    var records = selected();
    if (records.length === 0) { show('Select one or more dead letters first.', true); return; }
    dry.disabled = go.disabled = true;
    show(dryRun ? 'dry run…' : 'replaying…', false);
    fetch('api/replay', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Authorization': 'Bearer ' + token.value },
      body: JSON.stringify({ records: records, dry_run: dryRun })
    }).then(function (r) {
      return r.json().catch(function () { return { error: r.status + ' ' + r.statusText }; })
        .then(function (j) { return { status: r.status, body: j }; });
    }).then(function (res) {
      var j = res.body;
      dry.disabled = false;
      if (j.error) {
        show(res.status + ': ' + j.error + (j.text ? '\n' + j.text : ''), true);
        go.disabled = true;
        return;
      }
      var lines = (j.lines || []).map(function (l) { return JSON.stringify(l); }).join('\n');
      if (dryRun) {
        dryRunOf = records.join(',');
        go.disabled = false;
        show('Dry run: ' + j.text + (lines ? '\n\n' + lines : ''), false);
      } else {
        dryRunOf = null;
        go.disabled = true;
        show('Replayed: ' + j.text, j.summary.failed_again > 0 || j.summary.still_invalid > 0);
      }
    }).catch(function (err) {
      dry.disabled = false;
      show('request failed: ' + err, true);
    });
  }
  dry.addEventListener('click', function () { post(true); });
  go.addEventListener('click', function () { post(false); });
})();
