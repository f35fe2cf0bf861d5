// Parley: live room search on /chats/.
//
// The search form works without this script (the server answers ?q=). With
// it, results follow the search box as you type: a debounced fetch of
// GET /api/v1/rooms?q=…, the list rebuilt with DOM calls only (room names are
// never parsed as HTML), and the address bar kept in step so that reload and
// back give the same list.
(() => {
  'use strict';

  const DEBOUNCE_MS = 200;

  const form = document.getElementById('search-form');
  const input = document.getElementById('room-search');
  const list = document.getElementById('search-results');
  const empty = document.getElementById('search-empty');
  const status = document.getElementById('search-status');
  if (!form || !input || !list || !empty || !status) return;

  const numberFormat = new Intl.NumberFormat('en-US');

  let timer = 0;
  let inflight = null; // AbortController of the request under way
  let lastQuery = input.value.trim();

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => search(input.value.trim()), DEBOUNCE_MS);
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearTimeout(timer);
    search(input.value.trim(), true);
  });

  async function search(q, force = false) {
    if (q === lastQuery && !force) return;
    lastQuery = q;
    updateURL(q);

    if (inflight) inflight.abort();
    const controller = new AbortController();
    inflight = controller;
    list.setAttribute('aria-busy', 'true');
    try {
      const res = await fetch('/api/v1/rooms?q=' + encodeURIComponent(q), {
        credentials: 'same-origin',
        headers: { Accept: 'application/json' },
        signal: controller.signal,
      });
      if (res.status === 401) {
        status.textContent = 'Your session has ended. Log in again to search.';
        return;
      }
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const body = await res.json();
      // A slower, older answer must not overwrite a newer one.
      if (controller !== inflight) return;
      show(q, Array.isArray(body.rooms) ? body.rooms : []);
    } catch (err) {
      if (err.name === 'AbortError') return;
      status.textContent = 'Search is not available right now. Press Search to try again.';
    } finally {
      if (controller === inflight) {
        inflight = null;
        list.removeAttribute('aria-busy');
      }
    }
  }

  function updateURL(q) {
    const url = new URL(location.href);
    url.searchParams.delete('room');
    if (q) url.searchParams.set('q', q);
    else url.searchParams.delete('q');
    history.replaceState(history.state, '', url);
  }

  function show(q, rooms) {
    list.replaceChildren(...rooms.filter(isRoom).map(roomRow));
    const n = list.childElementCount;
    list.hidden = n === 0;
    empty.hidden = n !== 0;

    if (q) {
      status.textContent = (n === 1 ? '1 room matches' : numberFormat.format(n) + ' rooms match') + ' “' + q + '”';
    } else {
      status.textContent = n ? 'Recently active rooms' : '';
    }
    if (n === 0) fillEmpty(q);
    document.dispatchEvent(new Event('parley:times'));
  }

  function isRoom(r) {
    return r && typeof r.name === 'string' && r.name !== '';
  }

  // roomRow builds the same markup as the "room-row" template.
  function roomRow(r) {
    const li = el('li', 'room-row');
    const a = el('a', 'room-link');
    a.href = '/chats/' + encodeURIComponent(r.name) + '/';

    const icon = el('span', 'room-icon hue-' + hue(r.name), '#');
    icon.setAttribute('aria-hidden', 'true');

    const main = el('span', 'room-main');
    main.append(el('span', 'room-name', r.name));
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

  function fillEmpty(q) {
    const title = el('p', 'empty-title', q ? 'No room matches “' + q + '”.' : 'There are no rooms yet.');
    const hint = el('p', '', q
      ? 'Try a shorter search, or enter the name above to create the room.'
      : 'Enter a name above to create the first one.');
    empty.replaceChildren(title, hint);
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
})();
