// Parley: helpers every page may load.
//
// Keeps <time data-ago datetime="…"> elements saying how long ago they were
// ("5 min ago"), in the same words the server uses, and gives them the full
// local date as a tooltip. Other scripts that add such elements dispatch a
// "parley:times" event on document to have them filled in at once.
//
// Logging out forgets the drafts and unsent messages the room pages keep in
// this browser (room.js), so that the next person at it does not see them.
// A menu (<details class="nav-menu">) closes on Escape or a click outside.
//
// "/" goes to the search of messages: the search page's box, the header's,
// or on a screen too narrow for it the search page; not while one types
// in a field.
(() => {
  'use strict';

  const MINUTE = 60 * 1000;
  const HOUR = 60 * MINUTE;
  const DAY = 24 * HOUR;

  const dateFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', year: 'numeric' });
  const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });

  // ago mirrors ago in render.go.
  function ago(date, now) {
    const d = now - date.getTime();
    if (d < MINUTE) return 'just now';
    if (d < HOUR) return Math.floor(d / MINUTE) + ' min ago';
    if (d < DAY) return Math.floor(d / HOUR) + ' h ago';
    if (d < 2 * DAY) return '1 day ago';
    if (d < 7 * DAY) return Math.floor(d / DAY) + ' days ago';
    return dateFormat.format(date);
  }

  function refresh() {
    const now = Date.now();
    for (const el of document.querySelectorAll('time[data-ago]')) {
      const date = new Date(el.getAttribute('datetime') || '');
      if (Number.isNaN(date.getTime())) continue;
      const text = ago(date, now);
      if (el.textContent !== text) el.textContent = text;
      el.title = fullFormat.format(date);
    }
  }

  document.addEventListener('submit', (e) => {
    if (!(e.target instanceof HTMLFormElement) || !e.target.matches('.logout-form')) return;
    try {
      for (const key of Object.keys(localStorage)) {
        if (key.startsWith('parley:')) localStorage.removeItem(key);
      }
    } catch {
      // Storage switched off: nothing was kept.
    }
  });

  document.addEventListener('click', (e) => {
    for (const menu of document.querySelectorAll('details.nav-menu[open]')) {
      if (!menu.contains(e.target)) menu.open = false;
    }
  });
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    const menu = e.target instanceof Element ? e.target.closest('details.nav-menu[open]') : null;
    if (!menu) return;
    menu.open = false;
    menu.querySelector('summary').focus();
  });

  // typing reports whether keys pressed at el go into text.
  function typing(el) {
    if (!(el instanceof Element)) return false;
    if (el.isContentEditable) return true;
    if (el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement) return true;
    if (!(el instanceof HTMLInputElement)) return false;
    return !['button', 'checkbox', 'radio', 'submit', 'reset', 'file', 'image', 'color', 'range'].includes(el.type);
  }

  document.addEventListener('keydown', (e) => {
    if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey || e.isComposing || e.defaultPrevented) return;
    if (typing(e.target)) return;
    const header = document.getElementById('header-search-q');
    if (!header) return; // a visitor's page: nothing to search
    const box = document.getElementById('search-q') || header; // the search page's own box first
    e.preventDefault();
    if (box.offsetParent !== null) {
      box.focus();
      box.select();
    } else {
      window.location.assign('/search/');
    }
  });

  refresh();
  // Every 30 s is often enough for minute-granularity text.
  setInterval(refresh, 30 * 1000);
  document.addEventListener('parley:times', refresh);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') refresh();
  });
})();
