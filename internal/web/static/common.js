// Parley: helpers every page may load.
//
// Keeps <time data-ago datetime="…"> elements saying how long ago they were
// ("5 min ago"), in the same words the server uses, and gives them the full
// local date as a tooltip. Other scripts that add such elements dispatch a
// "parley:times" event on document to have them filled in at once.
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

  refresh();
  // Every 30 s is often enough for minute-granularity text.
  setInterval(refresh, 30 * 1000);
  document.addEventListener('parley:times', refresh);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') refresh();
  });
})();
