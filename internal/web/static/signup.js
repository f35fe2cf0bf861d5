// Parley: the sign-up form (/signup/), sent without leaving the page.
//
// The server checks every field at once and answers with the form again,
// saying what to fix; it never sends a password back. Sent from here, the
// answer's form takes the place of this one, and the passwords typed stay
// where they were right: only a field the server found wrong is emptied.
// The focus goes to the first field to fix. Without this script the form
// works the same, less the passwords kept.
(() => {
  'use strict';

  let busy = false;

  document.addEventListener('submit', async (e) => {
    const form = e.target;
    if (!(form instanceof HTMLFormElement) || form.id !== 'signup-form') return;
    e.preventDefault();
    if (busy) return;
    busy = true;
    const button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    const typed = {
      password1: form.elements.password1.value,
      password2: form.elements.password2.value,
    };
    let res;
    let html = '';
    try {
      res = await fetch(form.action, {
        method: 'POST',
        body: new URLSearchParams(new FormData(form)),
        credentials: 'same-origin',
        headers: { Accept: 'text/html' },
        // Not followed here: the page it leads to is for the browser to
        // open, once.
        redirect: 'manual',
      });
      if (res.type === 'opaqueredirect') {
        // Signed up: on to where the server sends new accounts, the form's
        // next (which the server checked before putting it in the form).
        location.assign(form.elements.next?.value || '/');
        return;
      }
      html = await res.text();
    } catch {
      res = null;
    }
    busy = false;
    const card = document.getElementById('signup-card');
    const answer = res && new DOMParser().parseFromString(html, 'text/html').getElementById('signup-card');
    if (!answer || !card) {
      // Not the form again (the server is away, or answered with another
      // page): send it the plain way, and show whatever comes back.
      form.submit();
      return;
    }
    const fresh = document.adoptNode(answer);
    const bad = (name) => fresh.querySelector('[name="' + name + '"]')?.getAttribute('aria-invalid') === 'true';
    // The confirmation means nothing once the password itself must change.
    const keep1 = !bad('password1');
    const keep2 = keep1 && !bad('password2');
    if (keep1) fresh.querySelector('[name="password1"]').value = typed.password1;
    if (keep2) fresh.querySelector('[name="password2"]').value = typed.password2;
    card.replaceWith(fresh);
    const first = fresh.querySelector('input[aria-invalid="true"]') || fresh.querySelector('input[autofocus]');
    if (first) first.focus();
  });
})();
