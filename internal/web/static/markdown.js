// Parley: the Markdown subset messages are written in (docs/PROTOCOL.md,
// "Formatting"), rendered into DOM nodes.
//
// What it knows: **bold** (and __bold__), *italic* (and _italic_, not
// inside a word), ~~strike~~, `code`, fenced code blocks, > quotes, - and
// 1. lists, [links](https://…) to http, https and mailto only, web
// addresses linked as they stand, and @mentions of the users a message
// names. What it never does: interpret HTML. Every piece of the text
// reaches the page as a text node (textContent), every element is made
// here with createElement, and a link's address is parsed and checked
// before it becomes an href: so no content can add markup, a script or a
// javascript: link, whatever it holds.
//
// window.ParleyMarkdown.render(text, opts) returns a DocumentFragment;
// opts.mention(name) says whether @name is a mention to highlight (and
// returns a class to add, or '' for none).
(() => {
  'use strict';

  const MAX_DEPTH = 6;     // quotes in quotes, emphasis in emphasis
  const LIST_RE = /^( {0,3})([-*+]|\d{1,9}[.)]) +(.*)$/;
  const FENCE_RE = /^ {0,3}(`{3,}|~{3,})(.*)$/;
  const QUOTE_RE = /^ {0,3}> ?(.*)$/;
  // http(s) addresses and those starting with "www.": URL_RE in room.js.
  const URL_RE = /\b(?:https?:\/\/|www\.)[^\s<>"]+/gi;
  const MENTION_RE = /(^|[^A-Za-z0-9@.+\-_])@([A-Za-z0-9@.+\-_]+)/g;
  const PUNCT = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

  function el(tag, className) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    return node;
  }

  // ---------- Blocks ----------

  function render(text, opts) {
    const frag = document.createDocumentFragment();
    const blocks = parseBlocks(String(text).replace(/\r\n?/g, '\n').split('\n'), 0);
    // A message of one paragraph (most of them) is its inline text alone,
    // with no element around it: its text is the message's, new lines
    // and all.
    if (blocks.length === 1 && blocks[0].type === 'p') {
      inline(frag, blocks[0].text, opts || {}, 0);
      return frag;
    }
    for (const b of blocks) frag.append(block(b, opts || {}, 0));
    return frag;
  }

  // parseBlocks splits lines into paragraphs, code blocks, quotes and
  // lists. A fence left open runs to the end of the message.
  function parseBlocks(lines, depth) {
    const out = [];
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      if (line.trim() === '') {
        i++;
        continue;
      }
      const fence = FENCE_RE.exec(line);
      if (fence && !(fence[1][0] === '`' && fence[2].includes('`'))) {
        const code = [];
        i++;
        while (i < lines.length && !new RegExp('^ {0,3}' + fence[1][0] + '{' + fence[1].length + ',}\\s*$').test(lines[i])) {
          code.push(lines[i]);
          i++;
        }
        i++; // the closing fence, if there is one
        out.push({ type: 'code', text: code.join('\n'), lang: fence[2].trim() });
        continue;
      }
      if (depth < MAX_DEPTH && QUOTE_RE.test(line)) {
        const inner = [];
        while (i < lines.length && QUOTE_RE.test(lines[i])) {
          inner.push(QUOTE_RE.exec(lines[i])[1]);
          i++;
        }
        out.push({ type: 'quote', blocks: parseBlocks(inner, depth + 1) });
        continue;
      }
      const item = LIST_RE.exec(line);
      if (item) {
        const ordered = /\d/.test(item[2]);
        const list = { type: ordered ? 'ol' : 'ul', start: ordered ? Number.parseInt(item[2], 10) : 1, items: [] };
        while (i < lines.length) {
          const m = LIST_RE.exec(lines[i]);
          if (m && /\d/.test(m[2]) === ordered) {
            list.items.push(m[3]);
          } else if (list.items.length && /^ {2,}\S/.test(lines[i])) {
            list.items[list.items.length - 1] += '\n' + lines[i].trim();
          } else {
            break;
          }
          i++;
        }
        out.push(list);
        continue;
      }
      const para = [];
      while (i < lines.length && lines[i].trim() !== '' && !startsBlock(lines[i], depth)) {
        para.push(lines[i]);
        i++;
      }
      if (para.length === 0) { // a line that starts a block the checks above turned down
        para.push(lines[i]);
        i++;
      }
      out.push({ type: 'p', text: para.join('\n') });
    }
    return out;
  }

  function startsBlock(line, depth) {
    return FENCE_RE.test(line) || (depth < MAX_DEPTH && QUOTE_RE.test(line)) || LIST_RE.test(line);
  }

  function block(b, opts, depth) {
    switch (b.type) {
      case 'code': {
        const pre = el('pre', 'md-pre');
        const code = el('code');
        code.textContent = b.text;
        pre.append(code);
        return pre;
      }
      case 'quote': {
        const q = el('blockquote', 'md-quote');
        for (const inner of b.blocks) q.append(block(inner, opts, depth + 1));
        return q;
      }
      case 'ul':
      case 'ol': {
        const list = el(b.type, 'md-list');
        if (b.type === 'ol' && b.start !== 1) list.start = b.start;
        for (const text of b.items) {
          const li = el('li');
          inline(li, text, opts, 0);
          list.append(li);
        }
        return list;
      }
      default: {
        const p = el('p', 'md-p');
        inline(p, b.text, opts, 0);
        return p;
      }
    }
  }

  // ---------- Inline ----------

  // inline appends text to parent, with its emphasis, code, links,
  // addresses and mentions. Plain runs collect in buf and go out as text.
  function inline(parent, text, opts, depth) {
    let buf = '';
    const flush = () => {
      if (buf) plain(parent, buf, opts);
      buf = '';
    };
    let i = 0;
    while (i < text.length) {
      const c = text[i];
      if (c === '\\' && i + 1 < text.length && PUNCT.includes(text[i + 1])) {
        buf += text[i + 1];
        i += 2;
        continue;
      }
      if (c === '`') {
        const run = runOf(text, i, '`');
        const close = text.indexOf('`'.repeat(run), i + run);
        if (close > i + run - 1 && runOf(text, close, '`') === run) {
          flush();
          const code = el('code', 'md-code');
          let inner = text.slice(i + run, close);
          if (inner.length > 2 && inner.startsWith(' ') && inner.endsWith(' ')) inner = inner.slice(1, -1);
          code.textContent = inner;
          parent.append(code);
          i = close + run;
          continue;
        }
        buf += '`'.repeat(run); // no closing run: literal backticks
        i += run;
        continue;
      }
      if (depth < MAX_DEPTH && (c === '*' || c === '_' || c === '~')) {
        const span = emphasis(text, i);
        if (span) {
          flush();
          const node = el(span.tag, 'md-' + span.tag);
          let target = node;
          if (span.both) {
            target = el('em', 'md-em');
            node.append(target);
          }
          inline(target, text.slice(span.start, span.end), opts, depth + 1);
          parent.append(node);
          i = span.next;
          continue;
        }
        const run = runOf(text, i, c);
        buf += c.repeat(run);
        i += run;
        continue;
      }
      if (c === '[' && !opts.noLinks) {
        const l = linkAt(text, i);
        if (l) {
          flush();
          const a = anchor(l.href);
          inline(a, l.label, { ...opts, noLinks: true }, depth + 1);
          parent.append(a);
          i = l.next;
          continue;
        }
      }
      buf += c;
      i++;
    }
    flush();
  }

  function runOf(text, i, c) {
    let n = 0;
    while (text[i + n] === c) n++;
    return n;
  }

  const isSpace = (c) => c === undefined || /\s/.test(c);
  const isWord = (c) => c !== undefined && /[\p{L}\p{N}]/u.test(c);

  // emphasis finds the span that the delimiter run at i opens: ** or __
  // (strong), * or _ (em), *** (both), ~~ (del). It opens only before a
  // non-space, closes only after one, and _ never inside a word, so that
  // snake_case_names and 2*3*4 stay as they are. Returns null for none.
  function emphasis(text, i) {
    const c = text[i];
    const run = runOf(text, i, c);
    let len;
    if (c === '~') {
      if (run !== 2) return null;
      len = 2;
    } else {
      len = Math.min(run, 3);
    }
    if (run !== len) return null;
    const start = i + len;
    if (isSpace(text[start])) return null;
    if (c === '_' && isWord(text[i - 1])) return null;
    for (let j = start + 1; j < text.length; j++) {
      if (text[j] === '`') { // a code span inside: its delimiters are text
        const r = runOf(text, j, '`');
        const close = text.indexOf('`'.repeat(r), j + r);
        if (close > 0) j = close + r - 1;
        continue;
      }
      if (text[j] === '\\') {
        j++;
        continue;
      }
      if (text[j] !== c) continue;
      const r = runOf(text, j, c);
      if (r === len && !isSpace(text[j - 1]) && !(c === '_' && isWord(text[j + r]))) {
        const tag = c === '~' ? 'del' : len === 1 ? 'em' : 'strong';
        return { tag, both: len === 3, start, end: j, next: j + r };
      }
      j += r - 1; // a run of another length: part of something else
    }
    return null;
  }

  // linkAt reads [label](address) at i: null unless the address is one a
  // link may go to.
  function linkAt(text, i) {
    let depth = 0;
    let j = i;
    for (; j < text.length; j++) {
      if (text[j] === '\\') {
        j++;
        continue;
      }
      if (text[j] === '[') depth++;
      else if (text[j] === ']' && --depth === 0) break;
    }
    if (j >= text.length || text[j + 1] !== '(') return null;
    const label = text.slice(i + 1, j);
    let k = j + 2;
    let parens = 0;
    for (; k < text.length; k++) {
      if (text[k] === '(') parens++;
      else if (text[k] === ')') {
        if (parens === 0) break;
        parens--;
      } else if (/\s/.test(text[k])) {
        return null;
      }
    }
    if (k >= text.length || label.trim() === '') return null;
    const href = safeHref(text.slice(j + 2, k));
    return href ? { label, href, next: k + 1 } : null;
  }

  // safeHref is the address a link may have, or '' if it is anything but
  // http, https or mailto (javascript:, data:, relative addresses…).
  function safeHref(raw) {
    let u;
    try {
      u = new URL(/^www\./i.test(raw) ? 'https://' + raw : raw);
    } catch {
      return '';
    }
    if (u.protocol === 'http:' || u.protocol === 'https:' || u.protocol === 'mailto:') return u.href;
    return '';
  }

  function anchor(href) {
    const a = el('a');
    a.href = href;
    if (!href.startsWith('mailto:')) {
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
    }
    return a;
  }

  // plain appends text with its web addresses as links and its mentions
  // marked.
  function plain(parent, text, opts) {
    let last = 0;
    if (!opts.noLinks) {
      for (const m of text.matchAll(URL_RE)) {
        const url = trimURL(m[0]);
        const href = safeHref(url);
        if (!href) continue;
        if (m.index > last) mentions(parent, text.slice(last, m.index), opts);
        const a = anchor(href);
        a.textContent = url;
        parent.append(a);
        last = m.index + url.length;
      }
    }
    if (last < text.length) mentions(parent, text.slice(last), opts);
  }

  // trimURL drops punctuation that more likely ends the sentence than the
  // address (trimURL in room.js and timeline.go, the same rule).
  function trimURL(url) {
    const tally = (s, c) => s.split(c).length - 1;
    for (;;) {
      const c = url.at(-1);
      if (c !== undefined && (".,;:!?'*".includes(c) ||
          (c === ')' && tally(url, ')') > tally(url, '(')) ||
          (c === ']' && tally(url, ']') > tally(url, '[')))) {
        url = url.slice(0, -1);
        continue;
      }
      return url;
    }
  }

  // mentions appends text with each @name that opts.mention knows as a
  // mark: the server's rule (docs/PROTOCOL.md, "Mentions") drops trailing
  // punctuation until a name is left.
  function mentions(parent, text, opts) {
    if (typeof opts.mention !== 'function' || !text.includes('@')) {
      parent.append(text);
      return;
    }
    let last = 0;
    for (const m of text.matchAll(MENTION_RE)) {
      let name = m[2];
      let cls = opts.mention(name);
      while (cls === null && /[.+\-_@]$/.test(name)) {
        name = name.slice(0, -1);
        cls = opts.mention(name);
      }
      if (cls === null) continue;
      const at = m.index + m[1].length;
      if (at > last) parent.append(text.slice(last, at));
      const span = el('span', 'mention' + (cls ? ' ' + cls : ''));
      span.textContent = '@' + name;
      parent.append(span);
      last = at + 1 + name.length;
    }
    if (last < text.length) parent.append(text.slice(last));
  }

  window.ParleyMarkdown = { render, safeHref };
})();
