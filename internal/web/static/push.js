// Parley: Web Push on this device (templates/push.html).
//
// Nothing is asked on load: the browser's permission prompt comes only
// from the "Enable push on this device" button. Enabling registers the
// service worker (/sw.js), subscribes with the server's VAPID public key
// (GET /api/v1/push/key) and hands the subscription to the server
// (POST /api/v1/push/subscriptions). "Send a test notification" asks the
// server to push to every device of the user now; "Remove" forgets one.
(() => {
  'use strict';

  const panel = document.querySelector('[data-push]');
  if (!panel) return;
  const enable = panel.querySelector('[data-push-enable]');
  const test = panel.querySelector('[data-push-test]');
  const status = panel.querySelector('[data-push-status]');
  const list = panel.querySelector('[data-push-devices]');
  const none = panel.querySelector('[data-push-none]');

  const say = (text) => { status.textContent = text; };
  const SUBSCRIBE_TIMEOUT = 10000;
  const supported = 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;

  // api calls the JSON API with the session cookie; it throws an Error
  // with the server's message when the answer is not 2xx.
  async function api(method, path, body) {
    const res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    if (res.status === 204) return null;
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new Error((data && data.error && data.error.message) || 'The server answered ' + res.status + '.');
    return data;
  }

  // The VAPID key is base64url; pushManager.subscribe takes its bytes.
  function keyBytes(b64url) {
    const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (b64url.length % 4)) % 4);
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  }

  async function registration() {
    await navigator.serviceWorker.register('/sw.js', { scope: '/' });
    return navigator.serviceWorker.ready;
  }

  // current is this device's subscription, if it has one; it asks nothing.
  async function current() {
    if (!supported) return null;
    const reg = await navigator.serviceWorker.getRegistration('/');
    return reg ? reg.pushManager.getSubscription() : null;
  }

  function showDevices() {
    const rows = list.querySelectorAll('.device-row');
    none.hidden = rows.length > 0;
    test.disabled = rows.length === 0;
  }

  function addDevice(d, mine) {
    for (const row of list.querySelectorAll('.device-row')) {
      if (row.dataset.endpoint === d.endpoint) row.remove();
    }
    const li = document.createElement('li');
    li.className = 'device-row';
    li.dataset.endpoint = d.endpoint;
    const main = document.createElement('span');
    main.className = 'device-main';
    const name = document.createElement('span');
    name.className = 'device-name';
    name.textContent = d.user_agent + (mine ? ' (this device)' : '');
    const meta = document.createElement('span');
    meta.className = 'device-meta';
    meta.textContent = 'added just now';
    main.append(name, meta);
    const remove = document.createElement('button');
    remove.className = 'btn btn-ghost btn-sm';
    remove.type = 'button';
    remove.dataset.pushRemove = '';
    remove.setAttribute('aria-label', 'Remove ' + d.user_agent);
    remove.textContent = 'Remove';
    li.append(main, remove);
    list.prepend(li);
    showDevices();
  }

  async function markThisDevice() {
    const sub = await current().catch(() => null);
    if (!sub) return;
    for (const row of list.querySelectorAll('.device-row')) {
      if (row.dataset.endpoint === sub.endpoint) {
        const name = row.querySelector('.device-name');
        if (!name.textContent.endsWith('(this device)')) name.textContent += ' (this device)';
        enable.textContent = 'Push is on for this device';
      }
    }
  }

  enable.addEventListener('click', async () => {
    if (!supported) {
      say('This browser cannot take push notifications.');
      return;
    }
    enable.disabled = true;
    try {
      const permission = await Notification.requestPermission();
      if (permission !== 'granted') {
        say('Notifications are blocked for this site: allow them in the browser\'s site settings, then try again.');
        return;
      }
      say('Enabling…');
      const reg = await registration();
      const { public_key: key } = await api('GET', '/api/v1/push/key');
      let sub = await reg.pushManager.getSubscription();
      if (sub) {
        // A subscription made with another server key cannot be used.
        const old = sub.options && sub.options.applicationServerKey;
        if (old && btoa(String.fromCharCode(...new Uint8Array(old))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '') !== key) {
          await sub.unsubscribe();
          sub = null;
        }
      }
      if (!sub) {
        // A browser whose push service cannot be reached may never answer.
        sub = await Promise.race([
          reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) }),
          new Promise((_, reject) => setTimeout(() => reject(new Error('the browser\'s push service did not answer; try again later.')), SUBSCRIBE_TIMEOUT)),
        ]);
      }
      const device = await api('POST', '/api/v1/push/subscriptions', sub.toJSON());
      addDevice(device, true);
      enable.textContent = 'Push is on for this device';
      say('Push notifications are on for this device.');
    } catch (err) {
      say('Could not enable push: ' + err.message);
    } finally {
      enable.disabled = false;
    }
  });

  test.addEventListener('click', async () => {
    test.disabled = true;
    say('Sending…');
    try {
      const r = await api('POST', '/api/v1/push/test');
      let text = 'Sent to ' + r.sent + ' of ' + r.devices + (r.devices === 1 ? ' device.' : ' devices.');
      if (r.gone > 0) text += ' ' + r.gone + ' no longer subscribed, removed.';
      if (r.failed > 0) text += ' ' + r.failed + ' failed.';
      say(text);
    } catch (err) {
      say('Could not send: ' + err.message);
    } finally {
      showDevices();
    }
  });

  list.addEventListener('click', async (e) => {
    const button = e.target.closest('[data-push-remove]');
    if (!button) return;
    const row = button.closest('.device-row');
    button.disabled = true;
    try {
      await api('DELETE', '/api/v1/push/subscriptions', { endpoint: row.dataset.endpoint });
      const sub = await current().catch(() => null);
      if (sub && sub.endpoint === row.dataset.endpoint) {
        await sub.unsubscribe();
        enable.textContent = 'Enable push on this device';
      }
      row.remove();
      say('Device removed.');
    } catch (err) {
      button.disabled = false;
      say('Could not remove it: ' + err.message);
    } finally {
      showDevices();
    }
  });

  if (!supported) say('This browser cannot take push notifications.');
  markThisDevice();
})();
