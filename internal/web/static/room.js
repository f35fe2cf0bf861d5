// Parley: the live room page (/chats/{room}/).
//
// One WebSocket to /ws/chat/{room}/ with the "parley.v1" subprotocol, so the
// server also sends presence and typing frames. Messages are kept by seq, the
// room's gap-free counter, which is what makes reconnecting safe: after any
// interruption the page asks for everything after the last seq it holds and
// shows each seq exactly once. Every piece of user data reaches the page
// through textContent or text nodes, never as HTML.
(() => {
  'use strict';

  const root = document.getElementById('room');
  if (!root) return;

  const ROOM = root.dataset.room || '';
  const ME = root.dataset.user || '';
  const HISTORY = Number.parseInt(root.dataset.history, 10) || 20;

  const MAX_CHARS = 4000;          // the server's limit, in code points
  const COUNTER_FROM = 3500;       // show the counter only near the limit
  const GROUP_MS = 5 * 60 * 1000;  // same author within this: one header
  const OLDER_LIMIT = 50;
  const CATCHUP_LIMIT = 100;       // the server's largest page
  const TYPING_SEND_MS = 3000;
  const TYPING_SHOW_MS = 5000;
  const READ_MS = 2000;
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  // A socket that stays open this long counts as a success and resets the
  // backoff; one that the server closes at once (say, for flooding) does not.
  const STABLE_MS = 5000;
  const PROBE_EVERY = 4;           // failed attempts between session checks
  const NEAR_BOTTOM_PX = 80;
  const GAP_RETRIES = 3;
  // Pending messages go out at most this fast, under the server's default
  // limit (a burst of 20, then 5 a second), so that re-sending a backlog
  // after a reconnect is not answered with rate_limited or a 1008 close.
  const SEND_BURST = 10;
  const SEND_EVERY_MS = 250;

  // ---------- Elements ----------

  const $ = (id) => document.getElementById(id);
  const scroller = $('scroller');
  const logEl = $('messages');
  const pendingEl = $('pending');
  const emptyEl = $('empty-room');
  const olderBtn = $('load-older');
  const startEl = $('history-start');
  const sentinel = $('history-sentinel');
  const connEl = $('conn-state');
  const presenceBox = $('presence-box');
  const presenceList = $('presence');
  const presenceCount = $('presence-count');
  const typingEl = $('typing');
  const noticeEl = $('room-notice');
  const form = $('composer');
  const input = $('chat-message-input');
  const sendBtn = $('chat-message-submit');
  const countEl = $('char-count');
  const jumpBtn = $('jump-latest');

  // ---------- State ----------

  const entries = new Map();  // seq -> {msg, date, el, daySep}
  const order = [];           // the seqs held, ascending
  const pending = new Map();  // client_id -> {id, text, el, status}, oldest first
  const outbox = [];          // pending messages waiting for their turn to go out
  const typers = new Map();   // user -> timeout that forgets them

  let loaded = false;         // the first history answer has arrived
  let contig = 0;             // every seq from order[0] to contig is held
  let hasOlder = false;
  let loadingOlder = false;
  let catchingUp = false;
  let catchUpAgain = false;
  let gapRetries = 0;

  let ws = null;
  let attempts = 0;
  let reconnectTimer = 0;
  let stableTimer = 0;

  let stick = true;           // the view follows new messages
  let unseen = 0;
  let dividerEl = null;       // the "New messages" line
  let dividerSeq = 0;         // it sits before this seq
  let dividerSeen = true;     // the reader has scrolled past it since

  let sendTokens = SEND_BURST;
  let tokensAt = Date.now();
  let pausedUntil = 0;        // after a rate_limited answer
  let pumpTimer = 0;

  let lastTypingSent = 0;
  let lastReadSeq = 0;
  let lastReadAt = 0;
  let readTimer = 0;
  let noticeTimer = 0;
  let today = dayKey(new Date());

  const baseTitle = document.title;

  // ---------- Formatting ----------

  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
  const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });
  const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
  const dayYearFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' });

  function dayKey(d) {
    return d.getFullYear() * 10000 + d.getMonth() * 100 + d.getDate();
  }

  function dayLabel(d) {
    const now = new Date();
    if (dayKey(d) === dayKey(now)) return 'Today';
    const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
    if (dayKey(d) === dayKey(yesterday)) return 'Yesterday';
    return (d.getFullYear() === now.getFullYear() ? dayFmt : dayYearFmt).format(d);
  }

  // parseTime reads the server's RFC 3339 timestamp. Some engines reject
  // more than three fractional digits, and the server sends six.
  function parseTime(s) {
    const d = new Date(String(s).replace(/(\.\d{3})\d+/, '$1'));
    return Number.isNaN(d.getTime()) ? new Date() : d;
  }

  function codePoints(s) {
    let n = 0;
    for (const _ of s) n++; // eslint-disable-line no-unused-vars
    return n;
  }

  // hue mirrors hue in render.go, so a person has one colour everywhere.
  function hue(name) {
    let h = 0;
    for (const ch of name) h = (Math.imul(h, 31) + ch.codePointAt(0)) >>> 0;
    return h % 8;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function avatar(name) {
    const a = el('span', 'avatar hue-' + hue(name), [...name][0]?.toUpperCase() || '?');
    a.setAttribute('aria-hidden', 'true');
    return a;
  }

  function timeEl(date, className) {
    const t = el('time', className, timeFmt.format(date));
    t.dateTime = date.toISOString();
    t.title = fullFmt.format(date);
    return t;
  }

  // ---------- Message content: text with http(s) links ----------

  const URL_RE = /\bhttps?:\/\/[^\s<>"]+/gi;

  // appendContent puts text into parent as text nodes, with each http(s)
  // URL as a link. Nothing in text is ever interpreted as markup.
  function appendContent(parent, text) {
    let last = 0;
    for (const m of text.matchAll(URL_RE)) {
      const url = trimURL(m[0]);
      if (m.index > last) parent.append(text.slice(last, m.index));
      parent.append(link(url) || url);
      last = m.index + url.length;
    }
    if (last < text.length) parent.append(text.slice(last));
  }

  // trimURL drops punctuation that more likely ends the sentence than the
  // URL: "see https://example.com/a_(b)." links to ".../a_(b)".
  function trimURL(url) {
    const tally = (s, c) => s.split(c).length - 1;
    for (;;) {
      const c = url.at(-1);
      if (".,;:!?'*".includes(c) ||
          (c === ')' && tally(url, ')') > tally(url, '(')) ||
          (c === ']' && tally(url, ']') > tally(url, '['))) {
        url = url.slice(0, -1);
        continue;
      }
      return url;
    }
  }

  function link(url) {
    let parsed;
    try {
      parsed = new URL(url);
    } catch {
      return null;
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return null;
    const a = el('a', '', url);
    a.href = parsed.href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    return a;
  }

  // ---------- Rendering messages ----------

  function renderMessage(msg, date) {
    const node = el('div', 'msg');
    if (msg.author === ME) node.classList.add('mine');
    node.dataset.seq = String(msg.seq);

    const daySep = el('div', 'day-sep');
    daySep.append(el('span', '', dayLabel(date)));
    daySep.hidden = true;

    const row = el('div', 'msg-row');
    const main = el('div', 'msg-main');
    const head = el('p', 'msg-head');
    head.append(el('span', 'author', msg.author), ' ', timeEl(date));
    const body = el('p', 'msg-body');
    appendContent(body, msg.content);
    main.append(head, body);
    row.append(avatar(msg.author), main);

    const gutter = timeEl(date, 'gutter-time');
    gutter.setAttribute('aria-hidden', 'true');

    node.append(daySep, row, gutter);
    return { node, daySep };
  }

  // decorate sets what a message shows from the one before it: a day
  // separator on a new day, and its header unless it continues a group.
  function decorate(i) {
    const cur = entries.get(order[i]);
    const prev = i > 0 ? entries.get(order[i - 1]) : null;
    const newDay = !prev || dayKey(prev.date) !== dayKey(cur.date);
    const grouped = !newDay &&
      prev.msg.author === cur.msg.author &&
      cur.date - prev.date >= 0 && cur.date - prev.date < GROUP_MS &&
      cur.msg.seq !== dividerSeq;
    cur.el.classList.toggle('grouped', grouped);
    cur.daySep.hidden = !newDay;
    if (newDay) cur.daySep.firstChild.textContent = dayLabel(cur.date);
  }

  function decorateAround(seq) {
    const i = indexOf(seq);
    if (i < 0) return;
    decorate(i);
    if (i + 1 < order.length) decorate(i + 1);
  }

  // indexOf returns the position of seq in order, or -1.
  function indexOf(seq) {
    const i = insertionIndex(seq);
    return order[i] === seq ? i : -1;
  }

  // insertionIndex is the first position whose seq is >= seq. Most inserts
  // are at either end, so those are checked first.
  function insertionIndex(seq) {
    const n = order.length;
    if (n === 0 || seq > order[n - 1]) return n;
    if (seq <= order[0]) return 0;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (order[mid] < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  // insert adds msg in seq order and returns true, or false if that seq is
  // already shown.
  function insert(msg) {
    if (entries.has(msg.seq)) return false;
    const date = parseTime(msg.timestamp);
    const { node, daySep } = renderMessage(msg, date);
    const i = insertionIndex(msg.seq);
    const next = i < order.length ? entries.get(order[i]).el : null;
    order.splice(i, 0, msg.seq);
    entries.set(msg.seq, { msg, date, el: node, daySep });
    logEl.insertBefore(node, next);
    decorate(i);
    if (i + 1 < order.length) decorate(i + 1);
    if (dividerEl) placeDivider();
    return true;
  }

  function advanceContig() {
    while (entries.has(contig + 1)) contig++;
  }

  function newest() {
    return order.length ? order[order.length - 1] : 0;
  }

  // quietly runs fn with the log's live region switched off, so that
  // history loaded in bulk is not read out message by message.
  function quietly(fn) {
    logEl.setAttribute('aria-live', 'off');
    try {
      fn();
    } finally {
      requestAnimationFrame(() => logEl.setAttribute('aria-live', 'polite'));
    }
  }

  // ---------- The "New messages" divider and unseen count ----------

  function markUnseenFrom(seq) {
    if (dividerEl && !dividerSeen) return;
    const old = dividerSeq;
    dividerSeq = seq;
    dividerSeen = false;
    if (!dividerEl) {
      dividerEl = el('div', 'unread-divider', 'New messages');
      dividerEl.setAttribute('role', 'separator');
    }
    placeDivider();
    if (old) decorateAround(old);
    decorateAround(seq);
  }

  function placeDivider() {
    const i = insertionIndex(dividerSeq);
    const next = i < order.length ? entries.get(order[i]).el : null;
    if (dividerEl.nextSibling !== next || dividerEl.parentNode !== logEl) logEl.insertBefore(dividerEl, next);
  }

  function removeDivider() {
    if (!dividerEl) return;
    const old = dividerSeq;
    dividerEl.remove();
    dividerEl = null;
    dividerSeq = 0;
    dividerSeen = true;
    decorateAround(old);
  }

  function clearUnseen() {
    if (unseen === 0 && dividerSeen) return;
    unseen = 0;
    dividerSeen = true;
    updateJump();
    updateTitle();
  }

  function updateJump() {
    const show = unseen > 0 && !isAtBottom();
    jumpBtn.hidden = !show;
    if (show) {
      jumpBtn.textContent = 'Jump to latest · ' + (unseen === 1 ? '1 new message' : unseen + ' new messages');
    }
  }

  function updateTitle() {
    document.title = unseen > 0 ? '(' + unseen + ') ' + baseTitle : baseTitle;
  }

  // ---------- Scrolling ----------

  function isAtBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= NEAR_BOTTOM_PX;
  }

  function scrollToBottom(smooth) {
    const reduce = matchMedia('(prefers-reduced-motion: reduce)').matches;
    scroller.scrollTo({ top: scroller.scrollHeight, behavior: smooth && !reduce ? 'smooth' : 'auto' });
    stick = true;
  }

  function onScroll() {
    stick = isAtBottom();
    if (stick && !document.hidden) clearUnseen();
    updateJump();
    maybeSendRead();
  }

  function newestVisible() {
    if (!order.length) return false;
    const r = entries.get(newest()).el.getBoundingClientRect();
    const s = scroller.getBoundingClientRect();
    return r.bottom > s.top && r.top < s.bottom;
  }

  // ---------- History ----------

  function loadOlder() {
    if (!loaded || loadingOlder || !hasOlder || !order.length) return;
    if (send({ command: 'fetch_messages', before: order[0], limit: OLDER_LIMIT })) {
      loadingOlder = true;
      updateHistoryUI();
    }
  }

  // prepend inserts older messages, and updates what sits above them, while
  // keeping what the reader looks at in place: the message that was on top
  // stays exactly where it was on the screen.
  function prepend(list, more) {
    const anchor = order.length ? entries.get(order[0]).el.querySelector('.msg-row') : null;
    const top = anchor ? anchor.getBoundingClientRect().top : 0;
    quietly(() => {
      for (const m of list) insert(m);
    });
    // seq starts at 1, so holding seq 1 means there is nothing older.
    hasOlder = more && order.length > 0 && order[0] > 1;
    updateHistoryUI();
    if (anchor) scroller.scrollTop += anchor.getBoundingClientRect().top - top;
  }

  // Short rooms do not fill the screen, so the top stays in view and the
  // observer does not fire again: keep loading until it is out of view.
  function loadMoreIfTopVisible() {
    if (hasOlder && scroller.scrollTop < 200) loadOlder();
  }

  function updateHistoryUI() {
    olderBtn.hidden = !(loaded && hasOlder);
    olderBtn.disabled = loadingOlder;
    olderBtn.textContent = loadingOlder ? 'Loading…' : 'Load older messages';
    startEl.hidden = !(loaded && !hasOlder && order.length > 0);
    emptyEl.hidden = !(loaded && order.length === 0 && pending.size === 0);
  }

  // ---------- Catching up after a gap or a reconnect ----------

  function checkGap() {
    if (!loaded || newest() <= contig) return;
    if (catchingUp) {
      catchUpAgain = true;
      return;
    }
    catchUp();
  }

  function catchUp() {
    catchingUp = send({ command: 'fetch_messages', after: contig, limit: CATCHUP_LIMIT });
  }

  function onCatchUp(f, list) {
    const before = contig;
    addLive(list);
    if (f.has_more === true && contig > before) {
      catchUp();
      return;
    }
    catchingUp = false;
    if (newest() <= contig) {
      gapRetries = 0;
      return;
    }
    // A hole is left: a message with a lower seq may still be committing
    // on another server process. Ask again shortly, then accept the hole so
    // that every later message does not trigger another fetch.
    if (catchUpAgain || gapRetries < GAP_RETRIES) {
      catchUpAgain = false;
      gapRetries++;
      setTimeout(checkGap, 1000);
    } else {
      gapRetries = 0;
      contig = newest();
    }
  }

  // ---------- Incoming frames ----------

  function valid(m) {
    return m !== null && typeof m === 'object' &&
      Number.isSafeInteger(m.seq) && m.seq > 0 &&
      typeof m.author === 'string' && typeof m.content === 'string' &&
      (m.room === undefined || m.room === ROOM);
  }

  function onFrame(data) {
    let f;
    try {
      f = JSON.parse(data);
    } catch {
      return;
    }
    if (f === null || typeof f !== 'object') return;
    switch (f.command) {
      case 'messages': onMessages(f); break;
      case 'new_message': onNewMessage(f.message); break;
      case 'error': onError(f); break;
      case 'presence': onPresence(f.users); break;
      case 'typing': onTyping(f.user); break;
      default: break; // an extension this page does not know
    }
  }

  function onMessages(f) {
    const list = (Array.isArray(f.messages) ? f.messages : []).filter(valid);
    if (f.before !== undefined) {
      loadingOlder = false;
      prepend(list, typeof f.has_more === 'boolean' ? f.has_more : list.length >= OLDER_LIMIT);
      loadMoreIfTopVisible();
      return;
    }
    if (f.after !== undefined) {
      onCatchUp(f, list);
      return;
    }
    if (loaded) {
      // The answer to a plain fetch after reconnecting to a room that was
      // empty: whatever it holds is new to the reader.
      addLive(list);
      return;
    }
    quietly(() => {
      for (const m of list) {
        resolvePending(m);
        insert(m);
      }
    });
    loaded = true;
    for (const m of list) contig = Math.max(contig, m.seq);
    advanceContig();
    const more = typeof f.has_more === 'boolean' ? f.has_more : list.length >= HISTORY;
    hasOlder = more && order.length > 0 && order[0] > 1;
    updateHistoryUI();
    scrollToBottom();
    loadMoreIfTopVisible();
    checkGap();
    maybeSendRead();
  }

  function onNewMessage(m) {
    if (!valid(m)) return;
    stopTyping(m.author);
    addLive([m]);
  }

  // addLive shows messages that are new to the reader: live ones and those
  // recovered after a reconnect or a gap.
  function addLive(list) {
    const follow = stick && isAtBottom();
    let added = false;
    let firstUnseen = 0;
    for (const m of list) {
      resolvePending(m);
      if (!insert(m)) continue;
      added = true;
      if (m.author !== ME && (!follow || document.hidden)) {
        unseen++;
        if (!firstUnseen) firstUnseen = m.seq;
      }
    }
    if (!added) return;
    advanceContig();
    if (firstUnseen) markUnseenFrom(firstUnseen);
    updateHistoryUI();
    if (follow) scrollToBottom();
    updateJump();
    updateTitle();
    checkGap();
    maybeSendRead();
  }

  function onError(f) {
    const p = typeof f.client_id === 'string' ? pending.get(f.client_id) : undefined;
    if (p) {
      if (f.code === 'rate_limited') {
        // Not stored; the server's limit refills within a second.
        pausedUntil = Date.now() + 1000;
        sendTokens = 0;
        queueSend(p, true, 'Sending too fast — trying again…');
        return;
      }
      failPending(p, f.message || 'The message could not be sent.');
      return;
    }
    switch (f.code) {
      case 'rate_limited':
        showNotice('You are sending too fast. Slow down a little.');
        break;
      case 'bad_request':
        // Most likely an extension frame (typing, read) this server does not
        // know: nothing the reader can act on.
        break;
      default:
        showNotice(f.message || 'Something went wrong on the server.');
    }
  }

  // ---------- Presence and typing ----------

  function onPresence(users) {
    if (!Array.isArray(users)) return;
    const names = [...new Set(users.filter((u) => typeof u === 'string' && u !== ''))]
      .sort((a, b) => (a === ME) - (b === ME) || a.localeCompare(b));
    const SHOWN = 5;
    const items = names.slice(0, SHOWN).map((name) => {
      const li = el('li');
      li.title = name === ME ? name + ' (you)' : name;
      li.append(avatar(name), el('span', 'vh', name === ME ? name + ' (you)' : name));
      return li;
    });
    if (names.length > SHOWN) {
      const rest = names.slice(SHOWN);
      const li = el('li');
      li.title = rest.join(', ');
      const more = el('span', 'avatar presence-more', '+' + rest.length);
      more.setAttribute('aria-hidden', 'true');
      li.append(more, el('span', 'vh', 'and ' + rest.join(', ')));
      items.push(li);
    }
    presenceList.replaceChildren(...items);
    presenceCount.textContent = names.length === 1 ? '1 here' : names.length + ' here';
    presenceBox.title = names.join(', ');
    presenceBox.hidden = names.length === 0;
  }

  function onTyping(user) {
    if (typeof user !== 'string' || user === '' || user === ME) return;
    clearTimeout(typers.get(user));
    typers.set(user, setTimeout(() => stopTyping(user), TYPING_SHOW_MS));
    renderTyping();
  }

  function stopTyping(user) {
    if (!typers.has(user)) return;
    clearTimeout(typers.get(user));
    typers.delete(user);
    renderTyping();
  }

  function clearTypers() {
    for (const t of typers.values()) clearTimeout(t);
    typers.clear();
    renderTyping();
  }

  function renderTyping() {
    const n = [...typers.keys()];
    let text = '';
    if (n.length === 1) text = n[0] + ' is typing…';
    else if (n.length === 2) text = n[0] + ' and ' + n[1] + ' are typing…';
    else if (n.length === 3) text = n[0] + ', ' + n[1] + ' and ' + n[2] + ' are typing…';
    else if (n.length > 3) text = 'Several people are typing…';
    typingEl.textContent = text;
  }

  // ---------- Sending ----------

  function newClientId() {
    // randomUUID exists only in secure contexts; plain-HTTP deployments on a
    // LAN address still have getRandomValues.
    if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  function submit() {
    const text = input.value.trim();
    if (text === '') {
      input.focus();
      return;
    }
    if (codePoints(text) > MAX_CHARS) {
      updateCount();
      showNotice('A message has at most ' + MAX_CHARS.toLocaleString('en-US') + ' characters.');
      input.focus();
      return;
    }
    const p = { id: newClientId(), text, status: 'sending', el: null };
    p.el = renderPending(p);
    pending.set(p.id, p);
    pendingEl.append(p.el);
    queueSend(p);

    input.value = '';
    autosize();
    updateCount();
    lastTypingSent = 0; // the next keystroke may announce typing again
    removeDivider();
    clearUnseen();
    updateHistoryUI();
    scrollToBottom();
    input.focus();
  }

  // queueSend puts p in the outbox, at the front when it was refused and
  // must keep its place before later messages.
  function queueSend(p, front, status) {
    if (!outbox.includes(p)) {
      if (front) outbox.unshift(p);
      else outbox.push(p);
    }
    const open = ws && ws.readyState === WebSocket.OPEN;
    setPendingStatus(p, 'sending', status || (open ? 'Sending…' : 'Waiting for the connection…'));
    pump();
  }

  // pump sends from the outbox as fast as a small token bucket allows.
  function pump() {
    clearTimeout(pumpTimer);
    pumpTimer = 0;
    if (!ws || ws.readyState !== WebSocket.OPEN) return; // onOpen pumps again
    const now = Date.now();
    sendTokens = Math.min(SEND_BURST, sendTokens + (now - tokensAt) / SEND_EVERY_MS);
    tokensAt = now;
    while (outbox.length && sendTokens >= 1 && now >= pausedUntil) {
      const p = outbox.shift();
      if (!pending.has(p.id) || p.status === 'failed') continue;
      send({ command: 'new_message', message: p.text, client_id: p.id });
      sendTokens--;
    }
    if (outbox.length) pumpTimer = setTimeout(pump, Math.max(pausedUntil - now, SEND_EVERY_MS));
  }

  function renderPending(p) {
    const node = el('div', 'msg mine pending');
    const row = el('div', 'msg-row');
    const main = el('div', 'msg-main');
    const head = el('p', 'msg-head');
    const status = el('span', 'msg-status', 'Sending…');
    head.append(el('span', 'author', ME), ' ', status);
    const body = el('p', 'msg-body');
    appendContent(body, p.text);

    const actions = el('div', 'msg-actions');
    actions.hidden = true;
    const retry = el('button', 'btn btn-secondary btn-sm', 'Retry');
    retry.type = 'button';
    retry.addEventListener('click', () => {
      node.classList.remove('failed');
      actions.hidden = true;
      queueSend(p);
      input.focus();
    });
    const discard = el('button', 'btn btn-ghost btn-sm', 'Discard');
    discard.type = 'button';
    discard.addEventListener('click', () => {
      dropPending(p);
      input.focus();
    });
    actions.append(retry, discard);

    main.append(head, body, actions);
    row.append(avatar(ME), main);
    node.append(row);
    p.statusEl = status;
    p.actionsEl = actions;
    return node;
  }

  function setPendingStatus(p, status, text) {
    p.status = status;
    p.statusEl.textContent = text;
  }

  function failPending(p, message) {
    setPendingStatus(p, 'failed', 'Not sent: ' + message);
    p.el.classList.add('failed');
    p.actionsEl.hidden = false;
  }

  function dropPending(p) {
    p.el.remove();
    pending.delete(p.id);
    updateHistoryUI();
  }

  // resolvePending removes the pending copy of a message the server has
  // now stored; the stored one takes its place in the log.
  function resolvePending(m) {
    if (m.author !== ME || typeof m.client_id !== 'string') return;
    const p = pending.get(m.client_id);
    if (p) dropPending(p);
  }

  // ---------- Composer ----------

  function autosize() {
    const follow = isAtBottom();
    input.style.height = 'auto';
    // +2 for the borders: the box is border-box, scrollHeight is not.
    input.style.height = input.scrollHeight + 2 + 'px';
    if (follow) scrollToBottom();
  }

  function updateCount() {
    const n = codePoints(input.value.trim());
    if (n < COUNTER_FROM) {
      countEl.hidden = true;
      input.removeAttribute('aria-invalid');
      return;
    }
    const left = MAX_CHARS - n;
    countEl.hidden = false;
    countEl.textContent = left >= 0
      ? left.toLocaleString('en-US') + (left === 1 ? ' character left' : ' characters left')
      : (-left).toLocaleString('en-US') + ' over the ' + MAX_CHARS.toLocaleString('en-US') + '-character limit';
    countEl.classList.toggle('over', left < 0);
    if (left < 0) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  function onInput() {
    autosize();
    updateCount();
    const now = Date.now();
    if (input.value.trim() !== '' && now - lastTypingSent >= TYPING_SEND_MS) {
      if (send({ command: 'typing' })) lastTypingSent = now;
    }
  }

  function onKeydown(e) {
    // isComposing: Enter that confirms an IME candidate must not send.
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submit();
    }
  }

  // ---------- Read marker ----------

  function maybeSendRead() {
    if (!ws || ws.readyState !== WebSocket.OPEN || document.hidden) return;
    const seq = newest();
    if (seq <= lastReadSeq || !newestVisible()) return;
    const wait = lastReadAt + READ_MS - Date.now();
    if (wait > 0) {
      if (!readTimer) {
        readTimer = setTimeout(() => {
          readTimer = 0;
          maybeSendRead();
        }, wait);
      }
      return;
    }
    if (send({ command: 'read', seq })) {
      lastReadSeq = seq;
      lastReadAt = Date.now();
    }
  }

  // ---------- Notices and connection state ----------

  function showNotice(text, sticky) {
    clearTimeout(noticeTimer);
    noticeEl.textContent = text;
    noticeEl.hidden = false;
    noticeEl.dataset.sticky = sticky ? 'true' : '';
    if (!sticky) noticeTimer = setTimeout(hideNotice, 6000);
  }

  function hideNotice() {
    clearTimeout(noticeTimer);
    noticeEl.hidden = true;
    noticeEl.textContent = '';
  }

  const CONN_LABELS = {
    connecting: 'Connecting…',
    open: 'Connected',
    reconnecting: 'Reconnecting…',
    offline: 'Offline',
  };

  function setConn(state) {
    if (connEl.dataset.state === state) return; // role=status: announce changes only
    connEl.dataset.state = state;
    connEl.textContent = CONN_LABELS[state];
  }

  // ---------- The socket ----------

  function send(frame) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = 0;
    if (ws) return;
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
      '/ws/chat/' + encodeURIComponent(ROOM) + '/';
    let sock;
    try {
      sock = new WebSocket(url, ['parley.v1']);
    } catch {
      scheduleReconnect();
      return;
    }
    ws = sock;
    sock.addEventListener('open', () => {
      if (sock === ws) onOpen();
    });
    sock.addEventListener('message', (e) => {
      if (sock === ws) onFrame(e.data);
    });
    // An 'error' event is always followed by 'close', which does the work.
    sock.addEventListener('close', (e) => {
      if (sock === ws) onClose(e);
    });
  }

  function onOpen() {
    setConn('open');
    if (noticeEl.dataset.sticky) hideNotice();
    clearTimeout(stableTimer);
    stableTimer = setTimeout(() => {
      attempts = 0;
    }, STABLE_MS);

    if (entries.size === 0) {
      send({ command: 'fetch_messages' });
    } else {
      catchingUp = false;
      catchUp();
    }
    // The server is idempotent on client_id, so a message that did arrive
    // before the connection dropped is not stored twice.
    outbox.length = 0;
    for (const p of pending.values()) {
      if (p.status === 'failed') continue;
      outbox.push(p);
      setPendingStatus(p, 'sending', 'Sending…');
    }
    pump();
    maybeSendRead();
  }

  function onClose(e) {
    ws = null;
    clearTimeout(stableTimer);
    loadingOlder = false;
    catchingUp = false;
    updateHistoryUI();
    clearTypers();
    presenceBox.hidden = true;
    for (const p of pending.values()) {
      if (p.status !== 'failed') setPendingStatus(p, 'sending', 'Waiting for the connection…');
    }
    if (e.code === 1008) {
      showNotice('You are sending too fast; reconnecting', true);
      // Come back gently: at least a few seconds, not the first quick retry.
      attempts = Math.max(attempts, 3);
    }
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (reconnectTimer) return;
    if (!navigator.onLine) {
      setConn('offline'); // the 'online' event reconnects
      return;
    }
    setConn('reconnecting');
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempts);
    // Jitter, so that a room full of clients does not return all at once
    // after a server restart.
    const delay = Math.min(BACKOFF_MAX_MS, base * (0.75 + Math.random() * 0.5));
    attempts++;
    if (attempts % PROBE_EVERY === 0) probeSession();
    reconnectTimer = setTimeout(connect, delay);
  }

  // probeSession tells a dead session from a dead server: the upgrade's 401
  // is invisible to a WebSocket, but not to fetch.
  async function probeSession() {
    try {
      const res = await fetch('/api/v1/rooms?q=', {
        credentials: 'same-origin',
        headers: { Accept: 'application/json' },
      });
      if (res.status === 401) {
        location.assign('/accounts/login/?next=' + encodeURIComponent(location.pathname));
      }
    } catch {
      // The server is unreachable; keep retrying.
    }
  }

  function reconnectNow() {
    if (ws) return;
    attempts = 0;
    connect();
  }

  // ---------- Wiring ----------

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
  });
  input.addEventListener('keydown', onKeydown);
  input.addEventListener('input', onInput);
  input.disabled = false;
  sendBtn.disabled = false;

  olderBtn.addEventListener('click', loadOlder);
  jumpBtn.addEventListener('click', () => {
    scrollToBottom(true);
    input.focus({ preventScroll: true });
  });

  let scrollQueued = false;
  scroller.addEventListener('scroll', () => {
    // At once, not at the next frame: a message, a presence change or a
    // resize in between must not pull a reader who scrolled up back down.
    stick = isAtBottom();
    if (scrollQueued) return;
    scrollQueued = true;
    requestAnimationFrame(() => {
      scrollQueued = false;
      onScroll();
    });
  }, { passive: true });

  // Keep the newest message in view when the list area changes size: the
  // composer grows, the phone keyboard opens, the window is resized.
  new ResizeObserver(() => {
    if (stick) scrollToBottom();
  }).observe(scroller);

  new IntersectionObserver((seen) => {
    if (seen.some((e) => e.isIntersecting)) loadOlder();
  }, { root: scroller, rootMargin: '200px 0px 0px 0px' }).observe(sentinel);

  document.addEventListener('visibilitychange', () => {
    if (document.hidden) return;
    if (isAtBottom()) clearUnseen();
    maybeSendRead();
    // Phones suspend background tabs; do not make the reader wait out a
    // long backoff on return.
    if (!ws && reconnectTimer) reconnectNow();
  });

  window.addEventListener('online', () => {
    if (ws && ws.readyState === WebSocket.OPEN) setConn('open');
    else reconnectNow();
  });
  window.addEventListener('offline', () => setConn('offline'));

  // "Today" becomes "Yesterday" at midnight.
  setInterval(() => {
    const key = dayKey(new Date());
    if (key === today) return;
    today = key;
    for (let i = 0; i < order.length; i++) decorate(i);
  }, 60 * 1000);

  if (matchMedia('(pointer: fine)').matches) input.focus();
  connect();
  setConn('connecting');
})();
