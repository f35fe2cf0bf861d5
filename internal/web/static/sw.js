// Parley's service worker (served at /sw.js, scope /): shows the Web Push
// notifications of mentions and direct messages, and opens the room at
// that message when one is clicked. The payload is the server's
// pushPayload (internal/web/push.go): {title, body, url, room, seq, tag}.
'use strict';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

// sameSite keeps a notification's link on this site, whatever a payload
// says.
function sameSite(url) {
  try {
    const u = new URL(url || '/', self.location.origin);
    return u.origin === self.location.origin ? u.href : self.location.origin + '/';
  } catch {
    return self.location.origin + '/';
  }
}

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { body: event.data ? event.data.text() : '' };
  }
  const title = data.title || 'Parley';
  const options = {
    body: data.body || '',
    icon: '/static/icon-192.png',
    badge: '/static/icon-192.png',
    // One notification per room: a newer one replaces it.
    tag: data.tag || (data.room ? 'room-' + data.room : 'parley'),
    renotify: true,
    data: { url: sameSite(data.url), room: data.room, seq: data.seq },
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = sameSite(event.notification.data && event.notification.data.url);
  event.waitUntil((async () => {
    const wins = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const target = new URL(url);
    // A tab already on that room is focused and taken to the message;
    // otherwise a new one opens.
    for (const w of wins) {
      const at = new URL(w.url);
      if (at.origin === target.origin && at.pathname === target.pathname) {
        await w.focus();
        // navigate works only on a page this worker controls; focused, the
        // tab is where it should be anyway.
        if (at.href !== target.href && 'navigate' in w) await w.navigate(target.href).catch(() => {});
        return;
      }
    }
    await self.clients.openWindow(target.href);
  })());
});
