// Parley: the one box of the Rooms page (/chats/).
//
// Without this script the box enters the room typed (?room=), and ?q=
// lists the rooms that match. With it, the rooms that match follow the box
// as you type: a debounced fetch of GET /api/v1/rooms?q=…, the list rebuilt
// with DOM calls only (room names are never parsed as HTML), and the address
// bar kept in step so that reload and back give the same list. Above the
// list, a "Create #name" row offers the room when none is called that, with
// the name made valid ("My Room!" becomes #my-room): a form that posts the
// name to /chats/, which makes the room. Enter goes to the room of that
// first row, or creates it. ArrowDown moves from the box into the list.
(() => {
  'use strict';

  const DEBOUNCE_MS = 150;
  const MAX_NAME = 64;

  const form = document.getElementById('room-form');
  const input = document.getElementById('room-name-input');
  const list = document.getElementById('room-results');
  const empty = document.getElementById('search-empty');
  const status = document.getElementById('search-status');
  if (!form || !input || !list || !empty || !status) return;

  const numberFormat = new Intl.NumberFormat('en-US');

  let timer = 0;
  let inflight = null;   // {q, controller, done}: the request under way
  let shown = null;      // {q, rooms}: what the list shows
  let lastQuery = null;

  input.addEventListener('input', () => {
    clearError();
    clearTimeout(timer);
    const q = input.value.trim();
    // The "Create" row follows each key at once; the matches, and what the
    // status line says of them, a moment later.
    if (shown) render(q, shown.q === q ? shown.rooms : matching(shown.rooms, q), true);
    timer = setTimeout(() => search(q), DEBOUNCE_MS);
  });

  // The rows' links, and the "Create" row's button.
  const rowControls = () => [...list.querySelectorAll('a, button')];

  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') {
      const first = rowControls()[0];
      if (first && !list.hidden) {
        e.preventDefault();
        first.focus();
      }
    } else if (e.key === 'Escape' && input.value !== '') {
      e.preventDefault();
      input.value = '';
      input.dispatchEvent(new Event('input'));
    }
  });

  list.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const links = rowControls();
    const i = links.indexOf(document.activeElement);
    if (i < 0) return;
    e.preventDefault();
    if (e.key === 'ArrowDown') links[Math.min(i + 1, links.length - 1)].focus();
    else if (i === 0) input.focus();
    else links[i - 1].focus();
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearTimeout(timer);
    const q = input.value.trim();
    if (q === '') return;
    // The room Enter goes to depends on the rooms there are: wait for them.
    const rooms = await search(q);
    const { target, create } = enterTarget(q, rooms || []);
    if (!target) {
      showError('“' + q + '” cannot be made into a room name: use letters a–z, digits, _ and -.');
      return;
    }
    if (create && rooms) {
      // A new room is made by a POST: the "Create" row's form.
      const createForm = list.querySelector('.create-form');
      if (createForm) {
        createForm.requestSubmit();
        return;
      }
    }
    location.assign('/chats/' + encodeURIComponent(target) + '/');
  });

  // search shows the rooms that match q and returns them, or null when
  // they could not be had.
  function search(q) {
    if (shown && shown.q === q && !inflight) return Promise.resolve(shown.rooms);
    if (inflight && inflight.q === q) return inflight.done;
    if (inflight) inflight.controller.abort();
    if (q !== lastQuery) updateURL(q);
    lastQuery = q;
    const controller = new AbortController();
    const req = { q, controller, done: null };
    inflight = req;
    list.setAttribute('aria-busy', 'true');
    req.done = (async () => {
      try {
        const res = await fetch('/api/v1/rooms?q=' + encodeURIComponent(q), {
          credentials: 'same-origin',
          headers: { Accept: 'application/json' },
          signal: controller.signal,
        });
        if (res.status === 401) {
          status.textContent = 'Your session has ended. Log in again to find a room.';
          return null;
        }
        if (!res.ok) throw new Error('HTTP ' + res.status);
        const body = await res.json();
        const rooms = (Array.isArray(body.rooms) ? body.rooms : []).filter(isRoom);
        // A slower, older answer must not overwrite a newer one.
        if (inflight === req) render(q, rooms);
        return rooms;
      } catch (err) {
        if (err.name !== 'AbortError' && inflight === req) {
          status.textContent = 'Finding rooms is not possible right now. Press Enter to go to the room typed.';
        }
        return null;
      } finally {
        if (inflight === req) {
          inflight = null;
          list.removeAttribute('aria-busy');
        }
      }
    })();
    return req.done;
  }

  function updateURL(q) {
    const url = new URL(location.href);
    url.searchParams.delete('room');
    if (q) url.searchParams.set('q', q);
    else url.searchParams.delete('q');
    history.replaceState(history.state, '', url);
  }

  // matching narrows a list found for a shorter query to q, as the
  // server's search does (a prefix of the name, or of a word of it after a
  // "-" or "_"), until the server answers for q itself.
  function matching(rooms, q) {
    const needle = suggestRoomName(q);
    if (needle === '') return [];
    return rooms.filter((r) => r.name.split(/(?<=[-_])/).some((_, i, parts) => parts.slice(i).join('').startsWith(needle)));
  }

  // render shows rooms, found for q; a draft (narrowed from an earlier
  // answer) leaves the status line for the answer to update.
  function render(q, rooms, draft) {
    shown = { q: draft ? null : q, rooms };
    const { target, create } = q ? enterTarget(q, rooms) : { target: '', create: false };
    const rows = rooms.map(roomRow);
    let targetRow = null;
    if (create) {
      targetRow = createRow(q, target);
      rows.unshift(targetRow, createRow(q, target, true));
    } else if (target) {
      const i = rooms.findIndex((r) => r.name === target);
      targetRow = rows.splice(i, 1)[0];
      rows.unshift(targetRow);
    }
    if (targetRow) {
      const a = targetRow.querySelector('a, button');
      a.dataset.target = '';
      const hint = el('span', 'enter-hint', 'Enter ↵');
      hint.setAttribute('aria-hidden', 'true');
      a.append(hint);
    }
    list.replaceChildren(...rows);
    list.hidden = rows.length === 0;
    empty.hidden = q !== '' || rooms.length !== 0;

    if (draft) return;
    const n = rooms.length;
    if (q) {
      status.textContent = n === 0
        ? 'No room matches “' + q + '”.'
        : (n === 1 ? '1 room matches' : numberFormat.format(n) + ' rooms match') + ' “' + q + '”';
    } else {
      status.textContent = n ? 'Recently active rooms' : '';
    }
    document.dispatchEvent(new Event('parley:times'));
  }

  function isRoom(r) {
    return r && typeof r.name === 'string' && r.name !== '';
  }

  // enterTarget mirrors enterTarget in pages.go: the room called exactly
  // q, else q made a valid name; create when no room has that name yet.
  function enterTarget(q, rooms) {
    const has = (name) => rooms.some((r) => r.name === name);
    if (has(q)) return { target: q, create: false };
    const target = suggestRoomName(q);
    return { target, create: target !== '' && !has(target) };
  }

  // suggestRoomName mirrors chat.SuggestRoomName: lower case, accents
  // dropped, every run of other characters one "-".
  function suggestRoomName(name) {
    if (/^[A-Za-z0-9_-]{1,64}$/.test(name)) return name.toLowerCase();
    let out = '';
    let dash = false;
    for (const ch of name.toLowerCase()) {
      const s = foldLetter(ch);
      if (s === '') {
        dash = out.length > 0;
        continue;
      }
      if (dash) out += '-';
      dash = false;
      out += s;
    }
    if (out.length > MAX_NAME) out = out.slice(0, MAX_NAME).replace(/-+$/, '');
    return out;
  }

  const FOLDS = {
    à: 'a', á: 'a', â: 'a', ã: 'a', ä: 'a', å: 'a', ā: 'a', ă: 'a', ą: 'a',
    æ: 'ae', ç: 'c', ć: 'c', č: 'c', ď: 'd', đ: 'd', ð: 'd',
    è: 'e', é: 'e', ê: 'e', ë: 'e', ē: 'e', ė: 'e', ę: 'e', ě: 'e',
    ğ: 'g', ì: 'i', í: 'i', î: 'i', ï: 'i', ī: 'i', į: 'i', ı: 'i',
    ľ: 'l', ĺ: 'l', ł: 'l', ñ: 'n', ń: 'n', ň: 'n',
    ò: 'o', ó: 'o', ô: 'o', õ: 'o', ö: 'o', ø: 'o', ō: 'o', ő: 'o', œ: 'oe',
    ŕ: 'r', ř: 'r', ś: 's', š: 's', ş: 's', ș: 's', ß: 'ss',
    ť: 't', ţ: 't', ț: 't', þ: 'th',
    ù: 'u', ú: 'u', û: 'u', ü: 'u', ū: 'u', ů: 'u', ű: 'u', ų: 'u',
    ý: 'y', ÿ: 'y', ź: 'z', ż: 'z', ž: 'z',
  };

  function foldLetter(ch) {
    if (/^[a-z0-9_]$/.test(ch)) return ch;
    return Object.hasOwn(FOLDS, ch) ? FOLDS[ch] : '';
  }

  // roomRow builds the same markup as the "room-row" template.
  function roomRow(r) {
    const li = el('li', 'room-row');
    const a = el('a', 'room-link');
    a.href = '/chats/' + encodeURIComponent(r.name) + '/';

    const icon = el('span', 'room-icon hue-' + hue(r.name), '#');
    icon.setAttribute('aria-hidden', 'true');

    const main = el('span', 'room-main');
    const title = el('span', 'room-name', r.name);
    if (r.kind === 'private') title.append(' ', el('span', 'room-kind', 'private'));
    if (r.archived) title.append(' ', el('span', 'room-kind', 'archived'));
    main.append(title);
    const messages = Number(r.messages) || 0;
    const meta = el('span', 'room-meta', messages === 1 ? '1 message' : numberFormat.format(messages) + ' messages');
    const when = new Date(r.last_activity);
    if (r.last_activity && !Number.isNaN(when.getTime()) && when.getTime() > 0) {
      // common.js replaces the date with "5 min ago" and keeps it current.
      const time = el('time', '', when.toLocaleDateString());
      time.dateTime = when.toISOString();
      time.dataset.ago = '';
      meta.append(' · ', time);
    }
    main.append(meta);

    a.append(icon, main);
    const unread = Number(r.unread) || 0;
    if (unread > 0) {
      const badge = el('span', 'badge', numberFormat.format(unread));
      badge.append(el('span', 'vh', ' unread'));
      a.append(badge);
    }
    li.append(a);
    return li;
  }

  // createRow is the "Create #name" row, as chats.html draws it: a form
  // that posts the name to /chats/; private, the row that makes it a
  // private room.
  function createRow(q, target, private_) {
    const li = el('li', private_ ? 'room-row create-row create-private-row' : 'room-row create-row');
    const f = el('form', 'create-form');
    f.method = 'post';
    f.action = '/chats/';
    const name = el('input');
    name.type = 'hidden';
    name.name = 'room';
    name.value = target;
    const a = el('button', 'room-link');
    a.type = 'submit';
    const icon = el('span', 'room-icon room-icon-new', '+');
    icon.setAttribute('aria-hidden', 'true');
    const main = el('span', 'room-main');
    if (private_) {
      main.append(el('span', 'room-name', 'Create #' + target + ' as a private room'));
      main.append(el('span', 'room-meta', 'Only the members you add can find it or enter it'));
    } else {
      main.append(el('span', 'room-name', 'Create #' + target));
      main.append(el('span', 'room-meta', target === q
        ? 'A new room, open to everyone'
        : 'Room names use a–z, 0–9, _ and -: “' + q + '” becomes #' + target));
    }
    a.append(icon, main);
    f.append(name);
    if (private_) {
      const kind = el('input');
      kind.type = 'hidden';
      kind.name = 'kind';
      kind.value = 'private';
      f.append(kind);
    }
    f.append(a);
    li.append(f);
    return li;
  }

  function showError(text) {
    clearError();
    const p = el('p', 'field-error', text);
    p.id = 'room-name-error';
    p.setAttribute('role', 'alert');
    form.after(p);
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', 'room-name-error search-status');
    document.getElementById('room-name-help')?.setAttribute('hidden', '');
  }

  function clearError() {
    const old = document.getElementById('room-name-error');
    if (!old) return;
    old.remove();
    input.removeAttribute('aria-invalid');
    const help = document.getElementById('room-name-help');
    if (help) {
      help.hidden = false;
      input.setAttribute('aria-describedby', 'room-name-help search-status');
    } else {
      input.setAttribute('aria-describedby', 'search-status');
    }
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // hue mirrors hue in render.go: the same room gets the same colour.
  function hue(name) {
    let h = 0;
    for (const ch of name) h = (Math.imul(h, 31) + ch.codePointAt(0)) >>> 0;
    return h % 8;
  }

  // The page may come back from the cache or with ?q=: show the list for
  // what the box holds.
  const initial = input.value.trim();
  if (!document.getElementById('room-name-error')) search(initial);
  else shown = { q: '', rooms: [] };
})();
