// The camera's web page. It talks to the daemon only through the CGI surface (XML replies),
// the MJPEG stream, /web/status.json for the status strip and, for the motion cells,
// /debug/state.json. Credentials live in
// sessionStorage and go out as an Authorization: Basic header, never in a URL.
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);
// A fault of the page itself is shown, not swallowed (the browser tests check it stays empty).
const pageError = (what) => { const el = $('#page-error'); if (el) el.textContent = 'This page hit an error: ' + what; };
window.addEventListener('error', (ev) => pageError(ev.message));
window.addEventListener('unhandledrejection', (ev) => pageError(ev.reason && ev.reason.message ? ev.reason.message : String(ev.reason)));
let uid = 0;
const nextId = () => 'f' + (++uid);

// Builds an element: h('button', {type: 'button', onclick: f}, 'text', child...).
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat(Infinity)) if (kid !== null && kid !== undefined && kid !== false) el.append(kid);
  return el;
}
const labelled = (text, input) => h('label', {}, text + ' ', input);

// ---- the CGI client ----
const CODES = {
  '-1': 'a value is missing or out of range',
  '-2': 'wrong user name or password',
  '-3': 'this account is not allowed to do that',
  '-4': 'the camera could not do it (its system log says why)',
  '-5': 'the camera took too long',
  '-6': 'reserved error',
  '-7': 'the camera had an unexpected error',
  '-8': 'already signed in',
};
class CamError extends Error {
  constructor(code, cmd) {
    super(`${cmd}: the camera answered ${code}, ${CODES[code] || 'an error'}`);
    this.code = code;
  }
}

let auth = null; // {u, p, priv}
try { auth = JSON.parse(sessionStorage.getItem('ipcamd.auth')); } catch (e) { auth = null; }

function authHeader(a = auth) {
  const bytes = new TextEncoder().encode(`${a.u}:${a.p}`);
  return 'Basic ' + btoa(String.fromCharCode(...bytes));
}
function query(cmd, params = {}) {
  // URLSearchParams writes a space as '+', which the CGI would read as a literal plus.
  return new URLSearchParams({ cmd, ...params }).toString().replace(/\+/g, '%20');
}
function parseXml(text, cmd) {
  const doc = new DOMParser().parseFromString(text, 'text/xml');
  const out = {};
  for (const el of doc.documentElement.children) out[el.tagName] = el.textContent;
  if (out.result === undefined) throw new Error(`${cmd}: the reply is not a CGI result`);
  const code = Number(out.result);
  if (code !== 0) throw new CamError(code, cmd);
  return out;
}
async function cgi(cmd, params = {}, a = auth) {
  const reply = await fetch('/cgi-bin/CGIProxy.fcgi?' + query(cmd, params), {
    headers: { Authorization: authHeader(a) }, cache: 'no-store',
  });
  if (!reply.ok) throw new Error(`${cmd}: HTTP ${reply.status}`);
  return parseXml(await reply.text(), cmd);
}
// An authenticated GET of a file (snapshot, export), as a Blob.
async function fetchBlob(url) {
  const reply = await fetch(url, { headers: { Authorization: authHeader() }, cache: 'no-store' });
  if (!reply.ok) throw new Error(`${url.split('?')[0]}: HTTP ${reply.status}`);
  const type = reply.headers.get('content-type') || '';
  if (type.startsWith('text/xml')) parseXml(await reply.text(), url);
  return reply.blob();
}
function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
// Runs an action and reports into `out` (an element with role=status).
async function report(out, what, action) {
  out.className = 'msg';
  out.textContent = what + '…';
  try {
    const result = await action();
    out.textContent = typeof result === 'string' ? result : what + ': done.';
    out.classList.add('ok');
    return true;
  } catch (e) {
    out.textContent = e.message;
    out.classList.add('bad');
    return false;
  }
}
const stamp = () => new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '');

// ---- the command catalogue (names, ranges, choices) from spec/cgi-commands.toml ----
let catalogue = new Map();
async function loadCatalogue() {
  const reply = await fetch('/web/commands.json');
  for (const c of await reply.json()) catalogue.set(c.c, c);
}
const spec = (cmd) => catalogue.get(cmd);
const allowed = (cmd) => auth && spec(cmd) && auth.priv >= spec(cmd).p;
// The dispatcher lets every account change its own password and name.
const SELF_SERVICE = ['changePassword', 'changeUserName', 'changeUserNameAndPwdTogether'];

// ---- sign-in ----
async function signIn(u, p) {
  const a = { u, p, priv: 0 };
  const reply = await cgi('logIn', { usrName: u, groupId: String(Math.floor(Math.random() * 2e9)) }, a);
  if (reply.logInResult !== undefined && Number(reply.logInResult) !== 0) {
    throw new CamError(Number(reply.logInResult), 'logIn');
  }
  a.priv = Number(reply.privilege || 0);
  return a;
}
function remember(a) {
  auth = a;
  if (a) sessionStorage.setItem('ipcamd.auth', JSON.stringify(a));
  else sessionStorage.removeItem('ipcamd.auth');
}
async function inSetupMode() {
  if (auth.priv < 2) return false;
  try { await cgi('getDevName'); return false; } catch (e) { return e.code === -3; }
}
function showOnly(id) {
  for (const s of ['signin', 'setup', 'app']) $('#' + s).hidden = s !== id;
}
async function enter() {
  if (await inSetupMode()) { showOnly('setup'); $('#setup-form input').focus(); return; }
  showOnly('app');
  $('#who').textContent = `${auth.u} (${['visitor', 'operator', 'administrator'][auth.priv]})`;
  try {
    $('#devname').textContent = allowed('getDevName') ? (await cgi('getDevName')).devName : (await cgi('getProductModelName')).modelName;
  } catch (e) { /* the title stays "Camera" */ }
  buildNav();
  route();
  statusLoop();
}
$('#signin-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const msg = $('#signin-msg');
  msg.textContent = 'Signing in…';
  msg.className = 'msg';
  try {
    remember(await signIn(form.usr.value, form.pwd.value));
    form.pwd.value = '';
    msg.textContent = '';
    await enter();
  } catch (e) {
    msg.textContent = e.code === -2 ? 'Wrong user name or password.' : e.message;
    msg.className = 'msg bad';
  }
});
$('#setup-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  if (form.pwd.value !== form.pwd2.value) { $('#setup-msg').textContent = 'The two passwords differ.'; return; }
  const done = await report($('#setup-msg'), 'Setting the password', () =>
    cgi('changePassword', { usrName: auth.u, oldPwd: auth.p, newPwd: form.pwd.value }));
  if (done) { remember({ ...auth, p: form.pwd.value }); form.reset(); await enter(); }
});
$('#signout').addEventListener('click', async () => {
  try { await cgi('logOut', { usrName: auth.u }); } catch (e) { /* forget anyway */ }
  remember(null);
  stopStream();
  location.hash = '';
  location.reload();
});

// ---- pages ----
const PAGES = [
  { id: 'live', title: 'Live', priv: 0, render: pageLive },
  { id: 'motion', title: 'Motion', priv: 2, render: pageMotion },
  { id: 'masks', title: 'Masks & OSD', priv: 2, render: pageMasks },
  { id: 'settings', title: 'Settings', priv: 1, render: pageSettings },
  { id: 'records', title: 'Recordings', priv: 2, render: pageRecords },
  { id: 'system', title: 'System', priv: 2, render: pageSystem },
];
function buildNav() {
  $('#nav').replaceChildren(...PAGES.filter((p) => auth.priv >= p.priv)
    .map((p) => h('a', { href: '#' + p.id, id: 'nav-' + p.id }, p.title)));
}
let leavePage = () => {};
function route() {
  if (!auth) return;
  const [id, sub] = (location.hash.slice(1) || 'live').split('/');
  const page = PAGES.find((p) => p.id === id) || PAGES[0];
  leavePage();
  leavePage = () => {};
  stopStream(); // the camera encodes the stream only while someone watches: pages that show it restart it
  for (const a of $('#nav').children) a.toggleAttribute('aria-current', a.id === 'nav-' + page.id);
  const main = $('#main');
  main.replaceChildren();
  if (auth.priv < page.priv) {
    main.append(h('p', { class: 'msg bad', role: 'alert' }, `${page.title} needs a higher privilege than this account has.`));
    return;
  }
  document.title = page.title + ' · ' + $('#devname').textContent;
  page.render(main, sub);
}
window.addEventListener('hashchange', route);

// ---- the live picture: GetMJStream read with fetch (so the credentials stay in a header) ----
const stage = h('div', { class: 'stage' },
  h('img', { id: 'live', alt: 'Live picture of the camera' }),
  h('div', { class: 'overlay', id: 'overlay' }),
  h('p', { class: 'stage-msg', id: 'stage-msg', role: 'status' }));
let streamAbort = null;
// The camera's clock, from each frame's capture time.
const clock = h('span', { id: 'clock' });
let shownSecond = 0;
function showClock(unix) {
  if (Math.floor(unix) === shownSecond) return;
  shownSecond = Math.floor(unix);
  clock.replaceChildren(h('b', {}, 'Camera time '), new Date(unix * 1000).toLocaleString());
}
function stopStream() {
  if (streamAbort) streamAbort.abort();
  streamAbort = null;
  clock.replaceChildren();
}
function indexOf(buf, pattern, from) {
  outer: for (let i = from; i <= buf.length - pattern.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (buf[i + j] !== pattern[j]) continue outer;
    return i;
  }
  return -1;
}
async function startStream() {
  if (streamAbort) return;
  const ctl = new AbortController();
  streamAbort = ctl;
  const img = $('#live', stage);
  const msg = $('#stage-msg', stage);
  const crlf2 = new TextEncoder().encode('\r\n\r\n');
  while (!ctl.signal.aborted) {
    try {
      const reply = await fetch('/cgi-bin/CGIStream.cgi?cmd=GetMJStream', {
        headers: { Authorization: authHeader() }, signal: ctl.signal, cache: 'no-store',
      });
      if ((reply.headers.get('content-type') || '').startsWith('text/xml')) {
        parseXml(await reply.text(), 'GetMJStream');
      }
      const reader = reply.body.getReader();
      let buf = new Uint8Array(0);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const joined = new Uint8Array(buf.length + value.length);
        joined.set(buf);
        joined.set(value, buf.length);
        buf = joined;
        for (;;) {
          const end = indexOf(buf, crlf2, 0);
          if (end < 0) break;
          const head = new TextDecoder().decode(buf.subarray(0, end));
          const length = Number((/content-length:\s*(\d+)/i.exec(head) || [])[1]);
          if (!length) { buf = buf.subarray(end + 4); continue; }
          if (buf.length < end + 4 + length) break;
          const jpeg = buf.slice(end + 4, end + 4 + length);
          buf = buf.subarray(end + 4 + length);
          const ts = /x-timestamp:\s*([\d.]+)/i.exec(head);
          if (ts) showClock(Number(ts[1]));
          const old = img.src;
          img.src = URL.createObjectURL(new Blob([jpeg], { type: 'image/jpeg' }));
          if (old) URL.revokeObjectURL(old);
          msg.textContent = '';
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
      msg.textContent = 'Live picture: ' + e.message;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}
function mountStage(where) {
  where.append(stage);
  $('#overlay', stage).replaceChildren();
  startStream();
  return $('#overlay', stage);
}

// ---- status strip ----
let statusTimer = null;
async function statusLoop() {
  clearTimeout(statusTimer);
  const strip = $('#status');
  const items = [];
  const state = (label, text, alarm) => items.push(h('span', { class: alarm ? 'alarm' : '' }, h('b', {}, label + ' '), text));
  try {
    // Any signed-in account may read the strip's state (getDevState is admin-only).
    const reply = await fetch('/web/status.json', { headers: { Authorization: authHeader() }, cache: 'no-store' });
    if (!reply.ok) throw new Error(`status: HTTP ${reply.status}`);
    const s = Object.fromEntries(Object.entries(await reply.json()).map(([k, v]) => [k, String(v)]));
    const al = (v) => ['off', 'quiet', 'ALARM'][Number(v)] || v;
    state('Motion', al(s.motionDetectAlarm), s.motionDetectAlarm === '2');
    state('IO alarm', al(s.IOAlarm), s.IOAlarm === '2');
    state('Recording', s.record === '1' ? 'yes' : 'no');
    state('SD card', ['none', 'ok', 'read-only'][Number(s.sdState)] || s.sdState);
    state('IR', s.infraLedState === '1' ? 'on' : 'off');
  } catch (e) { state('Status', e.message, true); }
  if (auth) strip.replaceChildren(...items, clock);
  if (auth) statusTimer = setTimeout(statusLoop, 2000);
}

// ---- live page ----
function panel(title, ...kids) {
  const id = nextId();
  return h('section', { class: 'panel', 'aria-labelledby': id }, h('h2', { id }, title), ...kids);
}
const status = () => h('p', { class: 'msg', role: 'status' });

function pageLive(main) {
  const side = h('div', { class: 'side' });
  const view = h('div', { class: 'view' });
  const extra = h('div', { class: 'extra' });
  main.append(h('div', { class: 'live' }, view, side, extra));
  mountStage(view);
  const snapMsg = status();
  view.append(h('div', { class: 'row' },
    h('button', {
      type: 'button', id: 'snap',
      onclick: () => report(snapMsg, 'Snapshot', async () => {
        saveBlob(await fetchBlob('/cgi-bin/CGIProxy.fcgi?' + query('snapPicture2')), `snapshot-${stamp()}.jpg`);
        return 'Snapshot saved.';
      }),
    }, 'Save snapshot'), snapMsg));
  if (allowed('ptzMoveLeft')) side.append(ptzPanel());
  if (allowed('getImageSetting')) extra.append(imagePanel());
  if (allowed('getInfraLedConfig')) extra.append(irPanel());
}

function ptzPanel() {
  const msg = status();
  const run = (cmd, params) => cgi(cmd, params).catch((e) => { msg.textContent = e.message; msg.className = 'msg bad'; });
  const hold = (label, start, stop, glyph) => {
    let held = false;
    const begin = (ev) => { ev.preventDefault(); if (held) return; held = true; run(start); };
    const end = () => { if (!held) return; held = false; run(stop); };
    return h('button', {
      type: 'button', 'aria-label': label, title: label,
      onpointerdown: begin, onpointerup: end, onpointerleave: end, onpointercancel: end,
      onkeydown: (ev) => { if ((ev.key === ' ' || ev.key === 'Enter') && !ev.repeat) begin(ev); },
      onkeyup: (ev) => { if (ev.key === ' ' || ev.key === 'Enter') end(); },
      onblur: end,
    }, h('span', { 'aria-hidden': 'true' }, glyph));
  };
  const dirs = [['ptzMoveTopLeft', '↖', 'Up left'], ['ptzMoveUp', '↑', 'Up'], ['ptzMoveTopRight', '↗', 'Up right'],
    ['ptzMoveLeft', '←', 'Left'], null, ['ptzMoveRight', '→', 'Right'],
    ['ptzMoveBottomLeft', '↙', 'Down left'], ['ptzMoveDown', '↓', 'Down'], ['ptzMoveBottomRight', '↘', 'Down right']];
  const pad = h('div', { class: 'pad', role: 'group', 'aria-label': 'Pan and tilt' }, dirs.map((d) => d
    ? hold(d[2], d[0], 'ptzStopRun', d[1])
    : h('button', { type: 'button', 'aria-label': 'Home', title: 'Home', onclick: () => run('ptzReset') }, h('span', { 'aria-hidden': 'true' }, '⌂'))));
  pad.children[3].id = 'ptz-left';
  pad.children[5].id = 'ptz-right';
  const zoom = h('div', { class: 'row' },
    hold('Zoom in', 'zoomIn', 'zoomStop', '+'), hold('Zoom out', 'zoomOut', 'zoomStop', '−'),
    h('button', { type: 'button', onclick: () => run('ptzStopRun') }, 'Stop'));
  const speed = h('select', { onchange: (ev) => run('setPTZSpeed', { speed: ev.target.value }) },
    spec('setPTZSpeed').i[0].e.map(([v, m]) => h('option', { value: v }, m)));
  cgi('getPTZSpeed').then((r) => { speed.value = r.speed; }).catch((e) => { msg.textContent = e.message; msg.className = 'msg bad'; });
  const presets = h('select', {});
  const cruises = h('select', {});
  const fill = async () => {
    try {
      const p = await cgi('getPTZPresetPointList');
      presets.replaceChildren(...Array.from({ length: Number(p.cnt) }, (_, i) => p['point' + i]).filter(Boolean).map((n) => h('option', {}, n)));
      const c = await cgi('ptzGetCruiseMapList');
      cruises.replaceChildren(...Array.from({ length: Number(c.cnt) }, (_, i) => c['map' + i]).filter(Boolean).map((n) => h('option', {}, n)));
    } catch (e) { msg.textContent = e.message; msg.className = 'msg bad'; }
  };
  fill();
  const newName = h('input', { maxlength: 20, pattern: '[A-Za-z0-9_\\-]+', placeholder: 'name' });
  const act = (label, f) => h('button', { type: 'button', onclick: () => report(msg, label, f) }, label);
  return panel('Pan, tilt, zoom', pad, zoom, labelled('Speed', speed),
    h('fieldset', {}, h('legend', {}, 'Presets'), labelled('Preset', presets),
      h('div', { class: 'row' }, act('Go', () => cgi('ptzGotoPresetPoint', { name: presets.value })),
        allowed('ptzDeletePresetPoint') && act('Delete', async () => { await cgi('ptzDeletePresetPoint', { name: presets.value }); await fill(); })),
      allowed('ptzAddPresetPoint') && h('div', { class: 'row' }, labelled('New preset', newName),
        act('Add', async () => {
          if (!newName.reportValidity()) throw new Error('Give the preset a name (letters, digits, _ or -).');
          await cgi('ptzAddPresetPoint', { name: newName.value }); newName.value = ''; await fill();
        }))),
    h('fieldset', {}, h('legend', {}, 'Cruises'), labelled('Cruise', cruises),
      h('div', { class: 'row' }, act('Start', () => cgi('ptzStartCruise', { mapName: cruises.value })),
        act('Stop', () => cgi('ptzStopCruise')))),
    msg);
}

function irPanel() {
  const msg = status();
  const name = nextId();
  const radios = ['auto', 'on', 'off'].map((v) => h('label', {}, h('input', {
    type: 'radio', name, value: v,
    onchange: () => report(msg, 'Infrared', async () => {
      await cgi('setInfraLedConfig', { mode: v === 'auto' ? 0 : 1 });
      if (v !== 'auto') await cgi(v === 'on' ? 'openInfraLed' : 'closeInfraLed');
      return 'Infrared: ' + v + '.';
    }),
  }), ' ' + v[0].toUpperCase() + v.slice(1)));
  const group = h('fieldset', { class: 'row' }, h('legend', {}, 'Infrared LED'), radios);
  (async () => {
    try {
      const mode = (await cgi('getInfraLedConfig')).mode;
      let v = 'auto';
      if (mode === '1') v = (await cgi('getDevState')).infraLedState === '1' ? 'on' : 'off';
      group.querySelector(`[value=${v}]`).checked = true;
    } catch (e) { msg.textContent = e.message; }
  })();
  return panel('Night vision', group, msg);
}

function imagePanel() {
  const msg = status();
  const sliders = [['brightness', 'setBrightness'], ['contrast', 'setContrast'], ['hue', 'setHue'],
    ['saturation', 'setSaturation'], ['sharpness', 'setSharpness']];
  const inputs = {};
  const rows = sliders.map(([field, cmd]) => {
    const param = spec(cmd).i[0];
    const out = h('output', {});
    let timer = null;
    const input = h('input', {
      type: 'range', min: param.min ?? 0, max: param.max ?? 100, id: 'img-' + field,
      oninput: () => {
        out.textContent = input.value;
        clearTimeout(timer);
        timer = setTimeout(() => report(msg, field, () => cgi(cmd, { [param.n]: input.value }).then(() => `${field} ${input.value}`)), 150);
      },
    });
    inputs[field] = [input, out];
    return h('div', { class: 'slider' }, labelled(field[0].toUpperCase() + field.slice(1), input), out);
  });
  const mirror = h('input', { type: 'checkbox', id: 'mirror', onchange: () => report(msg, 'Mirror', () => cgi('mirrorVideo', { isMirror: mirror.checked ? 1 : 0 })) });
  const flip = h('input', { type: 'checkbox', id: 'flip', onchange: () => report(msg, 'Flip', () => cgi('flipVideo', { isFlip: flip.checked ? 1 : 0 })) });
  (async () => {
    try {
      const s = await cgi('getImageSetting');
      for (const [f, [input, out]] of Object.entries(inputs)) { input.value = s[f]; out.textContent = s[f]; }
      const m = await cgi('getMirrorAndFlipSetting');
      mirror.checked = m.isMirror === '1';
      flip.checked = m.isFlip === '1';
    } catch (e) { msg.textContent = e.message; }
  })();
  return panel('Picture', rows, h('div', { class: 'row' }, labelled('Mirror', mirror), labelled('Flip', flip)),
    h('button', {
      type: 'button',
      onclick: () => report(msg, 'Reset', async () => {
        await cgi('resetImageSetting');
        const s = await cgi('getImageSetting');
        for (const [f, [input, out]] of Object.entries(inputs)) { input.value = s[f]; out.textContent = s[f]; }
      }),
    }, 'Reset picture'), msg);
}

// ---- widgets: the 7×48 schedule painter and the 10×10 area grid ----
const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const bit = (v, k) => Math.floor(v / 2 ** k) % 2 === 1;

// A grid of cells painted by click-and-drag (the first cell decides paint or erase) and by
// keyboard (arrows move, space toggles). `cells` is a rows×cols array of booleans.
function paintGrid(rows, cols, cells, label, cellLabel, cls) {
  const grid = h('div', { class: 'paint ' + cls, role: 'grid', tabindex: 0, 'aria-label': label });
  grid.style.gridTemplateColumns = `repeat(${cols}, 1fr)`; // CSSOM: the CSP refuses style attributes
  const els = [];
  let cursor = 0;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
    const el = h('div', { class: 'cell', role: 'gridcell', 'aria-label': cellLabel(r, c), 'data-r': r, 'data-c': c });
    els.push(el);
    grid.append(el);
  }
  const show = () => els.forEach((el, i) => el.setAttribute('aria-selected', cells[Math.floor(i / cols)][i % cols]));
  let paint = null;
  const at = (ev) => {
    const box = grid.getBoundingClientRect();
    const c = Math.floor((ev.clientX - box.left) / box.width * cols);
    const r = Math.floor((ev.clientY - box.top) / box.height * rows);
    return r >= 0 && r < rows && c >= 0 && c < cols ? [r, c] : null;
  };
  grid.addEventListener('pointerdown', (ev) => {
    const p = at(ev);
    if (!p) return;
    ev.preventDefault();
    grid.setPointerCapture(ev.pointerId);
    paint = !cells[p[0]][p[1]];
    cells[p[0]][p[1]] = paint;
    show();
  });
  grid.addEventListener('pointermove', (ev) => {
    if (paint === null) return;
    const p = at(ev);
    if (p && cells[p[0]][p[1]] !== paint) { cells[p[0]][p[1]] = paint; show(); }
  });
  const done = () => { if (paint !== null) { paint = null; grid.dispatchEvent(new Event('change', { bubbles: true })); } };
  grid.addEventListener('pointerup', done);
  grid.addEventListener('pointercancel', done);
  grid.addEventListener('keydown', (ev) => {
    const moves = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -cols, ArrowDown: cols };
    if (ev.key in moves) cursor = Math.min(rows * cols - 1, Math.max(0, cursor + moves[ev.key]));
    else if (ev.key === ' ' || ev.key === 'Enter') {
      const r = Math.floor(cursor / cols);
      cells[r][cursor % cols] = !cells[r][cursor % cols];
      show();
      grid.dispatchEvent(new Event('change', { bubbles: true }));
    } else return;
    ev.preventDefault();
    els.forEach((el, i) => el.classList.toggle('cursor', i === cursor));
    grid.setAttribute('aria-activedescendant', els[cursor].id || (els[cursor].id = nextId()));
  });
  show();
  grid.cellEls = els;
  return grid;
}

// The rows of a bitmap widget from the reply values (one number per row).
const bitRows = (names, values, width) => names.map((n) => Array.from({ length: width }, (_, k) => bit(Number(values[n] || 0), k)));
function setRows(cells, names, values, width, grid) {
  bitRows(names, values, width).forEach((row, r) => { cells[r] = row; });
  grid.cellEls.forEach((el, i) => el.setAttribute('aria-selected', cells[Math.floor(i / width)][i % width]));
}

function scheduleWidget(names, values) {
  const cells = bitRows(names, values, 48);
  const time = (k) => `${String(Math.floor(k / 2)).padStart(2, '0')}:${k % 2 ? '30' : '00'}`;
  const grid = paintGrid(7, 48, cells, 'Weekly schedule: each cell is half an hour',
    (r, c) => `${DAYS[r]} ${time(c)}`, 'schedule');
  const hours = h('div', { class: 'hours', 'aria-hidden': 'true' }, Array.from({ length: 8 }, (_, i) => h('span', {}, time(i * 6))));
  const days = h('div', { class: 'days', 'aria-hidden': 'true' }, DAYS.map((d) => h('span', {}, d)));
  const all = (v) => () => { cells.forEach((row) => row.fill(v)); grid.cellEls.forEach((el) => el.setAttribute('aria-selected', v)); };
  return {
    el: h('div', { class: 'schedule-box' }, hours, h('div', { class: 'schedule-rows' }, days, grid),
      h('div', { class: 'row' }, h('button', { type: 'button', onclick: all(true) }, 'Always'), h('button', { type: 'button', onclick: all(false) }, 'Never'))),
    values: () => Object.fromEntries(names.map((n, r) => [n, cells[r].reduce((v, on, k) => v + (on ? 2 ** k : 0), 0)])),
    set: (v) => setRows(cells, names, v, 48, grid),
  };
}

function areaWidget(names, values, overlay) {
  const cells = bitRows(names, values, 10);
  const grid = paintGrid(10, 10, cells, 'Motion detection area: 10 by 10 cells over the picture',
    (r, c) => `row ${r + 1} column ${c + 1}`, 'area');
  grid.id = 'area-grid';
  overlay.append(grid);
  return {
    el: h('p', { class: 'hint' }, 'Click or drag on the picture to choose where motion counts.'),
    values: () => Object.fromEntries(names.map((n, r) => [n, cells[r].reduce((v, on, k) => v + (on ? 2 ** k : 0), 0)])),
    set: (v) => setRows(cells, names, v, 10, grid),
    grid,
  };
}

// ---- forms generated from the catalogue's parameter specs ----
function fieldInput(f, value) {
  const common = { name: f.n, id: nextId(), 'data-field': f.n };
  let input;
  if (f.t === 'bool01') {
    input = h('input', { ...common, type: 'checkbox', checked: value === '1' });
  } else if (f.e) {
    input = h('select', common, f.e.map(([v, m]) => h('option', { value: v, selected: String(v) === value }, m)));
    if (value !== undefined && !f.e.some(([v]) => String(v) === value)) input.append(h('option', { value, selected: true }, value));
  } else if (f.t === 'bitmask' && f.b) {
    const box = h('fieldset', { class: 'bits', 'data-field': f.n, 'data-bits': '1' }, h('legend', {}, f.d || f.n),
      f.b.map(([b, m]) => h('label', {}, h('input', { type: 'checkbox', 'data-bit': b, checked: bit(Number(value || 0), b) }), ' ' + m)));
    box.extra = Number(value || 0) - f.b.reduce((s, [b]) => s + (bit(Number(value || 0), b) ? 2 ** b : 0), 0);
    return box;
  } else if (f.t === 'int' || f.t === 'bitmask') {
    input = h('input', { ...common, type: 'number', step: 1, min: f.min, max: f.max, value: value ?? '', required: f.r ? true : undefined });
  } else if (f.t === 'ip') {
    input = h('input', { ...common, inputmode: 'decimal', pattern: '(\\d{1,3}\\.){3}\\d{1,3}', value: value ?? '', placeholder: '0.0.0.0' });
  } else {
    const secret = /pwd|psk|password|passwd/i.test(f.n);
    input = h('input', { ...common, type: secret ? 'password' : 'text', autocomplete: secret ? 'off' : undefined, maxlength: f.max, value: value ?? '' });
  }
  return labelled(f.d && f.d.length < 60 ? f.d : humanize(f.n), input);
}
// isEnableOSDMask -> "Enable OSD mask": a label where the catalogue has no description.
const humanize = (n) => n.replace(/^is(?=[A-Z])/, '').replace(/([a-z\d])([A-Z])/g, '$1 $2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2').replace(/_/g, ' ');

// The form of one command: `setCmd`'s parameters, prefilled from `values` (getCmd's reply).
// Patterned area{N}/schedule{N} parameters get the grid widgets. Answers {el, widgets}.
function commandForm(setCmd, values, opts = {}) {
  const s = spec(setCmd);
  const msg = status();
  const widgets = [];
  const fields = h('div', { class: 'fields' });
  for (const f of s.i) {
    const names = f.x || [f.n];
    if (f.x && /^schedule/.test(f.n) && f.bit === 48) {
      const w = scheduleWidget(names, values);
      widgets.push(w);
      fields.append(h('fieldset', { class: 'wide' }, h('legend', {}, (f.d || 'Schedule').replace(/ for weekday N$/, '') + ', half an hour a cell'), w.el));
    } else if (f.x && /^area/.test(f.n) && opts.overlay) {
      const w = areaWidget(names, values, opts.overlay);
      widgets.push(w);
      fields.append(w.el);
    } else {
      names.forEach((n, i) => {
        const d = f.x && f.d ? f.d.replace(/ N\b/, ' ' + (i + 1)) : f.d;
        const el = fieldInput({ ...f, n, d: opts.byIndex ? `${opts.byIndex} ${i + 1} ${f.n.replace(/_?N$/, '')}` : d }, values[n]);
        el.title = d || n;
        el.dataset.index = i;
        fields.append(el);
      });
    }
  }
  if (opts.byIndex) { // x1_0 y1_0 x2_0 y2_0, x1_1 …: one row per index
    fields.classList.add('by-index');
    [...fields.children].sort((a, b) => (a.dataset.index || 0) - (b.dataset.index || 0)).forEach((el) => fields.append(el));
  }
  // setVideoStreamParam and friends set one stream (streamType) of the getter's resolutionN…
  const picker = fields.querySelector('[data-field=streamType]');
  if (picker && values.streamType === undefined) {
    const pick = () => {
      for (const f of s.i) {
        const el = fields.querySelector(`[data-field=${f.n}]`);
        const v = values[f.n + picker.value];
        if (el && el !== picker && v !== undefined) el.value = v;
      }
    };
    picker.addEventListener('change', pick);
    if (picker.value === '') picker.value = 0;
    pick();
  }
  const form = h('form', { class: 'cmd', 'data-cmd': setCmd, novalidate: true }, fields,
    h('div', { class: 'row' }, h('button', { type: 'submit' }, opts.button || 'Save'), msg));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!form.reportValidity()) { msg.textContent = 'Some values are out of range.'; msg.className = 'msg bad'; return; }
    const params = {};
    for (const el of fields.querySelectorAll('[data-field]')) {
      const n = el.dataset.field;
      if (el.dataset.bits) {
        params[n] = [...el.querySelectorAll('[data-bit]')].reduce((v, c) => v + (c.checked ? 2 ** Number(c.dataset.bit) : 0), el.extra || 0);
      } else if (el.type === 'checkbox') params[n] = el.checked ? 1 : 0;
      else if (el.value !== '' || !el.closest('.fields')) params[n] = el.value;
    }
    for (const w of widgets) Object.assign(params, w.values());
    if (opts.before) opts.before(params);
    report(msg, s.f, async () => {
      const reply = await cgi(setCmd, params);
      if (opts.getter) fill(await cgi(opts.getter));
      return opts.done ? opts.done(reply) : 'Saved.';
    });
  });
  // Shows what the camera stored (after a save: the values it kept).
  const fill = (values) => {
    for (const el of fields.querySelectorAll('[data-field]')) {
      const v = values[el.dataset.field];
      if (v === undefined) continue;
      if (el.dataset.bits) {
        for (const c of el.querySelectorAll('[data-bit]')) c.checked = bit(Number(v), Number(c.dataset.bit));
      } else if (el.type === 'checkbox') el.checked = v === '1';
      else el.value = v;
    }
    for (const w of widgets) w.set(values);
    form.dispatchEvent(new Event('input'));
  };
  return { el: form, widgets, msg, fill };
}
// A getter's reply as a read-only list.
function replyTable(reply) {
  return h('dl', { class: 'reply' }, Object.entries(reply).filter(([k]) => k !== 'result')
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

// ---- motion page ----
const THRESHOLD = { 0: 20, 1: 14, 2: 10, 3: 28, 4: 40 }; // src/motion/detector.rs
async function pageMotion(main) {
  const view = h('div', { class: 'view' });
  const side = h('div', { class: 'side' });
  main.append(h('div', { class: 'live' }, view, side));
  const overlay = mountStage(view);
  let values;
  try { values = await cgi('getMotionDetectConfig'); } catch (e) { side.append(h('p', { class: 'msg bad' }, e.message)); return; }
  const form = commandForm('setMotionDetectConfig', values, { overlay, getter: 'getMotionDetectConfig' });
  side.append(panel('Motion detection', form.el));
  const grid = form.widgets.find((w) => w.grid).grid;
  let timer = null;
  const poll = async () => {
    try {
      const reply = await fetch('/debug/state.json', { headers: { Authorization: authHeader() }, cache: 'no-store' });
      const st = await reply.json();
      const sens = Number(form.el.querySelector('[data-field=sensitivity]').value);
      const scores = (st.motion && st.motion.scores) || [];
      grid.cellEls.forEach((el, i) => el.classList.toggle('fire', (scores[Math.floor(i / 10)] || [])[i % 10] > THRESHOLD[sens]));
    } catch (e) { /* the next poll tries again */ }
    timer = setTimeout(poll, 500);
  };
  poll();
  leavePage = () => clearTimeout(timer);
}

// ---- privacy masks and OSD ----
async function pageMasks(main) {
  const view = h('div', { class: 'view' });
  const side = h('div', { class: 'side' });
  main.append(h('div', { class: 'live' }, view, side));
  const overlay = mountStage(view);
  const errors = status();
  side.append(errors);
  try {
    const osd = await cgi('getOSDSetting');
    side.append(panel('On-screen display', commandForm('setOSDSetting', osd, { getter: 'getOSDSetting' }).el));
    side.append(panel('Privacy masks on or off', commandForm('setOSDMask', await cgi('getOSDMask'), { getter: 'getOSDMask' }).el));
    const area = await cgi('getOsdMaskArea');
    const form = commandForm('setOsdMaskArea', area, { button: 'Save mask areas', getter: 'getOsdMaskArea', byIndex: 'Mask' });
    const input = (n) => form.el.querySelector(`[data-field=${n}]`);
    const rects = [0, 1, 2, 3].map((i) => {
      const r = h('div', { class: 'mask', 'data-mask': i }, h('span', {}, String(i + 1)));
      overlay.append(r);
      return r;
    });
    const draw = () => rects.forEach((r, i) => {
      const [x1, y1, x2, y2] = ['x1_', 'y1_', 'x2_', 'y2_'].map((p) => Number(input(p + i).value) / 100);
      Object.assign(r.style, { left: x1 + '%', top: y1 + '%', width: Math.max(0, x2 - x1) + '%', height: Math.max(0, y2 - y1) + '%' });
      r.hidden = !(x2 > x1 && y2 > y1);
    });
    form.el.addEventListener('input', draw);
    const which = h('select', { id: 'mask-which' }, [1, 2, 3, 4].map((i) => h('option', { value: i - 1 }, 'Mask ' + i)));
    const clear = h('button', { type: 'button', onclick: () => { for (const p of ['x1_', 'y1_', 'x2_', 'y2_']) input(p + which.value).value = 0; draw(); } }, 'Clear this mask');
    let start = null;
    const pos = (ev) => {
      const b = overlay.getBoundingClientRect();
      return [Math.round(Math.min(1, Math.max(0, (ev.clientX - b.left) / b.width)) * 10000),
        Math.round(Math.min(1, Math.max(0, (ev.clientY - b.top) / b.height)) * 10000)];
    };
    overlay.addEventListener('pointerdown', (ev) => { start = pos(ev); overlay.setPointerCapture(ev.pointerId); ev.preventDefault(); });
    overlay.addEventListener('pointermove', (ev) => {
      if (!start) return;
      const p = pos(ev);
      const i = which.value;
      input('x1_' + i).value = Math.min(start[0], p[0]);
      input('y1_' + i).value = Math.min(start[1], p[1]);
      input('x2_' + i).value = Math.max(start[0], p[0]);
      input('y2_' + i).value = Math.max(start[1], p[1]);
      draw();
    });
    overlay.addEventListener('pointerup', () => { start = null; });
    overlay.classList.add('drawing');
    side.append(panel('Mask areas', h('p', { class: 'hint' }, 'Choose a mask, then drag on the picture (coordinates are 0–10000).'),
      h('div', { class: 'row' }, labelled('Draw', which), clear), form.el));
    draw();
  } catch (e) { errors.textContent = e.message; errors.className = 'msg bad'; }
}

// ---- settings: every other command of the guide, grouped as its chapters ----
// Commands with their own page or control, not repeated in Settings.
const ELSEWHERE = /^(ptzMove|ptzStopRun|ptzReset|zoom(In|Out|Stop)$|ptzGotoPresetPoint|ptzAddPresetPoint|ptzDeletePresetPoint|ptzStartCruise|ptzStopCruise|ptzGetCruiseMapList|getPTZPresetPointList|[gs]etPTZSpeed|set(Brightness|Contrast|Hue|Saturation|Sharpness)$|getImageSetting|resetImageSetting|mirrorVideo|flipVideo|getMirrorAndFlipSetting|[gs]etMotionDetectConfig|[gs]etOSDSetting|[gs]etOsdMaskArea|[gs]etOSDMask$|snapPicture|GetMJStream|getRecordList|logIn|logOut|usrBeatHeart|rebootSystem|restoreToFactorySetting|exportConfig|importConfig|fwUpgrade|getLog|getDevState|getDevInfo|openInfraLed|closeInfraLed|[gs]etInfraLedConfig|toolResetToFactory|getGeneratePubKey|getProduct)/;
const GROUPS = [
  ['video', 'Video streams', /Video|Stream|Ratio|H264|PwrFreq/],
  ['recording', 'Recording', /Record|Snap/],
  ['alarms', 'Alarms', /Alarm/],
  ['mail', 'Mail', /SMTP|smtp/],
  ['ftp', 'FTP', /Ftp/],
  ['network', 'Network', /IP|Ip|Wifi|Port|UPnP|DDNS|P2P|PPPoE|Firewall/],
  ['users', 'Users', /Account|Password|UserName|UserList|SessionList/],
  ['time', 'Time', /SystemTime/],
  ['rs485', 'RS485', /485/],
  ['ptz', 'PTZ', /PTZ|ptz|Cruise|Zoom/],
  ['system', 'System', /./],
];
const groupOf = (cmd) => GROUPS.find(([, , re]) => re.test(cmd))[0];
// For setX, its getter: getX (case-insensitive: setIpInfo/getIPInfo).
function getterOf(setCmd) {
  const want = 'get' + setCmd.slice(3).toLowerCase();
  for (const name of catalogue.keys()) if (name.toLowerCase() === want) return name;
  return null;
}
function pageSettings(main, sub) {
  const usable = [...catalogue.values()].filter((c) => !ELSEWHERE.test(c.c) && (auth.priv >= c.p || SELF_SERVICE.includes(c.c)));
  const groups = GROUPS.filter(([id]) => usable.some((c) => groupOf(c.c) === id));
  const current = groups.find(([id]) => id === sub) || groups[0];
  main.append(h('nav', { class: 'tabs', 'aria-label': 'Settings groups' }, groups.map(([id, title]) =>
    h('a', { href: '#settings/' + id, 'aria-current': id === current[0] ? 'page' : undefined }, title))));
  const box = h('div', { class: 'forms' });
  main.append(box);
  const cmds = usable.filter((c) => groupOf(c.c) === current[0]);
  const setters = new Set(cmds.filter((c) => /^set/.test(c.c) || /^set/i.test(c.c)).map((c) => c.c));
  const paired = new Set([...setters].map(getterOf).filter(Boolean));
  for (const c of cmds) {
    if (paired.has(c.c)) continue; // shown with its setter
    const card = panel(c.f, h('p', { class: 'cmdname' }, c.c));
    box.append(card);
    const getter = setters.has(c.c) ? getterOf(c.c) : null;
    if (getter || (c.i.length && !/^get/.test(c.c))) {
      (async () => {
        let values = {};
        if (getter) {
          try { values = await cgi(getter); } catch (e) { card.append(h('p', { class: 'msg bad' }, e.message)); }
        }
        const done = getter ? undefined : (r) => replyText(r) || 'Done.';
        card.append(commandForm(c.c, values, { button: getter ? 'Save' : c.f, getter, done }).el);
      })();
    } else {
      const out = h('div', {});
      const msg = status();
      card.append(h('div', { class: 'row' }, h('button', {
        type: 'button',
        onclick: () => report(msg, c.f, async () => {
          const r = await cgi(c.c);
          out.replaceChildren(replyTable(r));
          return /^get/.test(c.c) ? 'Read.' : replyText(r) || 'Done.';
        }),
      }, /^get/.test(c.c) ? 'Show' : c.f), msg), out);
    }
  }
}
const replyText = (r) => Object.entries(r).filter(([k]) => k !== 'result').map(([k, v]) => `${k}: ${v}`).join(', ');

// ---- recordings ----
function pageRecords(main) {
  const day = h('input', { type: 'date', required: true, value: new Date().toISOString().slice(0, 10) });
  // recordType: 0 schedule, 1 alarm, 2 manual, 3 all (src/cgi/commands/record.rs).
  const type = h('select', {}, h('option', { value: 3 }, 'All'), h('option', { value: 0 }, 'Schedule'), h('option', { value: 1 }, 'Alarm'), h('option', { value: 2 }, 'Manual'));
  const msg = status();
  const list = h('ul', { class: 'records' });
  const player = h('video', { controls: true, hidden: true, 'aria-label': 'Recording playback' });
  let startNo = 0;
  const search = () => report(msg, 'Listing recordings', async () => {
    // The camera counts times in its own local time, as seconds since 1970 of those fields.
    const from = Date.parse(day.value + 'T00:00:00Z') / 1000;
    const params = { recordPath: 0, startTime: from, endTime: from + 86399, recordType: type.value, startNo };
    const r = await cgi('getRecordList2', params);
    const rows = Array.from({ length: Number(r.curCnt || 0) }, (_, i) => r['record' + i]).filter(Boolean);
    list.replaceChildren(...rows.map((rec) => {
      // Each record is its download path, /record/<kind>_<YYYYMMDD>_<HHMMSS>.mp4.
      const path = rec.split(',').find((p) => p.includes('/')) || rec.split(',')[0];
      const name = path.split('/').pop();
      const m = /^([a-z]+)_(\d{4})(\d\d)(\d\d)_(\d\d)(\d\d)(\d\d)/.exec(name);
      const label = m ? `${m[5]}:${m[6]}:${m[7]} ${m[1]}` : name;
      const get = () => fetchBlob(path.startsWith('/') ? path : '/' + path);
      return h('li', {}, h('span', { title: name }, label),
        h('button', { type: 'button', onclick: () => report(msg, 'Loading ' + name, async () => { player.src = URL.createObjectURL(await get()); player.hidden = false; player.play(); return 'Playing ' + name; }) }, 'Play'),
        h('button', { type: 'button', onclick: () => report(msg, 'Downloading ' + name, async () => { saveBlob(await get(), name); return 'Saved ' + name; }) }, 'Download'));
    }));
    return `${r.totalCnt || 0} recordings on that day${rows.length ? `, showing ${startNo + 1}–${startNo + rows.length}` : ''}.`;
  });
  const form = h('form', { class: 'row', onsubmit: (ev) => { ev.preventDefault(); startNo = 0; search(); } },
    labelled('Day', day), labelled('Type', type), h('button', { type: 'submit' }, 'List'),
    h('button', { type: 'button', onclick: () => { startNo = Math.max(0, startNo - 10); search(); } }, 'Previous'),
    h('button', { type: 'button', onclick: () => { startNo += 10; search(); } }, 'Next'));
  main.append(panel('Recordings', form, msg, list, player));
  search();
}

// ---- system ----
function confirmDialog(text, yes) {
  const dlg = $('#confirm');
  $('#confirm-text').textContent = text;
  $('#confirm-ok').textContent = yes;
  dlg.showModal();
  return new Promise((resolve) => dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true }));
}
// Uploads a file to fwUpgrade or importConfig with a progress bar; answers the CGI reply.
function upload(cmd, field, file, bar) {
  return new Promise((resolve, reject) => {
    const body = new FormData();
    body.append(field, file);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/cgi-bin/CGIProxy.fcgi?' + query(cmd));
    xhr.setRequestHeader('Authorization', authHeader());
    xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) bar.value = ev.loaded / ev.total; };
    xhr.onload = () => {
      bar.value = 1;
      if (xhr.status !== 200) reject(new Error(`${cmd}: HTTP ${xhr.status} ${xhr.responseText.trim()}`));
      else try { resolve(parseXml(xhr.responseText, cmd)); } catch (e) { reject(e); }
    };
    xhr.onerror = () => reject(new Error(`${cmd}: the connection broke`));
    xhr.send(body);
  });
}
// After a command that restarts the camera: sign in again once it answers.
function reloadLater(text) {
  setTimeout(() => location.reload(), 15000);
  return text + ' This page reloads in 15 s.';
}
function uploadPanel(title, cmd, field, verdict) {
  const file = h('input', { type: 'file', id: 'file-' + cmd, required: true });
  const bar = h('progress', { max: 1, value: 0, id: 'progress-' + cmd, 'aria-label': title + ' progress' });
  const msg = h('p', { class: 'msg', role: 'status', id: 'verdict-' + cmd });
  const form = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      if (!file.files.length) { msg.textContent = 'Choose a file first.'; return; }
      if (!await confirmDialog(`${title}: the camera restarts afterwards. Continue?`, title)) return;
      report(msg, title, async () => verdict(await upload(cmd, field, file.files[0], bar)));
    },
  }, labelled('File', file), bar, h('button', { type: 'submit' }, title), msg);
  return panel(title, form);
}
async function pageSystem(main) {
  const info = h('div', {});
  main.append(panel('Device', info));
  try {
    const d = await cgi('getDevInfo');
    const two = (v) => String(v).padStart(2, '0');
    const tz = -Number(d.timeZone); // the guide's timeZone is seconds west of UTC
    info.append(replyTable({
      Model: d.productName, Name: d.devName, 'Serial number': d.serialNo, 'MAC address': d.mac,
      'Camera time': `${d.year}-${two(d.mon)}-${two(d.day)} ${two(d.hour)}:${two(d.min)}:${two(d.sec)} (UTC${tz < 0 ? '−' : '+'}${two(Math.floor(Math.abs(tz) / 3600))}:${two(Math.abs(tz) % 3600 / 60)})`,
      Firmware: d.firmwareVer, Hardware: d.hardwareVer,
    }));
  } catch (e) { info.append(h('p', { class: 'msg bad' }, e.message)); }
  // The log, newest first, ten a page (getLog's limit).
  const log = h('ol', { class: 'log' });
  const logMsg = status();
  let offset = 0;
  const readLog = () => report(logMsg, 'Reading the log', async () => {
    const r = await cgi('getLog', { offset, count: 10 });
    log.replaceChildren(...Array.from({ length: Number(r.curCnt) }, (_, i) => h('li', {}, logLine(r['log' + i]))));
    log.start = offset + 1;
    return `Entries ${offset + 1}–${offset + Number(r.curCnt)} of ${r.totalCnt}.`;
  });
  main.append(panel('System log', log, h('div', { class: 'row' },
    h('button', { type: 'button', onclick: () => { offset = Math.max(0, offset - 10); readLog(); } }, 'Newer'),
    h('button', { type: 'button', onclick: () => { offset += 10; readLog(); } }, 'Older'), logMsg)));
  readLog();
  main.append(uploadPanel('Upgrade firmware', 'fwUpgrade', 'fw_file', (r) =>
    {
      if (r.upgradeResult === undefined || r.upgradeResult === '0') return reloadLater('The camera verified and installed the image and restarts into it.');
      throw new Error(`The camera refused the image (upgradeResult ${r.upgradeResult}): its signature, board or checksum did not verify. Nothing was installed.`);
    }));
  const cfgMsg = status();
  main.append(panel('Configuration', h('div', { class: 'row' }, h('button', {
    type: 'button', id: 'export',
    onclick: () => report(cfgMsg, 'Export', async () => {
      await cgi('exportConfig');
      saveBlob(await fetchBlob('/configs/export/configs.bin'), `camera-config-${stamp()}.bin`);
      return 'Configuration saved.';
    }),
  }, 'Export configuration'), cfgMsg)));
  main.append(uploadPanel('Import configuration', 'importConfig', 'setting_file', () => reloadLater('The camera took the configuration and restarts.')));
  const sysMsg = status();
  main.append(panel('Restart', h('div', { class: 'row' },
    h('button', {
      type: 'button',
      onclick: async () => { if (await confirmDialog('Reboot the camera now?', 'Reboot')) report(sysMsg, 'Reboot', () => cgi('rebootSystem').then(() => reloadLater('The camera is rebooting.'))); },
    }, 'Reboot'),
    h('button', {
      type: 'button', class: 'danger',
      onclick: async () => {
        if (await confirmDialog('Reset every setting and account to the factory state? This cannot be undone.', 'Factory reset')) {
          report(sysMsg, 'Factory reset', () => cgi('restoreToFactorySetting').then(() => reloadLater('The camera was reset to its factory settings.')));
        }
      },
    }, 'Factory reset'), sysMsg)));
}
// getLog's entries: "time+user+ip+kind" (time in seconds, the guide's layout).
function logLine(entry) {
  const [time, user, ip, kind] = (entry || '').split('+');
  const kinds = ['power on', 'motion alarm', 'sign-in', 'sign-out', 'went off line', 'IO alarm'];
  const when = Number(time) ? new Date(Number(time) * 1000).toLocaleString() : time;
  return `${when} ${kinds[Number(kind)] || 'event ' + kind} ${user || ''} ${ip || ''}`.trim();
}

// ---- start ----
(async () => {
  await loadCatalogue();
  if (auth) {
    try { await cgi('logIn', { usrName: auth.u, groupId: '1' }); await enter(); return; } catch (e) { remember(null); }
  }
  showOnly('signin');
})();
