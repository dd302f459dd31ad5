// The page's drawing of a statechart, from a machine's exported JSON (machines/export.ts's
// machineConfig, the form of machines/worker.json): an arc diagram — leaf states in a row in
// document order, each compound state a frame around its children, transitions as arcs (left
// to right above the row, right to left below, longer ones higher), the transitions between the
// same two states as one arc with their events. Generic over the JSON, so it follows the machine as it changes;
// browser code, kept as text and inlined into the page (no bundler, nothing loaded).
export const STATECHART_SCRIPT = String.raw`
function drawStatechart(config) {
  var NS = 'http://www.w3.org/2000/svg';
  var BOX_W = 112, BOX_H = 50, GAP = 36, PAD = 22, HEAD = 22, MARGIN = 24;
  function el(tag, attrs, text) {
    var node = document.createElementNS(NS, tag);
    for (var name in attrs) node.setAttribute(name, attrs[name]);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function build(key, conf, parent, id) {
    var node = { id: id, key: key, conf: conf, parent: parent, children: [] };
    for (var child in conf.states || {}) node.children.push(build(child, conf.states[child], node, id + '.' + child));
    node.levels = node.children.length ? 1 + Math.max.apply(null, node.children.map(function (c) { return c.levels; })) : 0;
    return node;
  }
  var root = build(config.id, config, null, config.id);
  var byId = new Map();
  var x = MARGIN;
  function place(node) {
    byId.set(node.id, node);
    if (!node.children.length) { node.x = x; node.w = BOX_W; x += BOX_W + GAP; return; }
    var start = x + PAD;
    x = start;
    node.children.forEach(place);
    node.x = start - PAD;
    node.w = x - GAP + PAD - node.x;
    x = node.x + node.w + GAP;
  }
  root.children.forEach(place);
  var width = x - GAP + MARGIN;

  function label(event) {
    var m = /^xstate\.(done|error)\.actor\.(.+)$/.exec(event);
    return m ? m[2] + ' ' + m[1] : event;
  }
  var edges = new Map();
  byId.forEach(function (node) {
    var add = function (t, text) {
      (t.target || []).forEach(function (target) {
        var to = byId.get(target.replace(/^#/, ''));
        if (!to) return;
        var key = node.id + ' -> ' + to.id;
        var edge = edges.get(key) || edges.set(key, { from: node, to: to, labels: [] }).get(key);
        if (edge.labels.indexOf(text) < 0) edge.labels.push(text);
      });
    };
    for (var event in node.conf.on || {}) node.conf.on[event].forEach(function (t) { add(t, label(event)); });
    (node.conf.always || []).forEach(function (t) { add(t, t.guard ? '[' + t.guard + ']' : 'always'); });
  });

  var centre = function (n) { return n.x + n.w / 2; };
  var list = Array.from(edges.values());
  list.forEach(function (e) {
    e.self = e.from === e.to;
    e.above = e.self || centre(e.to) > centre(e.from);
    e.span = Math.abs(centre(e.to) - centre(e.from));
  });
  // Each arc on a side rises a step above the shorter ones, so no two labels share a height.
  [true, false].forEach(function (side) {
    list.filter(function (e) { return e.above === side && !e.self; })
      .sort(function (a, b) { return a.span - b.span || centre(a.from) - centre(b.from); })
      .forEach(function (e, rank) { e.h = 24 + rank * 18; });
  });
  list.forEach(function (e) { if (e.self) e.h = 26; });
  // Where each arc meets its box: the ends on one side of a box spread along it, ordered by the far end.
  var ends = new Map();
  list.forEach(function (e) {
    [['from', 'to'], ['to', 'from']].forEach(function (pair) {
      if (e.self && pair[0] === 'to') return;
      var node = e[pair[0]], key = node.id + (e.above ? ' top' : ' bottom');
      (ends.get(key) || ends.set(key, []).get(key)).push({ edge: e, end: pair[0], far: centre(e[pair[1]]) });
    });
  });
  ends.forEach(function (group) {
    group.sort(function (a, b) { return a.far - b.far; });
    group.forEach(function (g, i) {
      var node = g.edge[g.end];
      g.edge[g.end + 'X'] = node.x + node.w * (i + 1) / (group.length + 1);
    });
  });

  var above = Math.max.apply(null, [0].concat(list.filter(function (e) { return e.above; }).map(function (e) { return e.h * 0.75 + 16; })));
  var below = Math.max.apply(null, [0].concat(list.filter(function (e) { return !e.above; }).map(function (e) { return e.h * 0.75 + 16; })));
  var rowY = MARGIN + above + root.levels * HEAD;
  var top = function (n) { return rowY - n.levels * HEAD; };
  var bottom = function (n) { return rowY + BOX_H + n.levels * 8; };
  var height = rowY + BOX_H + root.levels * 8 + below + MARGIN;

  var svg = el('svg', { viewBox: '0 0 ' + width + ' ' + height, width: width, class: 'statechart', role: 'img', 'aria-label': 'the ' + config.id + ' machine' });
  var defs = el('defs', {});
  var marker = el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse' });
  marker.append(el('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }));
  defs.append(marker);
  svg.append(defs);

  var leaves = [], frames = [];
  byId.forEach(function (node) {
    if (node === root) return;
    var g = el('g', { class: node.children.length ? 'frame' : 'node', 'data-state': node.key, 'data-id': node.id });
    if (node.children.length) {
      g.append(el('rect', { x: node.x, y: top(node), width: node.w, height: bottom(node) - top(node), rx: 10 }));
      g.append(el('text', { x: node.x + 10, y: top(node) + 15, class: 'frame-name' }, node.key));
      frames.push(g);
    } else {
      g.append(el('rect', { x: node.x, y: rowY, width: node.w, height: BOX_H, rx: 8 }));
      if (node.conf.type === 'final') g.append(el('rect', { x: node.x + 3, y: rowY + 3, width: node.w - 6, height: BOX_H - 6, rx: 6, class: 'final' }));
      g.append(el('text', { x: centre(node), y: rowY + 20, class: 'state-name' }, node.key));
      g.append(el('text', { x: centre(node), y: rowY + 37, class: 'state-workers' }, ''));
      leaves.push(g);
    }
    svg.append(g);
  });
  // The initial state of the machine and of each compound state: a dot and an arrow into it.
  byId.forEach(function (node) {
    var first = node.conf.initial && byId.get(node.id + '.' + node.conf.initial);
    if (!first) return;
    var y = first.children.length ? top(first) + 8 : rowY + BOX_H / 2;
    svg.append(el('circle', { cx: first.x - 15, cy: y, r: 4, class: 'initial' }));
    svg.append(el('path', { d: 'M' + (first.x - 11) + ',' + y + ' L' + (first.x - 1) + ',' + y, class: 'edge', 'marker-end': 'url(#arrow)' }));
  });
  list.forEach(function (e) {
    var g = el('g', { class: 'transition', 'data-from': e.from.key, 'data-to': e.to.key });
    var d, lx, ly;
    if (e.self) {
      var sx = e.fromX - 14, tx = e.fromX + 14, y0 = top(e.from);
      d = 'M' + sx + ',' + y0 + ' C' + (sx - 8) + ',' + (y0 - e.h) + ' ' + (tx + 8) + ',' + (y0 - e.h) + ' ' + tx + ',' + y0;
      lx = e.fromX; ly = y0 - e.h * 0.75 - 4;
    } else {
      var sy = e.above ? top(e.from) : bottom(e.from), ty = e.above ? top(e.to) : bottom(e.to), dy = e.above ? -e.h : e.h;
      d = 'M' + e.fromX + ',' + sy + ' C' + e.fromX + ',' + (sy + dy) + ' ' + e.toX + ',' + (ty + dy) + ' ' + e.toX + ',' + ty;
      lx = (e.fromX + e.toX) / 2; ly = (sy + ty) / 2 + dy * 0.75 + (e.above ? -4 : 12);
    }
    g.append(el('path', { d: d, class: 'edge', 'marker-end': 'url(#arrow)' }));
    g.append(el('text', { x: lx, y: ly, class: 'edge-label' }, e.labels.join(', ')));
    svg.append(g);
  });

  return {
    svg: svg,
    /** Lights each leaf state that holds workers and names them; a frame is lit when a state inside it is. */
    light: function (workersByState) {
      leaves.forEach(function (g) {
        var ids = workersByState.get(g.getAttribute('data-state')) || [];
        g.classList.toggle('lit', ids.length > 0);
        g.setAttribute('data-workers', ids.join(' '));
        g.querySelector('.state-workers').textContent = ids.length > 3 ? ids.slice(0, 2).join(' ') + ' +' + (ids.length - 2) : ids.join(' ');
      });
      frames.forEach(function (g) {
        var id = g.getAttribute('data-id') + '.';
        g.classList.toggle('lit', leaves.some(function (leaf) { return leaf.classList.contains('lit') && leaf.getAttribute('data-id').indexOf(id) === 0; }));
      });
    },
  };
}
`;
