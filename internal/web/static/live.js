// Parley: live counts on every signed-in page.
//
// Opens the user stream (/ws/user/, docs/PROTOCOL.md "The user stream"):
// its first frame holds the counts of all the user's rooms, then a frame
// per change. From it this script keeps current, without a reload:
//   - the unread badges of the dashboard's rows (any [data-room] row);
//   - the tab's title, "(N) " before the page's own, N the unread messages
//     of rooms not muted (their mentions only, for a room set to mentions),
//     the room being viewed left out (its page counts what it shows:
//     room.js's count, which it leaves in <html data-unseen>);
//   - the list of rooms beside a room (#room-side), on wide screens;
//   - the level select of the room page (#room-level), sent with the API.
// Browser notifications are opt-in: a button ([data-notify-optin]) asks
// for permission, never the page on load. When the stream says a message
// notifies the user (a mention, or a direct message, by their level) and
// every tab of Parley in this browser is hidden, one tab shows it: the tabs of this
// browser hear of it on a BroadcastChannel, each claims it with a random
// id, and after a short wait the tab with the lowest id shows it (the
// notification's tag, room and seq, stops a second copy where a browser
// would show one). Clicking it focuses the tab and opens the room at the
// message. Every piece of user data reaches the page as text.
(() => {
  'use strict';

  if (!('WebSocket' in window)) return;

  const RETRY_MS = [500, 1000, 2000, 3000, 5000, 8000, 15000];
  const CLAIM_MS = 250;
  const NOTIFY_KEY = 'parley.notify';

  const roomPage = document.getElementById('room');
  const VIEWING = roomPage ? roomPage.dataset.room || '' : '';
  const side = document.getElementById('room-side');
  const sideList = document.getElementById('room-side-list');
  const levelSelect = document.getElementById('room-level');
  const baseTitle = document.title.replace(/^\(\d+\+?\) /, '');

  const rooms = new Map(); // name -> the stream's room object
  let order = [];          // room names, the most recently active first
  let ws = null;
  let tries = 0;

  // ---------- Counts ----------

  // counted is what a room adds to the title: nothing for the room being
  // viewed, nor for a muted one; mentions only, for mentions.
  function counted(r) {
    if (r.room === VIEWING || r.level === 'muted') return 0;
    return r.level === 'mentions' ? r.mentions : r.unread;
  }

  function title() {
    let n = Number.parseInt(document.documentElement.dataset.unseen || '0', 10) || 0;
    for (const r of rooms.values()) n += counted(r);
    const text = n > 0 ? '(' + (n > 999 ? '999+' : n) + ') ' + baseTitle : baseTitle;
    if (document.title !== text) document.title = text;
  }

  // badgeText is a room's badge: its unread count, "@" and its mentions
  // for a room set to mentions, nothing for the room being viewed.
  function badgeOf(r) {
    if (r.room === VIEWING || r.unread <= 0) return null;
    if (r.level === 'mentions') return r.mentions > 0 ? { text: '@' + r.mentions, label: ' mentions' } : null;
    return { text: r.unread > 999 ? '999+' : String(r.unread), label: ' unread' };
  }

  function setBadge(link, r) {
    let badge = link.querySelector('.badge');
    const b = badgeOf(r);
    if (!b) {
      if (badge) badge.remove();
      return;
    }
    if (!badge) {
      badge = document.createElement('span');
      badge.className = 'badge';
      link.appendChild(badge);
    }
    badge.classList.toggle('badge-dim', r.level === 'muted');
    badge.classList.toggle('badge-mention', r.mentions > 0 && r.level !== 'muted');
    badge.textContent = b.text;
    const vh = document.createElement('span');
    vh.className = 'vh';
    vh.textContent = b.label;
    badge.appendChild(vh);
  }

  function updateRows(r) {
    for (const row of document.querySelectorAll('.room-row[data-room]')) {
      if (row.dataset.room !== r.room) continue;
      const link = row.querySelector('.room-link');
      if (link) setBadge(link, r);
      const level = row.querySelector('select[data-level-room]');
      if (level && level.value !== r.level) level.value = r.level;
    }
  }

  // ---------- The dashboard's level selects ----------

  function addLevelSelects() {
    for (const row of document.querySelectorAll('.my-room-row[data-room]')) {
      const r = rooms.get(row.dataset.room);
      if (!r || row.querySelector('select[data-level-room]')) continue;
      row.querySelector('.leave-form')?.before(levelControl(r.room, r.level));
    }
  }

  function levelControl(room, level) {
    const label = document.createElement('label');
    label.className = 'level-pick';
    const vh = document.createElement('span');
    vh.className = 'vh';
    vh.textContent = 'Notifications for #' + room;
    const select = document.createElement('select');
    select.dataset.levelRoom = room;
    for (const [value, text] of [['every', 'All'], ['mentions', 'Mentions'], ['muted', 'Muted']]) {
      const o = document.createElement('option');
      o.value = value;
      o.textContent = text;
      select.appendChild(o);
    }
    select.value = level;
    select.addEventListener('change', () => setLevel(room, select));
    label.append(vh, select);
    return label;
  }

  async function setLevel(room, select) {
    select.disabled = true;
    try {
      const res = await fetch('/api/v1/rooms/' + encodeURIComponent(room) + '/level', {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ level: select.value }),
        credentials: 'same-origin',
      });
      if (!res.ok) throw new Error(String(res.status));
      const body = await res.json();
      const r = rooms.get(room);
      if (r) {
        r.level = body.level;
        show(r);
      }
    } catch {
      const r = rooms.get(room);
      if (r) select.value = r.level; // not set: show what is
    } finally {
      select.disabled = false;
    }
  }

  if (levelSelect) {
    const form = levelSelect.form;
    form?.addEventListener('submit', (e) => e.preventDefault());
    levelSelect.addEventListener('change', () => setLevel(form.dataset.levelForm || VIEWING, levelSelect));
  }

  // ---------- The list beside a room ----------

  // renderSide draws the list beside the room: whole when the rooms or
  // their order changed, else only the row of the room that changed.
  let sideKey = '';
  function renderSide(changed) {
    if (!side || !sideList) return;
    side.hidden = order.length === 0;
    const key = order.join('\n');
    if (changed && key === sideKey) {
      const r = rooms.get(changed);
      const row = r && [...sideList.children].find((li) => li.dataset.room === changed);
      if (row) {
        row.classList.toggle('room-muted', r.level === 'muted');
        setBadge(row.querySelector('.room-link'), r);
        return;
      }
    }
    sideKey = key;
    const items = [];
    for (const name of order) {
      const r = rooms.get(name);
      if (!r) continue;
      const li = document.createElement('li');
      li.className = 'room-row';
      li.dataset.room = name;
      const a = document.createElement('a');
      a.className = 'room-link';
      a.href = '/chats/' + encodeURIComponent(name) + '/';
      if (name === VIEWING) a.setAttribute('aria-current', 'page');
      const icon = document.createElement('span');
      icon.className = 'room-icon';
      icon.setAttribute('aria-hidden', 'true');
      icon.textContent = r.kind === 'direct' ? '@' : '#';
      const main = document.createElement('span');
      main.className = 'room-main';
      const nm = document.createElement('span');
      nm.className = 'room-name';
      nm.textContent = r.title || name;
      main.appendChild(nm);
      if (r.level === 'muted') li.classList.add('room-muted');
      a.append(icon, main);
      setBadge(a, r);
      li.appendChild(a);
      items.push(li);
    }
    sideList.replaceChildren(...items);
  }

  function show(r) {
    updateRows(r);
    renderSide(r.room);
    if (r.room === VIEWING && levelSelect && levelSelect.value !== r.level) levelSelect.value = r.level;
    title();
  }

  // ---------- Notifications ----------

  const canNotify = 'Notification' in window;
  const channel = 'BroadcastChannel' in window ? new BroadcastChannel('parley-notify') : null;
  const tabId = Math.random().toString(36).slice(2) + Date.now().toString(36);
  const claims = new Map(); // room:seq -> {ids, visible}

  function notifyOn() {
    return canNotify && Notification.permission === 'granted' && localStorage.getItem(NOTIFY_KEY) === 'on';
  }

  function updateOptin() {
    for (const btn of document.querySelectorAll('[data-notify-optin]')) {
      if (!canNotify || Notification.permission === 'denied') {
        btn.hidden = true;
        continue;
      }
      btn.hidden = false;
      const on = notifyOn();
      btn.textContent = on ? 'Notifications on' : 'Turn on notifications';
      btn.setAttribute('aria-pressed', on ? 'true' : 'false');
      btn.title = on ? 'Mentions and direct messages notify you while Parley is in the background. Click to turn off.'
        : 'Be notified of mentions and direct messages while Parley is in the background.';
    }
  }

  async function toggleNotify() {
    if (notifyOn()) {
      localStorage.setItem(NOTIFY_KEY, 'off');
    } else {
      localStorage.setItem(NOTIFY_KEY, 'on');
      if (Notification.permission !== 'granted') {
        try {
          await Notification.requestPermission();
        } catch {
          // An old browser's callback form: the permission says.
        }
      }
    }
    updateOptin();
  }

  for (const btn of document.querySelectorAll('[data-notify-optin]')) {
    btn.addEventListener('click', toggleNotify);
  }

  // claim offers to show room's message seq: every tab hears of it and
  // claims it, saying whether it is visible; after CLAIM_MS the lowest id
  // shows it, unless a tab was visible: the person is looking at Parley,
  // whose badges and title say it.
  function claim(r, n) {
    if (!notifyOn()) return;
    const key = r.room + ':' + n.seq;
    const visible = !document.hidden;
    note(key, tabId, visible);
    if (channel) channel.postMessage({ key, id: tabId, visible });
    setTimeout(() => {
      const c = claims.get(key);
      claims.delete(key);
      if (!c || c.visible || c.ids[0] !== tabId) return;
      showNotification(r, n);
    }, CLAIM_MS);
  }

  function note(key, id, visible) {
    let c = claims.get(key);
    if (!c) {
      c = { ids: [], visible: false };
      claims.set(key, c);
    }
    if (!c.ids.includes(id)) c.ids.push(id);
    c.ids.sort();
    c.visible = c.visible || visible;
  }

  if (channel) {
    channel.onmessage = (e) => {
      const d = e.data || {};
      if (typeof d.key === 'string' && typeof d.id === 'string') note(d.key, d.id, !!d.visible);
    };
  }

  function showNotification(r, n) {
    const title = r.kind === 'direct' ? n.author : n.author + ' in #' + (r.title || r.room);
    let note;
    try {
      note = new Notification(title, { body: n.excerpt, tag: r.room + ':' + n.seq, icon: '/static/favicon.svg' });
    } catch {
      return; // a browser that shows them only from a service worker
    }
    note.onclick = () => {
      window.focus();
      note.close();
      location.href = '/chats/' + encodeURIComponent(r.room) + '/?at=' + n.seq;
    };
  }

  // ---------- The stream ----------

  function onFrame(f) {
    switch (f.command) {
      case 'counts':
        rooms.clear();
        order = [];
        for (const r of f.rooms || []) {
          rooms.set(r.room, r);
          order.push(r.room);
        }
        for (const r of rooms.values()) updateRows(r);
        addLevelSelects();
        renderSide();
        title();
        break;
      case 'room': {
        const r = f.room;
        if (!r || typeof r.room !== 'string') return;
        const old = rooms.get(r.room);
        rooms.set(r.room, r);
        if (!old || r.last_seq > old.last_seq) {
          order = [r.room, ...order.filter((n) => n !== r.room)];
        }
        show(r);
        addLevelSelects();
        if (f.notify) claim(r, f.notify);
        break;
      }
      case 'room_removed':
        rooms.delete(f.room);
        order = order.filter((n) => n !== f.room);
        for (const row of document.querySelectorAll('.room-row[data-room]')) {
          if (row.dataset.room === f.room) row.querySelector('.badge')?.remove();
        }
        renderSide();
        title();
        break;
    }
  }

  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(proto + '//' + location.host + '/ws/user/', ['parley.v1']);
    let opened = 0;
    ws.onopen = () => { opened = Date.now(); };
    ws.onmessage = (e) => {
      let f;
      try {
        f = JSON.parse(e.data);
      } catch {
        return;
      }
      if (f && typeof f === 'object') onFrame(f);
    };
    ws.onclose = (e) => {
      ws = null;
      if (e.code === 4401) return; // logged out: the room page says so
      if (opened && Date.now() - opened > 30000) tries = 0;
      const wait = RETRY_MS[Math.min(tries, RETRY_MS.length - 1)] * (0.75 + Math.random() / 2);
      tries++;
      setTimeout(connect, wait);
    };
  }

  window.parleyLive = { title };
  updateOptin();
  title();
  connect();
})();
