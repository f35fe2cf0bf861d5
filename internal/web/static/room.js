// Parley: the live room page (/chats/{room}/).
//
// The page arrives with the room's latest messages in its HTML (or, for a
// reader coming back, the first ones they have not read, after a "New
// messages" line), and the composer ready: this script takes those messages
// over as they are and opens one WebSocket to /ws/chat/{room}/ with the
// "parley.v1" subprotocol, so the server also sends presence and typing
// frames, and changes to messages (edits, deletions, reactions), which this
// page applies as docs/PROTOCOL.md, "Room events", says: by each message's
// rev. Messages are kept by seq, the room's gap-free counter, which is
// what makes reconnecting safe: the socket asks for everything after the
// last seq the page holds, and shows each seq exactly once. Drafts and
// messages not yet stored are kept in the browser's storage, per user and
// room, until the server has them. Every piece of user data reaches the page
// through textContent or text nodes, never as HTML; message content is
// Markdown, which markdown.js turns into elements the same way.
//
// /chats/{room}/?at=SEQ opens the room at the message SEQ (docs/PROTOCOL.md,
// "Linking to a message").
(() => {
  'use strict';

  const root = document.getElementById('room');
  if (!root) return;

  const ROOM = root.dataset.room || '';
  const ME = root.dataset.user || '';
  const HISTORY = Number.parseInt(root.dataset.history, 10) || 20;
  const MENTION_ROOM = root.dataset.mentionRoom === 'true'; // may notify everyone with @room

  const MAX_CHARS = 4000;          // the server's limit, in code points
  const COUNTER_FROM = 3500;       // show the counter only near the limit
  const GROUP_MS = 5 * 60 * 1000;  // same author within this: one header
  const OLDER_LIMIT = 50;
  const CATCHUP_LIMIT = 100;       // the server's largest page
  const TYPING_SEND_MS = 3000;
  const TYPING_SHOW_MS = 5000;
  const READ_MS = 2000;
  // Waits before each try to reconnect: quick at first, since most drops
  // are a blip or a server restarting, then backing off. Each is spread by
  // a random factor, so that a room full of clients does not return all at
  // once.
  const RETRY_MS = [250, 500, 1000, 1000, 2000, 2000, 2000, 3000, 3000, 5000, 5000, 8000];
  const RETRY_MAX_MS = 15000;
  // A socket that stays open this long counts as a success and resets the
  // backoff; one that the server closes at once (say, for flooding) does not.
  const STABLE_MS = 5000;
  const BANNER_AFTER_MS = 3000;    // down this long: say so, offer "Retry now"
  const QUIET_MS = 1000;           // a state that lasts less is not shown
  const LOGIN_AFTER_MS = 4000;     // session ended: time to read why, then log in
  const NEAR_BOTTOM_PX = 80;
  const GAP_RETRIES = 3;
  // Pending messages go out at most this fast, under the server's default
  // limit (a burst of 20, then 5 a second), so that re-sending a backlog
  // after a reconnect is not answered with rate_limited or a 1008 close.
  const SEND_BURST = 10;
  const SEND_EVERY_MS = 250;
  // Messages longer than this are collapsed, with "Show more".
  const LONG_CHARS = 700;
  const LONG_LINES = 12;
  const PRESENCE_SHOWN = 5;
  const AROUND_LIMIT = 20;         // a page around a message jumped to
  const EXCERPT_CHARS = 100;       // a reply's quote, as the server's excerpt
  const FLASH_MS = 2500;           // a message jumped to is marked this long
  const MENTIONS_SHOWN = 8;
  const ROOM_MENTION = 'room'; // @room: everyone in the room (chat.RoomMention)

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
  const bannerEl = $('conn-banner');
  const bannerText = $('conn-banner-text');
  const retryBtn = $('conn-retry');
  const loginLink = $('conn-login');
  const presenceBox = $('presence-box');
  const presenceToggle = $('presence-toggle');
  const presencePanel = $('presence-panel');
  const presenceAvatars = $('presence-avatars');
  const presenceList = $('presence');
  const presenceCount = $('presence-count');
  const typingEl = $('typing');
  const noticeEl = $('room-notice');
  const form = $('composer');
  const input = $('chat-message-input');
  const sendBtn = $('chat-message-submit');
  const hintEl = $('composer-hint');
  const countEl = $('char-count');
  const jumpBtn = $('jump-latest');
  const replyBar = $('reply-bar');
  const replyText = $('reply-text');
  const replyCancel = $('reply-cancel');
  const mentionList = $('mention-list');

  // ---------- State ----------

  const entries = new Map();  // seq -> {msg, date, el, daySep}
  const order = [];           // the seqs held, ascending
  // Seqs of the room's log that this page does not show (changes to
  // messages, deleted messages): they count as held, so that they are no
  // gap to fetch again.
  const passed = new Set();
  const pending = new Map();  // client_id -> {id, text, date, el, status}, oldest first
  const outbox = [];          // pending messages waiting for their turn to go out
  const typers = new Map();   // user -> timeout that forgets them

  let loaded = false;         // the page holds the room's latest messages
  let contig = 0;             // every seq from order[0] to contig is held
  let hasOlder = false;
  let loadingOlder = false;
  let catchingUp = false;
  let catchUpAgain = false;
  let gapRetries = 0;

  let ws = null;
  let everOpen = false;       // a socket of this page has opened
  let attempts = 0;
  let reconnectTimer = 0;
  let reconnectAt = 0;
  let stableTimer = 0;
  let downSince = 0;          // when the connection was lost, 0 while up
  let bannerTimer = 0;
  let quietTimer = 0;
  let ended = false;          // the session has ended: nothing more to do here
  let failures = 0;           // tries in a row that did not open

  let stick = true;           // the view follows new messages
  // Opened at the first unread message: stay there while the rest comes
  // in, until the reader moves.
  let holdAtDivider = false;
  // On the way down to the latest, after "Jump to latest": the view is
  // bound for the bottom, whatever arrives meanwhile.
  let gliding = false;
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
  let presenceNames = [];

  // Room events (docs/PROTOCOL.md, "Room events").
  let refreshFrom = -1;       // the first open reads the page's messages again after this seq
  let detached = false;       // showing an older stretch of the room, not the latest
  let jumpSeq = 0;            // the message asked for with around
  let replyTo = null;         // {seq, author, excerpt}: the composer answers it
  let editing = null;         // {seq, form, input, error, id}: a message edited in place
  const changesSent = new Map(); // client_id -> {kind, seq}: changes not acknowledged yet
  let toolsFor = null;        // the message the actions toolbar is on
  let mention = null;         // {start, names, active}: the open @ completion
  // ?at=SEQ: open at that message (docs/PROTOCOL.md, "Linking to a message").
  let atSeq = Number.parseInt(new URLSearchParams(location.search).get('at') || '', 10);
  if (!Number.isSafeInteger(atSeq) || atSeq <= 0) atSeq = 0;

  const baseTitle = document.title;

  // Phones and tablets: Return writes a new line and the Send button sends.
  const touch = matchMedia('(pointer: coarse)').matches;

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

  // ---------- Browser storage: drafts and unsent messages ----------

  // Per person and room, so that switching rooms, reloading or logging in
  // again loses nothing. Storage may be full or switched off: then the page
  // works as before, without it.
  const storeKey = 'parley:' + encodeURIComponent(ME) + ':' + ROOM;
  const DRAFT_KEY = storeKey + ':draft';
  const PENDING_KEY = storeKey + ':pending';

  function storeGet(key) {
    try {
      return localStorage.getItem(key);
    } catch {
      return null;
    }
  }

  function storeSet(key, value) {
    try {
      if (value) localStorage.setItem(key, value);
      else localStorage.removeItem(key);
    } catch {
      // Full or switched off: nothing to be done.
    }
  }

  function saveDraft() {
    storeSet(DRAFT_KEY, input.value);
  }

  function savePending() {
    const list = [...pending.values()].map((p) => ({
      id: p.id, text: p.text, at: p.date.getTime(), failed: p.status === 'failed' ? p.failure : undefined,
      reply: p.replyTo || undefined,
    }));
    storeSet(PENDING_KEY, list.length ? JSON.stringify(list) : '');
  }

  // restore brings back the draft and the messages that were not stored
  // when the page was last closed; those are sent again with their
  // client_id, which the server keeps from storing twice.
  function restore() {
    const draft = storeGet(DRAFT_KEY);
    if (draft && input.value === '') {
      input.value = draft;
      autosize();
      updateCount();
    }
    let list = [];
    try {
      list = JSON.parse(storeGet(PENDING_KEY) || '[]');
    } catch {
      list = [];
    }
    if (!Array.isArray(list)) list = [];
    const stored = new Set();
    for (const e of entries.values()) {
      if (e.msg.author === ME && e.msg.client_id) stored.add(e.msg.client_id);
    }
    for (const s of list) {
      if (!s || typeof s.id !== 'string' || typeof s.text !== 'string' || s.id === '' || stored.has(s.id) || pending.has(s.id)) continue;
      const p = addPending(s.id, s.text, Number.isFinite(s.at) ? new Date(s.at) : new Date(),
        Number.isSafeInteger(s.reply) && s.reply > 0 ? s.reply : 0);
      if (typeof s.failed === 'string') failPending(p, s.failed);
      else queueSend(p);
    }
    savePending();
    updateHistoryUI();
  }

  // ---------- Message content: Markdown ----------

  // sameName compares user names as the server does: one name whatever
  // the case.
  function sameName(a, b) {
    return typeof a === 'string' && typeof b === 'string' && a.toLowerCase() === b.toLowerCase();
  }

  // appendContent puts a message's Markdown into parent as elements and
  // text nodes (markdown.js): nothing in text is ever interpreted as HTML.
  // The users msg mentions are marked, and you the more.
  function appendContent(parent, text, msg) {
    const named = msg && Array.isArray(msg.mentions) ? msg.mentions : [];
    const all = !!(msg && msg.mentions_room);
    parent.append(window.ParleyMarkdown.render(text, {
      mention: (name) => {
        if (all && name.toLowerCase() === ROOM_MENTION) return 'mention-room';
        if (!named.some((n) => sameName(n, name))) return null;
        return sameName(name, ME) ? 'mention-me' : '';
      },
    }));
  }

  function mentionsMe(m) {
    return !m.deleted && (m.mentions_room === true ||
      (Array.isArray(m.mentions) && m.mentions.some((n) => sameName(n, ME))));
  }

  // excerpt is the start of a message's text, as a reply quotes it.
  function excerpt(text) {
    const chars = [...String(text).replace(/\s+/g, ' ').trim()];
    return chars.length > EXCERPT_CHARS ? chars.slice(0, EXCERPT_CHARS).join('') + '…' : chars.join('');
  }

  // ---------- Long messages ----------

  function isLong(text) {
    return text.length > LONG_CHARS || text.split('\n').length > LONG_LINES;
  }

  // collapse shows the first lines of a long message's body, with a
  // "Show more" button under it. The body must be in the page, to be
  // measured: one that fits anyway is left as it is.
  function collapse(body, id) {
    if (body.nextElementSibling?.classList.contains('show-more')) return;
    body.classList.add('collapsed');
    if (body.scrollHeight <= body.clientHeight + 2) {
      body.classList.remove('collapsed');
      return;
    }
    body.id = 'msg-body-' + id;
    const btn = el('button', 'btn-link show-more', 'Show more');
    btn.type = 'button';
    btn.setAttribute('aria-expanded', 'false');
    btn.setAttribute('aria-controls', body.id);
    btn.addEventListener('click', () => {
      const open = body.classList.toggle('collapsed') === false;
      btn.textContent = open ? 'Show less' : 'Show more';
      btn.setAttribute('aria-expanded', String(open));
    });
    body.after(btn);
  }

  // ---------- Rendering messages ----------

  // authorEl is a message's author: a link to a direct conversation with
  // them, but for one's own (the page's template draws the same).
  function authorEl(name) {
    if (name === ME) return el('span', 'author', name);
    const a = el('a', 'author', name);
    a.href = '/dm/' + encodeURIComponent(name) + '/';
    a.title = 'Message ' + name + ' directly';
    return a;
  }

  function renderMessage(msg, date) {
    const node = el('div', 'msg');
    if (msg.author === ME) node.classList.add('mine');
    node.dataset.seq = String(msg.seq);
    node.tabIndex = -1;

    const daySep = el('div', 'day-sep');
    daySep.append(el('span', '', dayLabel(date)));
    daySep.hidden = true;

    const row = el('div', 'msg-row');
    const main = el('div', 'msg-main');
    const head = el('p', 'msg-head');
    head.append(authorEl(msg.author), ' ', timeEl(date));
    main.append(head, el('div', 'msg-body'));
    row.append(avatar(msg.author), main);

    const gutter = timeEl(date, 'gutter-time');
    gutter.setAttribute('aria-hidden', 'true');

    node.append(daySep, row, gutter);
    return { node, daySep };
  }

  // paint draws what a message's state decides, and changes change: its
  // text (or "message deleted"), the "edited" mark, the quote of the
  // message it answers, its reactions and whether it mentions you. The
  // node must be in the page, for a long text to be measured.
  function paint(e) {
    const m = e.msg;
    const node = e.el;
    const main = node.querySelector('.msg-main');
    const head = main.querySelector('.msg-head');
    node.classList.toggle('deleted', m.deleted === true);
    node.classList.toggle('mentions-me', mentionsMe(m));

    let mark = head.querySelector('.msg-edited');
    if (m.edited && !m.deleted) {
      if (!mark) {
        mark = el('span', 'msg-edited', '(edited)');
        head.append(mark);
      }
      mark.title = 'Edited ' + fullFmt.format(parseTime(m.edited));
    } else if (mark) {
      mark.remove();
    }

    main.querySelector(':scope > .msg-quote')?.remove();
    if (m.reply_to && !m.deleted) head.after(renderQuote(m.reply_to));

    const old = main.querySelector(':scope > .msg-body, :scope > .msg-deleted');
    old.nextElementSibling?.classList.contains('show-more') && old.nextElementSibling.remove();
    let body;
    if (m.deleted) {
      body = el('p', 'msg-deleted', 'message deleted');
    } else {
      body = el('div', 'msg-body');
      appendContent(body, m.content, m);
    }
    if (editing && editing.seq === m.seq) body.hidden = true;
    old.replaceWith(body);

    main.querySelector(':scope > .reactions')?.remove();
    if (!m.deleted && Array.isArray(m.reactions) && m.reactions.length) {
      (editing && editing.seq === m.seq ? editing.form : body).after(renderReactions(m));
    }
    if (!m.deleted && node.isConnected && isLong(m.content)) collapse(body, m.seq);
    if (toolsFor === node) showTools(node);
  }

  // adopt takes over the messages the page's HTML came with (the "msg"
  // template of room.html draws them as renderMessage does), showing their
  // times in the reader's own time zone.
  function adopt() {
    for (const node of logEl.querySelectorAll(':scope > .msg[data-seq]')) {
      const seq = Number(node.dataset.seq);
      const head = node.querySelector('.msg-head time');
      const body = node.querySelector('.msg-body');
      if (!Number.isSafeInteger(seq) || seq <= 0 || entries.has(seq) || (order.length && seq < newest()) || !head || !body) {
        node.remove();
        continue;
      }
      const msg = {
        seq,
        author: node.dataset.author || '',
        content: body.textContent,
        timestamp: head.dateTime,
        client_id: node.dataset.clientId,
      };
      const date = parseTime(msg.timestamp);
      for (const t of node.querySelectorAll('time')) t.textContent = timeFmt.format(date);
      head.title = fullFmt.format(date);
      node.tabIndex = -1;
      entries.set(seq, { msg, date, el: node, daySep: node.querySelector('.day-sep') });
      order.push(seq);
    }
    // The HTML has each message's current text, but neither its rev nor
    // its reactions, reply or mentions: the first socket reads them again
    // (rev 0 here: whatever the server sends replaces them).
    if (order.length) refreshFrom = order[0] - 1;
    const line = logEl.querySelector(':scope > .unread-divider');
    if (line && entries.has(Number(line.dataset.before))) {
      dividerEl = line;
      dividerSeq = Number(line.dataset.before);
      dividerSeen = false;
      for (const seq of order) {
        if (seq >= dividerSeq && entries.get(seq).msg.author !== ME) unseen++;
      }
    } else if (line) {
      line.remove();
    }
    for (let i = 0; i < order.length; i++) decorate(i);
    for (const seq of order) paint(entries.get(seq));
    updateRoving();
    loaded = true;
    contig = newest();
    hasOlder = root.dataset.hasOlder === 'true' && order.length > 0 && order[0] > 1;
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
  // already shown: then msg, a page's or a frame's copy in its current
  // state, replaces the one held unless the held one's rev is higher. A
  // deleted message the page never showed is not shown now either (the
  // page's HTML leaves them out too), only its seq counts, unless asked
  // for: the message a link or a quote goes to.
  function insert(msg, showDeleted) {
    const held = entries.get(msg.seq);
    if (held) {
      if (revOf(msg) >= revOf(held.msg)) {
        held.msg = msg;
        paint(held);
        refreshQuotes(msg.seq);
      }
      return false;
    }
    if (msg.deleted === true && !showDeleted) {
      pass(msg.seq);
      return false;
    }
    const date = parseTime(msg.timestamp);
    const { node, daySep } = renderMessage(msg, date);
    const i = insertionIndex(msg.seq);
    const next = i < order.length ? entries.get(order[i]).el : null;
    order.splice(i, 0, msg.seq);
    entries.set(msg.seq, { msg, date, el: node, daySep });
    logEl.insertBefore(node, next);
    paint(entries.get(msg.seq));
    decorate(i);
    if (i + 1 < order.length) decorate(i + 1);
    if (dividerEl) placeDivider();
    if (i === order.length - 1) decoratePending();
    refreshQuotes(msg.seq);
    updateRoving();
    return true;
  }

  function revOf(m) {
    return Number.isSafeInteger(m.rev) ? m.rev : 0;
  }

  function advanceContig() {
    while (entries.has(contig + 1) || passed.delete(contig + 1)) contig++;
  }

  // pass notes an entry of the log this page does not show.
  function pass(seq) {
    if (Number.isSafeInteger(seq) && seq > contig) passed.add(seq);
  }

  // applyAll applies the changes of a history answer, in seq order; each
  // counts in the log whether it applies or not.
  function applyAll(f) {
    if (!Array.isArray(f.changes)) return;
    for (const c of f.changes) applyChange(c);
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

  // ---------- Full times, by tap ----------

  // A tap (or click) on a message shows its full date and time under it,
  // and another hides it: on a phone there is no hovering for a tooltip.
  function onMessageTap(e) {
    if (e.target.closest('a, button, textarea, input')) return;
    const sel = getSelection();
    if (sel && !sel.isCollapsed) return; // selecting text, not tapping
    const node = e.target.closest('.msg');
    if (!node || node.classList.contains('pending')) return;
    const entry = entries.get(Number(node.dataset.seq));
    if (!entry) return;
    if (e.target.closest('.msg-tools, .msg-edit')) return;
    // A tap shows the message's actions, as hovering does with a mouse.
    if (toolsFor && toolsFor !== node) toolsFor.classList.remove('tools-open');
    showTools(node);
    node.classList.add('tools-open');
    let when = node.querySelector('.msg-when');
    if (when) {
      when.remove();
      node.classList.remove('show-when');
      return;
    }
    when = el('p', 'msg-when');
    const t = el('time', '', fullFmt.format(entry.date));
    t.dateTime = entry.date.toISOString();
    when.append(t);
    node.querySelector('.msg-main').append(when);
    node.classList.add('show-when');
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
    if (detached) {
      jumpBtn.hidden = false;
      jumpBtn.textContent = 'Jump to latest';
      return;
    }
    const show = unseen > 0 && !isAtBottom();
    jumpBtn.hidden = !show;
    if (show) {
      jumpBtn.textContent = 'Jump to latest · ' + (unseen === 1 ? '1 new message' : unseen + ' new messages');
    }
  }

  function updateTitle() {
    // With the user stream (live.js) the title counts the other rooms
    // too, and is live.js's to write: it reads this room's count here.
    document.documentElement.dataset.unseen = String(unseen);
    if (window.parleyLive) {
      window.parleyLive.title();
      return;
    }
    document.title = unseen > 0 ? '(' + unseen + ') ' + baseTitle : baseTitle;
  }

  // ---------- Scrolling ----------

  function isAtBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= NEAR_BOTTOM_PX;
  }

  function reducedMotion() {
    return matchMedia('(prefers-reduced-motion: reduce)').matches;
  }

  function scrollToBottom() {
    holdAtDivider = false;
    gliding = false;
    scroller.scrollTo({ top: scroller.scrollHeight, behavior: 'auto' });
    stick = true;
  }

  // jumpToLatest goes to the newest message at once from afar, and glides
  // only the last half screen: a smooth scroll over a long history would
  // take seconds.
  function jumpToLatest() {
    holdAtDivider = false;
    const bottom = scroller.scrollHeight - scroller.clientHeight;
    const glide = reducedMotion() ? 0 : scroller.clientHeight / 2;
    if (bottom - scroller.scrollTop > glide) scroller.scrollTop = bottom - glide;
    scroller.scrollTo({ top: scroller.scrollHeight, behavior: glide ? 'smooth' : 'auto' });
    stick = true;
    gliding = glide > 0;
    clearUnseen();
  }

  // scrollToDivider opens the room at the first unread message: the "New
  // messages" line near the top, a few messages read before it above.
  function scrollToDivider() {
    const above = Math.min(scroller.clientHeight / 4, 120);
    scroller.scrollTop += dividerEl.getBoundingClientRect().top - scroller.getBoundingClientRect().top - above;
    stick = isAtBottom();
    holdAtDivider = true;
  }

  function onScroll() {
    loadNewer();
    if (gliding && isAtBottom()) gliding = false;
    stick = gliding || isAtBottom();
    if (stick && !document.hidden && !holdAtDivider) clearUnseen();
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
    // Setting the position would stop a glide to the latest half way.
    if (gliding) scrollToBottom();
    else if (anchor) scroller.scrollTop += anchor.getBoundingClientRect().top - top;
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

  // catchUp asks for the room's log after from (contig unless said):
  // messages and changes, every entry once.
  function catchUp(from) {
    catchingUp = send({ command: 'fetch_messages', after: from ?? contig, limit: CATCHUP_LIMIT });
  }

  function onCatchUp(f, list) {
    const before = contig;
    if (detached) quietly(() => list.forEach((m) => insert(m)));
    else addLive(list);
    applyAll(f);
    advanceContig();
    // The highest seq of the answer: reading again what the page holds
    // (refreshFrom), the next page starts after it.
    let top = Number(f.after) || 0;
    for (const m of list) top = Math.max(top, m.seq);
    if (Array.isArray(f.changes)) for (const c of f.changes) if (Number.isSafeInteger(c?.seq)) top = Math.max(top, c.seq);
    refreshFrom = top < contig ? top : -1;
    if (f.has_more === true) {
      const next = top < contig ? top : contig;
      if (next > f.after && (next < contig || contig > before)) {
        // An older stretch shown: the next page when the reader scrolls
        // down to it.
        if (detached && next >= contig) {
          catchingUp = false;
          return;
        }
        catchUp(next);
        return;
      }
    } else if (detached) {
      detached = false;
      updateJump();
    }
    catchingUp = false;
    if (newest() <= contig) {
      gapRetries = 0;
      // Opened at the first unread, with all of them in view: read.
      if (holdAtDivider && isAtBottom() && !document.hidden) clearUnseen();
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
      typeof m.author === 'string' && (typeof m.content === 'string' || m.deleted === true) &&
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
      case 'change':
        applyChange(f.change);
        advanceContig();
        break;
      case 'versions': onVersions(f); break;
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
    if (f.around !== undefined) {
      onAround(f, list);
      return;
    }
    if (loaded) {
      // The answer to a plain fetch: whatever it holds is new to the reader.
      applyAll(f);
      addLive(list);
      advanceContig();
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
    updateJump();
    loadMoreIfTopVisible();
    checkGap();
    maybeSendRead();
  }

  function onNewMessage(m) {
    if (!valid(m)) return;
    stopTyping(m.author);
    // Showing an older stretch: the new ones come with the rest, when the
    // reader scrolls down to them.
    if (detached) return;
    addLive([m]);
  }

  // addLive shows messages that are new to the reader: live ones and those
  // recovered after a reconnect or a gap.
  function addLive(list) {
    const follow = stick && (gliding || isAtBottom()) && !holdAtDivider;
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
    advanceContig(); // a deleted message not shown counts all the same
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
        // Not stored. The sending limit refills within a second; the
        // room limit (this message would make the room) in minutes:
        // retry_after says which, and the server's words say why.
        const wait = Number(f.retry_after) > 0 ? Number(f.retry_after) : 1;
        pausedUntil = Date.now() + 1000 * wait;
        sendTokens = 0;
        queueSend(p, true, wait > 2 && f.message ? f.message : 'Sending too fast — trying again…');
        return;
      }
      failPending(p, f.message || 'The message could not be sent.');
      // Refused by the room's rules (archived, muted): the composer's
      // status line says why until the page is left.
      if (f.code === 'forbidden' && f.message) showRuleNotice(f.message);
      return;
    }
    if (typeof f.client_id === 'string' && changeRefused(f)) return;
    if (jumpSeq && f.code === 'not_found') {
      // The message jumped to is gone (or never was).
      jumpSeq = 0;
      showNotice('That message is not in this room any more.');
      return;
    }
    switch (f.code) {
      case 'forbidden':
        if (f.message) showRuleNotice(f.message);
        break;
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
    const others = [...new Set(users.filter((u) => typeof u === 'string' && u !== '' && u !== ME))]
      .sort((a, b) => a.localeCompare(b));
    const here = users.includes(ME);
    presenceNames = here ? [...others, ME] : others;

    // The full list, in the panel "N here" opens; you last.
    presenceList.replaceChildren(...presenceNames.map((name) => {
      const li = el('li', 'presence-person');
      li.append(avatar(name), el('span', 'presence-name', name === ME ? name + ' (you)' : name));
      return li;
    }));

    // The avatars beside the count: yourself always among them, so that
    // "+N" hides only others.
    const shown = here ? [...others.slice(0, PRESENCE_SHOWN - 1), ME] : others.slice(0, PRESENCE_SHOWN);
    const rest = presenceNames.length - shown.length;
    const faces = shown.map((name) => {
      const a = avatar(name);
      a.dataset.name = name;
      return a;
    });
    if (rest > 0) faces.push(el('span', 'avatar presence-more', '+' + rest));
    presenceAvatars.replaceChildren(...faces);

    const n = presenceNames.length;
    presenceCount.textContent = n === 1 ? '1 here' : n + ' here';
    presenceToggle.title = presenceNames.join(', ');
    presenceBox.hidden = n === 0;
    if (n === 0) closePresence();
  }

  function openPresence() {
    presencePanel.hidden = false;
    presenceToggle.setAttribute('aria-expanded', 'true');
  }

  function closePresence(focus) {
    if (presencePanel.hidden) return;
    presencePanel.hidden = true;
    presenceToggle.setAttribute('aria-expanded', 'false');
    if (focus) presenceToggle.focus();
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

  // ---------- Room events: changes to messages ----------

  // applyChange applies an edit, a deletion or a reaction to the message
  // it targets, if the page holds it and the change is newer than what it
  // shows (docs/PROTOCOL.md, "The change object and frame"). Its seq
  // counts in the log either way.
  function applyChange(c) {
    if (c === null || typeof c !== 'object' || !Number.isSafeInteger(c.seq)) return;
    if (c.room !== undefined && c.room !== ROOM) return;
    ackChange(c);
    pass(c.seq);
    const e = entries.get(c.target);
    if (!e || c.seq <= revOf(e.msg)) return;
    const m = e.msg;
    switch (c.kind) {
      case 'edit':
        if (typeof c.content !== 'string') return;
        m.content = c.content;
        m.edited = c.timestamp;
        m.mentions = Array.isArray(c.mentions) ? c.mentions : [];
        m.mentions_room = c.mentions_room === true;
        break;
      case 'delete':
        e.msg = { id: m.id, room: m.room, seq: m.seq, author: m.author, timestamp: m.timestamp, deleted: true };
        if (editing && editing.seq === m.seq) endEdit();
        break;
      case 'react':
      case 'unreact':
        if (typeof c.emoji !== 'string' || typeof c.author !== 'string') return;
        m.reactions = react(m.reactions, c.emoji, c.author, c.kind === 'react');
        break;
      default:
        return; // a kind this page does not know
    }
    e.msg.rev = c.seq;
    paint(e);
    if (c.kind === 'edit' || c.kind === 'delete') refreshQuotes(c.target);
  }

  // react returns reactions with who's emoji added (at the end of its
  // users, the emoji at the end if new) or removed (the emoji with it once
  // nobody is left).
  function react(reactions, emoji, who, add) {
    const list = Array.isArray(reactions) ? reactions.map((r) => ({ ...r, users: [...(r.users || [])] })) : [];
    const r = list.find((x) => x.emoji === emoji);
    if (add) {
      if (r && r.users.includes(who)) return list;
      if (r) {
        r.users.push(who);
        r.count = (r.count || 0) + 1;
      } else {
        list.push({ emoji, count: 1, users: [who] });
      }
      return list;
    }
    if (!r || !r.users.includes(who)) return list;
    r.users = r.users.filter((u) => u !== who);
    r.count = Math.max(0, (r.count || 1) - 1);
    return r.count === 0 ? list.filter((x) => x !== r) : list;
  }

  // ackChange closes what waited for one of this page's own changes: an
  // edit in place is done once its change comes back.
  function ackChange(c) {
    if (typeof c.client_id !== 'string' || c.author !== ME) return;
    const sent = changesSent.get(c.client_id);
    if (!sent) return;
    changesSent.delete(c.client_id);
    if (sent.kind === 'edit' && editing && editing.id === c.client_id) endEdit(true);
  }

  // sendChange sends an edit, a deletion or a reaction with a client_id
  // of its own, so that a retry is never applied twice.
  function sendChange(frame) {
    const id = newClientId();
    if (!send({ ...frame, client_id: id })) {
      showNotice('Not connected: try again once the connection is back.');
      return '';
    }
    changesSent.set(id, { kind: frame.command === 'edit_message' ? 'edit' : frame.command, seq: frame.seq });
    return id;
  }

  // changeRefused shows why the server refused one of this page's changes
  // (forbidden: past the edit window, say), in the editor for an edit.
  function changeRefused(f) {
    const sent = changesSent.get(f.client_id);
    if (!sent) return false;
    changesSent.delete(f.client_id);
    const text = f.message || 'That could not be done.';
    if (sent.kind === 'edit' && editing && editing.id === f.client_id) {
      editing.id = '';
      editing.error.textContent = text;
      editing.error.hidden = false;
      editing.input.setAttribute('aria-invalid', 'true');
      editing.input.focus();
    } else {
      showNotice(text);
    }
    return true;
  }

  // ---------- Reactions ----------

  function renderReactions(m) {
    const box = el('div', 'reactions');
    for (const r of m.reactions) {
      if (typeof r?.emoji !== 'string') continue;
      const users = Array.isArray(r.users) ? r.users : [];
      const mine = users.includes(ME);
      const chip = el('button', 'reaction' + (mine ? ' mine' : ''));
      chip.type = 'button';
      chip.dataset.emoji = r.emoji;
      chip.setAttribute('aria-pressed', String(mine));
      const who = users.map((u) => (u === ME ? 'you' : u)).join(', ');
      const label = window.ParleyEmoji.name(r.emoji) + ': ' + (who || r.count);
      chip.title = label;
      chip.setAttribute('aria-label', r.emoji + ' ' + r.count + ', ' + label);
      chip.append(el('span', 'reaction-emoji', r.emoji), el('span', 'reaction-count', String(r.count)));
      chip.addEventListener('click', () => toggleReaction(m.seq, r.emoji));
      box.append(chip);
    }
    const add = el('button', 'reaction reaction-add', '+');
    add.type = 'button';
    add.title = 'Add a reaction';
    add.setAttribute('aria-label', 'Add a reaction');
    add.addEventListener('click', () => openPicker(m.seq, add));
    box.append(add);
    return box;
  }

  // toggleReaction adds your emoji to the message, or takes it away if
  // it is there: the server keeps each once per person whatever is sent.
  function toggleReaction(seq, emoji) {
    const e = entries.get(seq);
    if (!e || e.msg.deleted) return;
    const r = (e.msg.reactions || []).find((x) => x.emoji === emoji);
    const mine = !!r && Array.isArray(r.users) && r.users.includes(ME);
    sendChange({ command: mine ? 'unreact' : 'react', seq, emoji });
  }

  // ---------- The emoji picker ----------

  let picker = null; // {box, search, grid, seq, back}

  function buildPicker() {
    const box = el('div', 'emoji-picker');
    box.id = 'emoji-picker';
    box.setAttribute('role', 'dialog');
    box.setAttribute('aria-label', 'Add a reaction');
    box.hidden = true;
    const search = el('input', 'emoji-search');
    search.type = 'search';
    search.placeholder = 'Search emoji';
    search.setAttribute('aria-label', 'Search emoji');
    search.autocomplete = 'off';
    const grid = el('div', 'emoji-grid');
    grid.setAttribute('role', 'group');
    grid.setAttribute('aria-label', 'Emoji');
    const none = el('p', 'emoji-none muted', 'No emoji by that name.');
    none.hidden = true;
    box.append(search, grid, none);
    document.body.append(box);
    search.addEventListener('input', () => fillPicker());
    search.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowDown' || (e.key === 'Enter' && !e.isComposing)) {
        e.preventDefault();
        const first = grid.querySelector('button');
        if (!first) return;
        if (e.key === 'Enter') pick(first.dataset.emoji);
        else first.focus();
      }
    });
    grid.addEventListener('keydown', onGridKey);
    box.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        closePicker(true);
      }
    });
    document.addEventListener('pointerdown', (e) => {
      if (picker && !picker.box.hidden && !picker.box.contains(e.target) && e.target !== picker.back) closePicker();
    });
    picker = { box, search, grid, none, seq: 0, back: null };
  }

  function fillPicker() {
    const found = window.ParleyEmoji.search(picker.search.value).slice(0, 80);
    picker.grid.replaceChildren(...found.map((e) => {
      const b = el('button', 'emoji-choice', e.emoji);
      b.type = 'button';
      b.dataset.emoji = e.emoji;
      b.title = e.names[0];
      b.setAttribute('aria-label', e.names[0]);
      b.addEventListener('click', () => pick(e.emoji));
      return b;
    }));
    picker.none.hidden = found.length > 0;
  }

  // onGridKey moves through the emoji with the arrow keys, a row at a
  // time up and down; up from the first row goes back to the search box.
  function onGridKey(e) {
    const buttons = [...picker.grid.querySelectorAll('button')];
    const i = buttons.indexOf(document.activeElement);
    if (i < 0) return;
    const cols = Math.max(1, Math.round(picker.grid.clientWidth / buttons[0].offsetWidth));
    let to = -1;
    if (e.key === 'ArrowRight') to = Math.min(i + 1, buttons.length - 1);
    else if (e.key === 'ArrowLeft') to = Math.max(i - 1, 0);
    else if (e.key === 'ArrowDown') to = Math.min(i + cols, buttons.length - 1);
    else if (e.key === 'ArrowUp') to = i - cols;
    else if (e.key === 'Home') to = 0;
    else if (e.key === 'End') to = buttons.length - 1;
    else return;
    e.preventDefault();
    if (to < 0) picker.search.focus();
    else buttons[to].focus();
  }

  function openPicker(seq, back) {
    if (!picker) buildPicker();
    picker.seq = seq;
    picker.back = back;
    picker.search.value = '';
    fillPicker();
    picker.box.hidden = false;
    // Beside the button that opened it, within the window.
    const r = back.getBoundingClientRect();
    const w = picker.box.offsetWidth;
    const h = picker.box.offsetHeight;
    const left = Math.max(8, Math.min(r.left, innerWidth - w - 8));
    const top = r.top - h - 6 > 8 ? r.top - h - 6 : Math.min(r.bottom + 6, innerHeight - h - 8);
    picker.box.style.left = left + 'px';
    picker.box.style.top = Math.max(8, top) + 'px';
    picker.search.focus({ preventScroll: true });
  }

  function closePicker(focusBack) {
    if (!picker || picker.box.hidden) return;
    picker.box.hidden = true;
    if (focusBack && picker.back?.isConnected) picker.back.focus();
  }

  function pick(emoji) {
    const seq = picker.seq;
    closePicker();
    // The focus goes to the message, not back to the button that opened
    // the picker: the Enter that picked must not press that one again.
    const node = entries.get(seq)?.el;
    if (node) {
      updateRoving(node);
      node.focus({ preventScroll: true });
    }
    const e = entries.get(seq);
    const r = e && (e.msg.reactions || []).find((x) => x.emoji === emoji);
    // Picking one you have already takes it away, as its chip does.
    if (r && Array.isArray(r.users) && r.users.includes(ME)) return toggleReaction(seq, emoji);
    sendChange({ command: 'react', seq, emoji });
  }

  // ---------- The actions toolbar ----------

  // One toolbar serves every message: it moves to the message under the
  // pointer, or with the focus, or tapped on a phone.
  const tools = el('div', 'msg-tools');
  tools.setAttribute('role', 'toolbar');
  tools.setAttribute('aria-label', 'Message actions');
  const toolButtons = {};
  for (const [key, glyph, label] of [['reply', '↩', 'Reply'], ['react', '☺', 'Add a reaction'],
    ['edit', '✎', 'Edit'], ['delete', '🗑', 'Delete'], ['versions', '⟲', 'Earlier versions']]) {
    const b = el('button', 'tool tool-' + key);
    b.type = 'button';
    b.title = label;
    b.setAttribute('aria-label', label);
    b.append(el('span', 'tool-glyph', glyph));
    b.dataset.tool = key;
    toolButtons[key] = b;
    tools.append(b);
  }
  tools.addEventListener('click', (e) => {
    const b = e.target.closest('button');
    const seq = Number(toolsFor?.dataset.seq);
    if (!b || !entries.has(seq)) return;
    switch (b.dataset.tool) {
      case 'reply': startReply(seq); break;
      case 'react': openPicker(seq, b); break;
      case 'edit': startEdit(seq); break;
      case 'delete': deleteMessage(seq); break;
      case 'versions': send({ command: 'fetch_versions', seq }) || showNotice('Not connected.'); break;
      default: break;
    }
  });

  function showTools(node) {
    const e = entries.get(Number(node.dataset.seq));
    if (!e || e.msg.deleted || node.classList.contains('pending')) {
      // A message deleted under the focus: the focus stays on it, not on
      // a toolbar that goes.
      if (tools.contains(document.activeElement)) node.focus({ preventScroll: true });
      hideTools();
      return;
    }
    const mine = e.msg.author === ME;
    toolButtons.edit.hidden = !mine;
    toolButtons.delete.hidden = !mine;
    toolButtons.versions.hidden = !e.msg.edited;
    toolsFor = node;
    if (tools.parentNode !== node) node.append(tools);
  }

  function hideTools() {
    if (tools.contains(document.activeElement)) return;
    tools.remove();
    toolsFor?.classList.remove('tools-open');
    toolsFor = null;
  }

  // ---------- Moving through messages by keyboard ----------

  // Tab reaches one message (the newest, or the last one focused); the
  // arrow keys move between them, and Tab from one goes to its actions.
  let rovingEl = null;

  function updateRoving(node) {
    const target = node || (rovingEl && rovingEl.isConnected && document.activeElement === rovingEl ? rovingEl : null) ||
      (order.length ? entries.get(newest()).el : null);
    if (target === rovingEl) return;
    if (rovingEl) rovingEl.tabIndex = -1;
    rovingEl = target;
    if (rovingEl) rovingEl.tabIndex = 0;
  }

  function onMessageKey(e) {
    const node = e.target;
    if (!node.classList?.contains('msg') || !node.dataset.seq) return;
    const i = indexOf(Number(node.dataset.seq));
    if (i < 0) return;
    let to = -1;
    if (e.key === 'ArrowUp') to = i - 1;
    else if (e.key === 'ArrowDown') to = i + 1;
    else if (e.key === 'Home') to = 0;
    else if (e.key === 'End') to = order.length - 1;
    else if (e.key === 'r' && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      startReply(Number(node.dataset.seq));
      return;
    } else {
      return;
    }
    e.preventDefault();
    if (to < 0) {
      loadOlder();
      return;
    }
    if (to >= order.length) {
      input.focus();
      return;
    }
    const next = entries.get(order[to]).el;
    updateRoving(next);
    next.focus();
  }

  // ---------- Editing in place ----------

  // startEdit puts a message of yours in an editor where it stands: Enter
  // saves, Escape cancels. The server decides whether it may still be
  // edited, and says why not.
  function startEdit(seq) {
    const e = entries.get(seq);
    if (!e || e.msg.deleted || e.msg.author !== ME) return;
    if (editing) endEdit();
    const main = e.el.querySelector('.msg-main');
    const body = main.querySelector(':scope > .msg-body');
    const form = el('form', 'msg-edit');
    const box = el('textarea', 'msg-edit-input');
    box.value = e.msg.content;
    box.rows = 1;
    box.setAttribute('aria-label', 'Edit your message');
    const error = el('p', 'msg-edit-error');
    error.hidden = true;
    error.id = 'edit-error-' + seq;
    error.setAttribute('role', 'alert');
    box.setAttribute('aria-describedby', error.id);
    const foot = el('div', 'msg-edit-foot');
    const save = el('button', 'btn btn-primary btn-sm', 'Save');
    save.type = 'submit';
    const cancel = el('button', 'btn btn-ghost btn-sm', 'Cancel');
    cancel.type = 'button';
    foot.append(el('span', 'msg-edit-hint', 'Enter to save · Escape to cancel'), cancel, save);
    form.append(box, error, foot);
    body.hidden = true;
    body.nextElementSibling?.classList.contains('show-more') && (body.nextElementSibling.hidden = true);
    body.after(form);
    editing = { seq, form, input: box, error, id: '' };
    const grow = () => {
      box.style.height = 'auto';
      box.style.height = box.scrollHeight + 2 + 'px';
    };
    box.addEventListener('input', () => {
      grow();
      error.hidden = true;
      box.removeAttribute('aria-invalid');
    });
    box.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') {
        ev.preventDefault();
        ev.stopPropagation();
        endEdit(true);
      } else if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && (!touch || ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        saved = true; // as in the composer: no line break after the Enter that saved
        saveEdit();
      }
    });
    let saved = false;
    box.addEventListener('beforeinput', (ev) => {
      if (saved && (ev.inputType === 'insertLineBreak' || ev.inputType === 'insertParagraph')) ev.preventDefault();
      saved = false;
    });
    box.addEventListener('keyup', () => {
      saved = false;
    });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      saveEdit();
    });
    cancel.addEventListener('click', () => endEdit(true));
    grow();
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
    e.el.scrollIntoView({ block: 'nearest' });
  }

  function saveEdit() {
    if (!editing || editing.id) return;
    const e = entries.get(editing.seq);
    const text = editing.input.value.trim();
    if (!e) return endEdit();
    if (text === e.msg.content) return endEdit(true);
    let problem = '';
    if (text === '') problem = 'A message cannot be empty: delete it instead.';
    else if (codePoints(text) > MAX_CHARS) problem = 'A message has at most ' + MAX_CHARS.toLocaleString('en-US') + ' characters.';
    if (problem) {
      editing.error.textContent = problem;
      editing.error.hidden = false;
      editing.input.setAttribute('aria-invalid', 'true');
      return;
    }
    editing.id = sendChange({ command: 'edit_message', seq: editing.seq, message: text });
  }

  // endEdit closes the editor; focus says where the focus goes back to:
  // the composer.
  function endEdit(focus) {
    if (!editing) return;
    const { seq, form } = editing;
    editing = null;
    form.remove();
    const e = entries.get(seq);
    if (e) paint(e);
    if (focus) input.focus({ preventScroll: true });
  }

  // editLast edits your newest message, as the Up key does in an empty
  // composer.
  function editLast() {
    for (let i = order.length - 1; i >= 0; i--) {
      const m = entries.get(order[i]).msg;
      if (m.author === ME && !m.deleted) {
        startEdit(m.seq);
        return true;
      }
    }
    return false;
  }

  function deleteMessage(seq) {
    const e = entries.get(seq);
    if (!e || e.msg.author !== ME || e.msg.deleted) return;
    // eslint-disable-next-line no-alert
    if (!confirm('Delete this message? Everyone in the room will see "message deleted" in its place.')) return;
    sendChange({ command: 'delete_message', seq });
  }

  // ---------- Earlier versions ----------

  let versionsDialog = null;

  function onVersions(f) {
    if (!Array.isArray(f.versions)) return;
    if (!versionsDialog) {
      versionsDialog = el('dialog', 'versions');
      versionsDialog.setAttribute('aria-labelledby', 'versions-title');
      document.body.append(versionsDialog);
      versionsDialog.addEventListener('click', (e) => {
        if (e.target === versionsDialog || e.target.closest('.versions-close')) versionsDialog.close();
      });
    }
    const title = el('h2', 'versions-title', 'Versions of this message');
    title.id = 'versions-title';
    const list = el('ol', 'versions-list');
    f.versions.forEach((v, i) => {
      if (typeof v?.content !== 'string') return;
      const li = el('li', 'version');
      const when = parseTime(v.timestamp);
      const head = el('p', 'version-head');
      head.append(el('span', 'version-label', i === f.versions.length - 1 ? 'Current' : i === 0 ? 'Original' : 'Edit ' + i), ' ');
      const t = el('time', '', fullFmt.format(when));
      t.dateTime = when.toISOString();
      head.append(t);
      const body = el('div', 'msg-body version-body');
      appendContent(body, v.content);
      li.append(head, body);
      list.append(li);
    });
    const close = el('button', 'btn btn-secondary btn-sm versions-close', 'Close');
    close.type = 'button';
    versionsDialog.replaceChildren(title, list, close);
    if (!versionsDialog.open) versionsDialog.showModal();
    close.focus();
  }

  // ---------- Replies ----------

  function renderQuote(r) {
    const q = el('button', 'msg-quote');
    q.type = 'button';
    q.dataset.seq = String(r.seq);
    const held = entries.get(r.seq)?.msg;
    const author = held ? held.author : String(r.author || '');
    const deleted = held ? held.deleted === true : r.deleted === true;
    const text = deleted ? 'message deleted' : held ? excerpt(held.content) : String(r.excerpt || '');
    q.append(el('span', 'quote-author', author), ' ', el('span', 'quote-text' + (deleted ? ' deleted' : ''), text));
    q.setAttribute('aria-label', 'In reply to ' + author + ': ' + text + '. Show that message');
    q.addEventListener('click', () => jumpTo(r.seq));
    return q;
  }

  // refreshQuotes redraws the quotes of the message at seq in the replies
  // the page holds: they follow its edits and its deletion.
  function refreshQuotes(seq) {
    for (const q of logEl.querySelectorAll('.msg-quote[data-seq="' + seq + '"]')) {
      const e = entries.get(Number(q.closest('.msg')?.dataset.seq));
      if (e?.msg.reply_to) q.replaceWith(renderQuote(e.msg.reply_to));
    }
  }

  function startReply(seq) {
    const e = entries.get(seq);
    if (!e || e.msg.deleted) return;
    replyTo = { seq, author: e.msg.author, excerpt: excerpt(e.msg.content) };
    showReply();
    input.focus();
  }

  function showReply() {
    replyBar.hidden = !replyTo;
    if (!replyTo) return;
    replyText.replaceChildren('Replying to ', el('strong', '', replyTo.author), ': ' + replyTo.excerpt);
  }

  function cancelReply() {
    replyTo = null;
    showReply();
  }

  // jumpTo shows the message at seq, marked a moment: where it is if the
  // page holds it, else with the messages around it.
  function jumpTo(seq) {
    if (entries.has(seq)) {
      showAt(seq);
      return;
    }
    jumpSeq = seq;
    if (!send({ command: 'fetch_messages', around: seq, limit: AROUND_LIMIT })) {
      atSeq = seq; // when the socket opens
    }
  }

  function showAt(seq) {
    const e = entries.get(seq);
    if (!e) return;
    holdAtDivider = false;
    gliding = false;
    e.el.scrollIntoView({ block: 'center' });
    stick = isAtBottom();
    e.el.classList.remove('jumped');
    void e.el.offsetWidth; // restart the animation
    e.el.classList.add('jumped');
    setTimeout(() => e.el.classList.remove('jumped'), FLASH_MS);
    updateRoving(e.el);
    e.el.focus({ preventScroll: true });
    // Shown with the room's latest in view, what was new is seen.
    if (!detached && stick && !document.hidden) clearUnseen();
    updateJump();
    maybeSendRead();
  }

  // onAround shows a page around a message jumped to. One that reaches
  // the messages held joins them; one further back takes their place:
  // the page then shows that stretch of the room, and the newer messages
  // come as the reader scrolls down to them, or at once with "Jump to
  // latest".
  function onAround(f, list) {
    const seq = Number(f.around);
    if (seq !== jumpSeq) return;
    jumpSeq = 0;
    if (!list.some((m) => m.seq === seq)) {
      showNotice('That message is not in this room any more.');
      return;
    }
    const hi = list[list.length - 1].seq;
    const add = () => list.forEach((m) => insert(m, m.seq === seq));
    if (order.length && hi >= order[0]) {
      quietly(add);
      hasOlder = f.has_more === true && order[0] > 1;
    } else {
      clearView();
      quietly(add);
      contig = hi;
      hasOlder = f.has_more === true && order[0] > 1;
      detached = f.has_newer === true;
      if (!detached) checkGap();
    }
    updateHistoryUI();
    showAt(seq);
  }

  // clearView forgets every message the page shows.
  function clearView() {
    removeDivider();
    for (const e of entries.values()) e.el.remove();
    entries.clear();
    order.length = 0;
    passed.clear();
    contig = 0;
    unseen = 0;
    rovingEl = null;
    hideTools();
    updateTitle();
  }

  // goLatest leaves an older stretch for the room's latest messages.
  function goLatest() {
    if (!detached) return;
    clearView();
    detached = false;
    loaded = false;
    catchingUp = false;
    hasOlder = false;
    updateHistoryUI();
    send({ command: 'fetch_messages' }); // or when the socket opens
    if (new URLSearchParams(location.search).has('at')) history.replaceState(null, '', location.pathname);
  }

  // loadNewer reads the next page of an older stretch shown, as the
  // reader nears its end.
  function loadNewer() {
    if (!detached || catchingUp || !loaded) return;
    if (scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight > 400) return;
    catchUp();
  }

  // ---------- @mentions in the composer ----------

  // Names to offer: who is here, then who wrote lately, and @room (everyone)
  // last for those who may use it.
  function mentionNames(prefix) {
    const seen = new Set();
    const names = [];
    const addName = (n) => {
      if (typeof n !== 'string' || n === '' || sameName(n, ME) || seen.has(n.toLowerCase())) return;
      seen.add(n.toLowerCase());
      names.push(n);
    };
    presenceNames.forEach(addName);
    for (let i = order.length - 1; i >= 0 && names.length < 200; i--) addName(entries.get(order[i]).msg.author);
    const p = prefix.toLowerCase();
    const all = MENTION_ROOM && ROOM_MENTION.startsWith(p);
    const shown = names.filter((n) => n.toLowerCase().startsWith(p) && n.toLowerCase() !== ROOM_MENTION)
      .slice(0, MENTIONS_SHOWN - (all ? 1 : 0));
    return all ? [...shown, ROOM_MENTION] : shown;
  }

  // updateMention opens, updates or closes the list of names for the @word
  // before the caret.
  function updateMention() {
    const before = input.value.slice(0, input.selectionStart);
    const m = /(^|[^A-Za-z0-9@.+\-_])@([A-Za-z0-9.+\-_]*)$/.exec(before);
    const names = m ? mentionNames(m[2]) : [];
    if (!m || names.length === 0 || input.selectionStart !== input.selectionEnd) {
      closeMention();
      return;
    }
    const start = before.length - m[2].length - 1;
    const keep = mention && mention.start === start ? names.indexOf(mention.names[mention.active]) : -1;
    mention = { start, names, active: Math.max(keep, 0) };
    renderMention();
  }

  function renderMention() {
    mentionList.replaceChildren(...mention.names.map((n, i) => {
      const li = el('li', 'mention-option');
      li.id = 'mention-' + i;
      li.setAttribute('role', 'option');
      li.dataset.name = n;
      li.setAttribute('aria-selected', String(i === mention.active));
      if (n === ROOM_MENTION && MENTION_ROOM) {
        li.append(el('span', '', n), el('span', 'muted', 'notify everyone here'));
      } else {
        li.append(avatar(n), el('span', '', n));
      }
      li.addEventListener('pointerdown', (e) => {
        e.preventDefault(); // keep the focus in the composer
        mention.active = i;
        acceptMention();
      });
      return li;
    }));
    mentionList.hidden = false;
    input.setAttribute('aria-activedescendant', 'mention-' + mention.active);
  }

  function closeMention() {
    if (!mention) return;
    mention = null;
    mentionList.hidden = true;
    mentionList.replaceChildren();
    input.removeAttribute('aria-activedescendant');
  }

  function acceptMention() {
    const name = mention.names[mention.active];
    const end = input.selectionStart;
    const text = '@' + name + ' ';
    input.value = input.value.slice(0, mention.start) + text + input.value.slice(end);
    const caret = mention.start + text.length;
    input.setSelectionRange(caret, caret);
    closeMention();
    saveDraft();
  }

  // onMentionKey takes the keys the list of names uses, while it is open.
  function onMentionKey(e) {
    if (!mention) return false;
    const n = mention.names.length;
    switch (e.key) {
      case 'ArrowDown': mention.active = (mention.active + 1) % n; break;
      case 'ArrowUp': mention.active = (mention.active + n - 1) % n; break;
      case 'Enter':
      case 'Tab':
        if (e.shiftKey) return false;
        acceptMention();
        break;
      case 'Escape': closeMention(); break;
      default: return false;
    }
    e.preventDefault();
    if (mention) renderMention();
    return true;
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
    removeDivider();
    clearUnseen();
    // Writing means being at the latest: an older stretch shown gives way.
    goLatest();
    const p = addPending(newClientId(), text, new Date(), replyTo ? replyTo.seq : 0);
    queueSend(p);
    savePending();
    cancelReply();
    closeMention();

    input.value = '';
    saveDraft();
    autosize();
    updateCount();
    lastTypingSent = 0; // the next keystroke may announce typing again
    updateHistoryUI();
    scrollToBottom();
    input.focus();
  }

  // addPending shows a message that is not stored yet, at the end.
  function addPending(id, text, date, reply) {
    const p = { id, text, date, status: 'sending', failure: '', el: null, replyTo: reply || 0 };
    p.el = renderPending(p);
    pending.set(p.id, p);
    pendingEl.append(p.el);
    if (isLong(text)) collapse(p.el.querySelector('.msg-body'), 'p-' + id);
    decoratePending();
    return p;
  }

  // queueSend puts p in the outbox, at the front when it was refused and
  // must keep its place before later messages.
  function queueSend(p, front, status) {
    if (!outbox.includes(p)) {
      if (front) outbox.unshift(p);
      else outbox.push(p);
    }
    const open = ws && ws.readyState === WebSocket.OPEN;
    // Before the first connection there is nothing to wait for yet.
    const waiting = !open && everOpen;
    setPendingStatus(p, 'sending', status || (waiting ? 'Waiting for the connection…' : 'Sending…'));
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
      const frame = { command: 'new_message', message: p.text, client_id: p.id };
      if (p.replyTo) frame.reply_to = p.replyTo;
      send(frame);
      sendTokens--;
    }
    if (outbox.length) pumpTimer = setTimeout(pump, Math.max(pausedUntil - now, SEND_EVERY_MS));
  }

  // renderPending draws a message on its way, as a stored one of the same
  // place will look: in a group of yours it has no header, and its status
  // shows in the gutter, so that nothing moves when it is stored.
  function renderPending(p) {
    const node = el('div', 'msg mine pending');
    const row = el('div', 'msg-row');
    const main = el('div', 'msg-main');
    const head = el('p', 'msg-head');
    const status = el('span', 'msg-status', 'Sending…');
    head.append(el('span', 'author', ME), ' ', status);
    const body = el('div', 'msg-body');
    appendContent(body, p.text);

    const actions = el('div', 'msg-actions');
    actions.hidden = true;
    const retry = el('button', 'btn btn-secondary btn-sm', 'Retry');
    retry.type = 'button';
    retry.addEventListener('click', () => {
      node.classList.remove('failed');
      actions.hidden = true;
      p.failure = '';
      queueSend(p);
      savePending();
      decoratePending();
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
    const gutter = el('span', 'gutter-status', 'Sending…');
    gutter.setAttribute('aria-hidden', 'true');
    node.append(row, gutter);
    p.statusEl = status;
    p.gutterEl = gutter;
    p.actionsEl = actions;
    return node;
  }

  // decoratePending groups the messages on their way as decorate groups
  // the stored ones: after a message of yours from the last five minutes,
  // on the same day, no header.
  function decoratePending() {
    const last = order.length ? entries.get(newest()) : null;
    let prevMine = !!last && last.msg.author === ME;
    let prevDate = last ? last.date : null;
    for (const p of pending.values()) {
      const grouped = prevMine && p.status !== 'failed' && prevDate !== null &&
        p.date - prevDate < GROUP_MS && dayKey(prevDate) === dayKey(p.date);
      p.el.classList.toggle('grouped', grouped);
      prevMine = true;
      prevDate = p.date;
    }
  }

  function setPendingStatus(p, status, text) {
    p.status = status;
    p.statusEl.textContent = text;
    p.gutterEl.textContent = status === 'failed' ? '' : (text.startsWith('Sending…') ? 'Sending…' : 'Waiting…');
  }

  function failPending(p, message) {
    p.failure = message;
    setPendingStatus(p, 'failed', 'Not sent: ' + message);
    p.el.classList.add('failed');
    p.actionsEl.hidden = false;
    decoratePending();
    savePending();
  }

  function dropPending(p) {
    p.el.remove();
    pending.delete(p.id);
    decoratePending();
    savePending();
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

  let enterSent = false;

  function onBeforeInput(e) {
    if (enterSent && (e.inputType === 'insertLineBreak' || e.inputType === 'insertParagraph')) e.preventDefault();
    enterSent = false;
  }

  function onInput() {
    autosize();
    updateCount();
    saveDraft();
    updateMention();
    const now = Date.now();
    if (input.value.trim() !== '' && now - lastTypingSent >= TYPING_SEND_MS) {
      if (send({ command: 'typing' })) lastTypingSent = now;
    }
  }

  function onKeydown(e) {
    // isComposing: Enter that confirms an IME candidate must not send.
    const composing = e.isComposing || e.keyCode === 229;
    if (!composing && onMentionKey(e)) return;
    if (e.key === 'ArrowUp' && input.value === '' && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey && !composing) {
      // As in other chat programs: Up in an empty composer edits your
      // last message.
      if (editLast()) e.preventDefault();
      return;
    }
    if (e.key === 'Escape' && replyTo && !composing) {
      e.preventDefault();
      cancelReply();
      return;
    }
    if (e.key === 'Enter' && !e.shiftKey && !composing) {
      // Ctrl or Cmd+Enter sends everywhere; a plain Return only where
      // there is a keyboard to type Shift+Return with.
      if (!touch || e.ctrlKey || e.metaKey) {
        e.preventDefault();
        // Some input paths (the DevTools protocol's, some IMEs) insert the
        // line break as an event of its own, which this keydown's
        // preventDefault does not stop: beforeinput drops it.
        enterSent = true;
        submit();
      }
      return;
    }
    // The message list scrolls from here, so that reading back never
    // means leaving the composer.
    const plain = !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey;
    if ((e.key === 'PageUp' || e.key === 'PageDown') && plain) {
      e.preventDefault();
      holdAtDivider = false;
      const page = Math.max(scroller.clientHeight - 40, 40);
      scroller.scrollBy({ top: e.key === 'PageUp' ? -page : page, behavior: 'auto' });
      return;
    }
    if (e.key === 'Escape' && plain && !composing) {
      if (!isAtBottom()) {
        e.preventDefault();
        jumpToLatest();
      }
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

  // showRuleNotice says in the composer's status line why the room refuses
  // what one sends (archived, muted): it stays through reconnections, as
  // the page's own notice of it does (data-sticky="rule").
  function showRuleNotice(text) {
    showNotice(text, true);
    noticeEl.dataset.sticky = 'rule';
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
    ended: 'Logged out',
  };

  // setConn shows the connection's state, but only while it is not
  // connected, and only once that has lasted a moment: a blip, or the
  // moment a page takes to connect, is not worth a word.
  function setConn(state) {
    if (connEl.dataset.state === state) return; // role=status: announce changes only
    connEl.dataset.state = state;
    connEl.textContent = CONN_LABELS[state];
    clearTimeout(quietTimer);
    if (state === 'open' || state === 'ended' || state === 'offline') {
      delete connEl.dataset.quiet;
      return;
    }
    connEl.dataset.quiet = '';
    quietTimer = setTimeout(() => delete connEl.dataset.quiet, QUIET_MS);
  }

  // The banner above the composer: once the connection has been down a
  // few seconds, it says so, says nothing written is lost, and offers to
  // try again now.
  function updateBanner() {
    clearTimeout(bannerTimer);
    bannerTimer = 0;
    if (ended) return;
    if (!downSince) {
      bannerEl.hidden = true;
      delete bannerEl.dataset.downSince;
      return;
    }
    bannerEl.dataset.downSince = String(downSince);
    const wait = downSince + BANNER_AFTER_MS - Date.now();
    if (wait > 0 && navigator.onLine) {
      bannerTimer = setTimeout(updateBanner, wait);
      return;
    }
    const lead = navigator.onLine ? 'Cannot reach the server.' : 'You are offline.';
    let next = '';
    if (reconnectTimer && navigator.onLine) {
      const s = Math.ceil((reconnectAt - Date.now()) / 1000);
      next = s > 1 ? ' Trying again in ' + s + ' s.' : ' Trying again…';
    }
    const text = lead + ' What you write is kept and sent once the connection is back.' + next;
    if (bannerText.textContent !== text) bannerText.textContent = text;
    retryBtn.hidden = !navigator.onLine;
    bannerEl.hidden = false;
    bannerTimer = setTimeout(updateBanner, 1000);
  }

  function connLost() {
    if (!downSince) downSince = Date.now();
    updateBanner();
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
    if (ws || ended) return;
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
    let opened = false;
    sock.addEventListener('open', () => {
      opened = true;
      if (sock === ws) onOpen();
    });
    sock.addEventListener('message', (e) => {
      if (sock === ws) onFrame(e.data);
    });
    // An 'error' event is always followed by 'close', which does the work.
    sock.addEventListener('close', (e) => {
      if (sock === ws) onClose(e, opened);
    });
  }

  function onOpen() {
    everOpen = true;
    setConn('open');
    downSince = 0;
    updateBanner();
    if (noticeEl.dataset.sticky === 'true') hideNotice();
    clearTimeout(stableTimer);
    stableTimer = setTimeout(() => {
      attempts = 0;
    }, STABLE_MS);

    // Everything after the last message the page holds (all of the room,
    // for an empty one); the first time, from the first message of the
    // page's HTML, to read them in their current state.
    catchingUp = false;
    if (!loaded) send({ command: 'fetch_messages' }); // the latest, after goLatest
    else catchUp(refreshFrom >= 0 ? Math.min(refreshFrom, contig) : contig);
    if (atSeq) {
      jumpTo(atSeq);
      atSeq = 0;
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
    // A short room shows its top: the older messages can come now.
    loadMoreIfTopVisible();
    maybeSendRead();
  }

  function onClose(e, opened) {
    ws = null;
    clearTimeout(stableTimer);
    loadingOlder = false;
    catchingUp = false;
    updateHistoryUI();
    clearTypers();
    presenceBox.hidden = true;
    closePresence();
    if (ended) return;
    if (e.code === 4401) {
      // The session ended (logged out elsewhere, expired, revoked): no
      // reconnecting with it.
      sessionEnded();
      return;
    }
    if (e.code === 4404) {
      // Removed from the room, or it was made private without us: its
      // upgrade would be refused.
      roomGone();
      return;
    }
    for (const p of pending.values()) {
      if (p.status !== 'failed') setPendingStatus(p, 'sending', 'Waiting for the connection…');
    }
    if (e.code === 1008) {
      showNotice('You are sending too fast; reconnecting', true);
      // Come back gently: a few seconds, not the first quick retries.
      attempts = Math.max(attempts, 6);
    }
    // A refused upgrade looks to a WebSocket like any failure to connect;
    // fetch sees its 401 or 404, so ask whether the session has ended or
    // the room is no longer ours: at the first failure, which is when
    // either shows, and now and then after.
    failures = opened ? 0 : failures + 1;
    if (failures === 1 || failures % 4 === 0) probeSession();
    scheduleReconnect();
    connLost();
  }

  function scheduleReconnect() {
    if (reconnectTimer || ended) return;
    if (!navigator.onLine) {
      setConn('offline'); // the 'online' event reconnects
      return;
    }
    setConn(everOpen ? 'reconnecting' : 'connecting');
    const base = attempts < RETRY_MS.length ? RETRY_MS[attempts] : RETRY_MAX_MS;
    const delay = base * (0.6 + Math.random() * 0.8);
    attempts++;
    reconnectAt = Date.now() + delay;
    reconnectTimer = setTimeout(connect, delay);
  }

  // probeSession asks the API what a refused upgrade does not say: the
  // session has ended (401), or the user may no longer read the room
  // (404: removed, or it was made private, while the page was away).
  async function probeSession() {
    try {
      const res = await fetch('/api/v1/rooms/' + encodeURIComponent(ROOM) + '/messages?limit=1', {
        credentials: 'same-origin',
        headers: { Accept: 'application/json' },
      });
      if (res.status === 401) sessionEnded();
      else if (res.status === 404) roomGone();
    } catch {
      // The server is unreachable; keep retrying.
    }
  }

  // sessionEnded: logged out elsewhere, or the session expired. Say so,
  // keep the draft and whatever was not sent (they are in storage), and go
  // to the log-in page, which comes back here.
  function sessionEnded() {
    if (ended) return;
    ended = true;
    clearTimeout(reconnectTimer);
    reconnectTimer = 0;
    clearTimeout(bannerTimer);
    saveDraft();
    savePending();
    setConn('ended');
    const login = '/accounts/login/?next=' + encodeURIComponent(location.pathname) +
      '&username=' + encodeURIComponent(ME) + '&ended=1';
    bannerText.textContent = 'Your session has ended. Your draft and anything not yet sent are kept, ' +
      'and go out once you log in again. Taking you to the log-in page…';
    retryBtn.hidden = true;
    loginLink.href = login;
    loginLink.hidden = false;
    bannerEl.hidden = false;
    bannerEl.dataset.ended = 'true';
    setTimeout(() => location.assign(login), LOGIN_AFTER_MS);
  }

  // roomGone stops the page of a room its reader may no longer read.
  function roomGone() {
    if (ended) return;
    ended = true;
    clearTimeout(reconnectTimer);
    reconnectTimer = 0;
    clearTimeout(bannerTimer);
    setConn('ended');
    bannerText.textContent = 'You are no longer a member of this room.';
    retryBtn.hidden = true;
    loginLink.textContent = 'Go to your rooms';
    loginLink.href = '/';
    loginLink.hidden = false;
    bannerEl.hidden = false;
    bannerEl.dataset.ended = 'true';
    input.disabled = true;
    sendBtn.disabled = true;
  }

  function reconnectNow() {
    if (ws || ended) return;
    connect();
    updateBanner();
  }

  // ---------- Wiring ----------

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
  });
  input.addEventListener('keydown', onKeydown);
  input.addEventListener('input', onInput);
  input.addEventListener('beforeinput', onBeforeInput);
  input.addEventListener('keyup', () => {
    enterSent = false;
  });
  if (touch) {
    input.enterKeyHint = 'enter';
    hintEl.textContent = 'Return for a new line · Send to send';
  }

  olderBtn.addEventListener('click', loadOlder);
  jumpBtn.addEventListener('click', () => {
    if (detached) goLatest();
    else jumpToLatest();
    input.focus({ preventScroll: true });
  });
  retryBtn.addEventListener('click', () => {
    attempts = Math.min(attempts, 2);
    reconnectNow();
  });

  scroller.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !isAtBottom()) {
      e.preventDefault();
      jumpToLatest();
    }
  });
  logEl.addEventListener('click', onMessageTap);
  logEl.addEventListener('pointerover', (e) => {
    if (e.pointerType === 'touch') return; // a tap shows them, in onMessageTap
    const node = e.target.closest('.msg');
    if (node && node !== toolsFor && !tools.contains(document.activeElement)) showTools(node);
  });
  logEl.addEventListener('pointerleave', () => {
    if (!toolsFor?.classList.contains('tools-open') && !toolsFor?.contains(document.activeElement)) hideTools();
  });
  logEl.addEventListener('focusin', (e) => {
    const node = e.target.closest('.msg');
    if (!node || !entries.has(Number(node.dataset.seq))) return;
    if (e.target === node) updateRoving(node);
    if (node !== toolsFor) showTools(node);
  });
  logEl.addEventListener('keydown', onMessageKey);
  replyCancel.addEventListener('click', () => {
    cancelReply();
    input.focus();
  });
  input.addEventListener('blur', () => closeMention());
  input.addEventListener('click', updateMention);

  presenceToggle.addEventListener('click', () => {
    if (presencePanel.hidden) openPresence();
    else closePresence();
  });
  presenceBox.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !presencePanel.hidden) {
      e.preventDefault();
      e.stopPropagation();
      closePresence(true);
    }
  });
  document.addEventListener('click', (e) => {
    if (!presenceBox.contains(e.target)) closePresence();
  });

  let scrollQueued = false;
  scroller.addEventListener('scroll', () => {
    // At once, not at the next frame: a message, a presence change or a
    // resize in between must not pull a reader who scrolled up back down.
    stick = gliding || isAtBottom();
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
    if (stick && !holdAtDivider) scrollToBottom();
  }).observe(scroller);
  for (const type of ['wheel', 'touchstart', 'keydown', 'pointerdown']) {
    scroller.addEventListener(type, () => {
      holdAtDivider = false;
      gliding = false; // the reader takes over
    }, { passive: true });
  }

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
    else {
      attempts = 0;
      reconnectNow();
    }
  });
  window.addEventListener('offline', () => {
    setConn('offline');
    connLost();
  });

  // Leaving with messages not yet sent: they are kept and go out the next
  // time this room is open, but say so before the page goes.
  window.addEventListener('beforeunload', (e) => {
    if (ended || pending.size === 0) return;
    saveDraft();
    savePending();
    e.preventDefault();
    e.returnValue = '';
  });

  // "Today" becomes "Yesterday" at midnight.
  setInterval(() => {
    const key = dayKey(new Date());
    if (key === today) return;
    today = key;
    for (let i = 0; i < order.length; i++) decorate(i);
  }, 60 * 1000);

  adopt();
  restore();
  updateHistoryUI();
  if (dividerEl) scrollToDivider();
  else scrollToBottom();
  // Unread messages count as seen once the reader reaches the bottom.
  if (!dividerEl && isAtBottom()) clearUnseen();
  updateJump();
  updateTitle();
  loadMoreIfTopVisible();
  if (matchMedia('(pointer: fine)').matches) input.focus({ preventScroll: true });
  // The page arrives "Connecting…", quietly: said only if it takes a while.
  quietTimer = setTimeout(() => delete connEl.dataset.quiet, QUIET_MS);
  connect();
})();
