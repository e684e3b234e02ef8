// accessbot web chat. Plain JavaScript, no build step, no framework. Everything shown comes from
// the server as data and reaches the page through textContent: nothing is parsed as HTML.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const base = new URL('./', document.baseURI);
  const url = (path) => new URL(path, base).toString();

  const ui = {
    as: $('as'), role: $('as-role'), status: $('status'),
    dms: $('dms'), channels: $('channels'),
    chanName: $('chan-name'), chanTopic: $('chan-topic'),
    // messages is the log that scrolls; messageList the list inside it, one item a message.
    messages: $('messages'), messageList: $('message-list'), composer: $('composer'), input: $('composer-input'),
    dialog: $('form-dialog'), dialogForm: $('dialog-form'), formTitle: $('form-title'),
    formInputs: $('form-inputs'), formError: $('form-error'), formSubmit: $('form-submit'),
    formCancel: $('form-cancel'),
  };

  const params = new URLSearchParams(location.search);
  const st = {
    me: params.get('as') || '',
    current: params.get('ch') || '',
    people: [],
    channels: [],
    messages: new Map(), // id -> message
    unread: new Map(), // channel -> count
    form: null, // the open form and the channel it belongs to
    history: [],
    historyAt: 0,
  };
  let events = null;
  let retryTimer = 0;

  // el builds an element; strings among children become text nodes.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      e.append(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return e;
  }

  // inline renders text with `backticks` as code.
  function inline(text) {
    const frag = document.createDocumentFragment();
    String(text).split('`').forEach((part, i) => {
      if (part === '') return;
      frag.append(i % 2 === 1 ? el('code', { text: part }) : document.createTextNode(part));
    });
    return frag;
  }

  function person(id) {
    return st.people.find((p) => p.id === id);
  }

  function setStatus(state, text) {
    ui.status.dataset.state = state;
    ui.status.textContent = text;
  }

  let noticeTimer = 0;
  function notice(text) {
    setStatus('error', text);
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => {
      if (events && events.readyState === EventSource.OPEN) setStatus('live', 'live');
    }, 6000);
  }

  function saveLocation() {
    const p = new URLSearchParams();
    p.set('as', st.me);
    if (st.current) p.set('ch', st.current);
    history.replaceState(null, '', '?' + p.toString());
  }

  // ---- the server ----

  async function post(path, body) {
    let resp;
    try {
      resp = await fetch(url(path), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        credentials: 'same-origin',
      });
    } catch (err) {
      throw new Error('accessbot is not reachable');
    }
    let data = {};
    try {
      data = await resp.json();
    } catch (err) {
      data = {};
    }
    if (!resp.ok) throw new Error(data.error || resp.statusText || 'request refused');
    return data;
  }

  function connect() {
    clearTimeout(retryTimer);
    if (events) events.close();
    setStatus('connecting', 'connecting…');
    const es = new EventSource(url('api/events?as=' + encodeURIComponent(st.me)));
    events = es;
    es.addEventListener('state', (e) => {
      applyState(JSON.parse(e.data));
      setStatus('live', 'live');
    });
    es.addEventListener('message', (e) => upsert(JSON.parse(e.data), true));
    es.onerror = () => {
      if (events !== es) return;
      setStatus('connecting', 'reconnecting…');
      if (es.readyState === EventSource.CLOSED) reconnectUnlessLockedOut(es);
    };
  }

  // reconnectUnlessLockedOut retries a refused stream in two seconds, unless the server refuses
  // this page for good: accessbot restarted with a new token, so only its new link gets in.
  async function reconnectUnlessLockedOut(es) {
    let status = 0;
    try {
      status = (await fetch(url('api/state?as=' + encodeURIComponent(st.me)), { credentials: 'same-origin' })).status;
    } catch (err) {
      status = 0;
    }
    if (events !== es) return;
    if (status === 403) {
      setStatus('error', 'locked out: open the link accessbot printed or logged at its start (it carries a new token)');
      return;
    }
    retryTimer = setTimeout(connect, 2000);
  }

  // ---- state ----

  function applyState(s) {
    st.people = s.people;
    st.me = s.me.id;
    st.channels = s.channels;
    st.messages = new Map();
    for (const m of s.messages) st.messages.set(m.id, m);
    if (!st.channels.some((c) => c.id === st.current)) st.current = st.channels[0].id;
    renderPeople();
    renderChannels();
    renderMessages();
    saveLocation();
  }

  function upsert(m, live) {
    const old = st.messages.get(m.id);
    if (old && old.seq >= m.seq) return;
    st.messages.set(m.id, m);
    if (m.channel === st.current) {
      const log = ui.messages;
      const list = ui.messageList;
      const stick = log.scrollHeight - log.scrollTop - log.clientHeight < 80 || m.from === st.me;
      const node = renderMessage(m);
      const existing = list.querySelector(`[data-id="${CSS.escape(m.id)}"]`);
      if (existing) {
        // Keep a keyboard user's place: focus the same button in the new message, if it is
        // still there, else the message box.
        const focused = existing.contains(document.activeElement) ? document.activeElement : null;
        existing.replaceWith(node);
        if (focused) {
          const again = focused.dataset.action && node.querySelector(`button[data-action="${CSS.escape(focused.dataset.action)}"]`);
          (again || ui.input).focus();
        }
      } else {
        const empty = list.querySelector('.empty');
        if (empty) empty.remove();
        list.append(node);
      }
      if (stick) node.scrollIntoView({ block: 'end' });
    } else if (live && !old && m.from !== st.me) {
      st.unread.set(m.channel, Math.floor(st.unread.get(m.channel) || 0) + 1);
      renderChannels();
    } else if (live && old) {
      // An update elsewhere: mark the channel without counting a new message.
      if (!st.unread.get(m.channel)) st.unread.set(m.channel, 0.5);
      renderChannels();
    }
  }

  // ---- rendering ----

  function renderPeople() {
    ui.as.replaceChildren(...st.people.map((p) => el('option', {
      value: p.id, selected: p.id === st.me,
    }, p.role ? `${p.name} (${p.role})` : p.name)));
    const me = person(st.me);
    ui.role.textContent = me ? me.email : '';
    document.title = `${me ? me.name : ''} · accessbot web chat`;
  }

  function renderChannels() {
    const item = (c) => {
      const count = st.unread.get(c.id) || 0;
      const label = c.dm ? c.name : '#' + c.name;
      const btn = el('button', {
        type: 'button', class: 'chan', 'data-channel': c.id,
        'aria-current': c.id === st.current ? 'page' : false,
      }, el('span', { class: 'chan-name', text: label }));
      if (count >= 1) {
        btn.append(el('span', { class: 'badge', text: String(count) }),
          el('span', { class: 'visually-hidden', text: ` (${count} new)` }));
      } else if (count > 0) {
        btn.append(el('span', { class: 'dot', 'aria-hidden': 'true' }),
          el('span', { class: 'visually-hidden', text: ' (updated)' }));
      }
      btn.addEventListener('click', () => selectChannel(c.id));
      return el('li', {}, btn);
    };
    ui.dms.replaceChildren(...st.channels.filter((c) => c.dm).map(item));
    ui.channels.replaceChildren(...st.channels.filter((c) => !c.dm).map(item));
  }

  function selectChannel(id) {
    st.current = id;
    st.unread.delete(id);
    renderChannels();
    renderMessages();
    saveLocation();
    ui.input.focus();
  }

  function renderMessages() {
    const c = st.channels.find((x) => x.id === st.current);
    ui.chanName.textContent = c ? (c.dm ? 'accessbot' : '#' + c.name) : '';
    ui.chanTopic.textContent = c ? c.topic : '';
    const list = [...st.messages.values()]
      .filter((m) => m.channel === st.current)
      .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    if (list.length === 0) {
      ui.messageList.replaceChildren(el('li', { class: 'empty' },
        c && c.dm ? 'Nothing here yet. Type ' : 'No messages in this channel yet. ',
        c && c.dm ? el('code', { text: '/access help' }) : '',
        c && c.dm ? ' below to start.' : ''));
      return;
    }
    ui.messageList.replaceChildren(...list.map(renderMessage));
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  // clock writes a message's time as every text of accessbot writes times: 24-hour, in UTC
  // ("15:04 UTC"), whatever the browser's locale and time zone.
  function clock(iso) {
    const d = new Date(iso);
    return isNaN(d) ? '' : d.toISOString().slice(11, 16) + ' UTC';
  }

  function renderMessage(m) {
    const from = m.from ? person(m.from) : null;
    const who = m.from ? (from ? from.name : m.from) : 'accessbot';
    const meta = el('div', { class: 'meta' },
      el('span', { class: 'who', text: who }),
      m.from ? null : el('span', { class: 'tag', text: 'APP' }),
      el('time', { datetime: m.at, text: clock(m.at) }),
      m.edited ? el('span', { class: 'edited', text: '(updated)' }) : null,
      m.to ? el('span', { class: 'private', text: 'Only visible to you' }) : null);
    const li = el('li', {
      class: 'msg' + (m.to ? ' is-private' : '') + (m.from ? ' is-person' : ''),
      'data-id': m.id, 'data-channel': m.channel,
    }, meta);
    if (m.text) li.append(el('p', { class: 'typed' }, el('code', { text: m.text })));
    if (m.view) li.append(renderView(m.view, m));
    return li;
  }

  const toneNames = {
    pending: 'Waiting', success: 'Done', warning: 'Warning', danger: 'Problem', neutral: 'Information',
  };

  function renderView(v, m) {
    const tone = toneNames[v.tone] ? v.tone : 'neutral';
    const card = el('div', { class: 'card tone-' + tone, 'data-tone': tone });
    card.append(el('p', { class: 'title' },
      el('span', { class: 'visually-hidden', text: toneNames[tone] + ': ' }),
      inline(v.title || '')));
    if (v.text) {
      for (const para of String(v.text).split(/\n{2,}/)) card.append(el('p', { class: 'text' }, inline(para)));
    }
    if (v.fields && v.fields.length) {
      const dl = el('dl', { class: 'fields' });
      for (const f of v.fields) {
        dl.append(el('div', { class: 'field' }, el('dt', {}, inline(f.label)), el('dd', {}, inline(f.value))));
      }
      card.append(dl);
    }
    if (v.secret) {
      // A credential shows as it is: textContent, never parsed for code marks, and a <pre>
      // keeps its lines and indentation (a kubeconfig is YAML). Copy puts the exact value on
      // the clipboard, which a selection may not (browsers leave out a final line break).
      const copy = el('button', { type: 'button', class: 'btn secret-copy' }, 'Copy');
      copy.addEventListener('click', async () => {
        try {
          await navigator.clipboard.writeText(v.secret.value);
          copy.textContent = 'Copied';
        } catch (e) {
          notice('Could not copy: select the text and copy it instead.');
        }
      });
      card.append(el('div', { class: 'secret' },
        el('p', { class: 'secret-label', text: v.secret.label || 'Secret' }),
        el('pre', { class: 'secret-value', tabindex: '0', text: v.secret.value }),
        el('div', { class: 'buttons' }, copy)));
    }
    if (v.buttons && v.buttons.length) {
      const row = el('div', { class: 'buttons' });
      for (const b of v.buttons) {
        const btn = el('button', {
          type: 'button', class: 'btn' + (b.style ? ' ' + b.style : ''),
          'data-action': b.action_id, 'data-value': b.value,
        }, b.label);
        btn.addEventListener('click', () => click(btn, m, b));
        row.append(btn);
      }
      card.append(row);
    }
    if (v.notify && v.notify.length) {
      // The people the message calls on (person IDs: emails): a mention for each, by the name
      // the switcher knows them by, marked when it is the person looking.
      const line = el('p', { class: 'notify' }, 'Calling on: ');
      v.notify.forEach((id, i) => {
        const p = st.people.find((q) => (q.email || '').toLowerCase() === id);
        const mine = p && p.id === st.me;
        if (i > 0) line.append(' ');
        line.append(el('span', { class: 'mention' + (mine ? ' me' : ''), text: '@' + (p ? p.name : id) }));
      });
      card.append(line);
    }
    if (v.footer) card.append(el('p', { class: 'footer' }, inline(v.footer)));
    return card;
  }

  // ---- actions ----

  async function click(btn, m, b) {
    // Busy rather than disabled: a disabled button would lose the keyboard focus.
    if (btn.getAttribute('aria-busy') === 'true') return;
    btn.setAttribute('aria-busy', 'true');
    try {
      const a = await post('api/action', { as: st.me, channel: m.channel, action: b.action_id, value: b.value });
      handleAnswer(a, m.channel);
    } catch (err) {
      notice('Could not do that: ' + err.message);
    } finally {
      btn.removeAttribute('aria-busy');
    }
  }

  function handleAnswer(a, channel) {
    if (a.message) upsert(a.message, false);
    if (a.form) openForm(a.form, channel);
  }

  async function send(text) {
    try {
      const a = await post('api/command', { as: st.me, channel: st.current, text });
      handleAnswer(a, st.current);
    } catch (err) {
      notice('Could not send: ' + err.message);
    }
  }

  ui.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = ui.input.value.trim();
    if (!text) return;
    st.history.push(text);
    st.historyAt = st.history.length;
    ui.input.value = '';
    send(text);
  });

  ui.input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowUp' && st.historyAt > 0 && (ui.input.value === '' || ui.input.value === st.history[st.historyAt])) {
      e.preventDefault();
      st.historyAt--;
      ui.input.value = st.history[st.historyAt];
    } else if (e.key === 'ArrowDown' && st.historyAt < st.history.length && ui.input.value === st.history[st.historyAt]) {
      e.preventDefault();
      st.historyAt++;
      ui.input.value = st.history[st.historyAt] || '';
    }
  });

  ui.as.addEventListener('change', () => {
    const was = st.channels.find((c) => c.id === st.current);
    st.me = ui.as.value;
    if (!was || was.dm) st.current = 'dm:' + st.me;
    st.unread.clear();
    closeForm();
    connect();
  });

  // ---- forms ----

  function openForm(f, channel) {
    st.form = { f, channel };
    ui.formTitle.textContent = f.title;
    ui.formSubmit.textContent = f.submit || 'Submit';
    ui.formError.textContent = '';
    const parts = [];
    for (const input of f.inputs || []) {
      const id = 'in-' + input.id;
      const describedBy = [];
      let control;
      if (input.kind === 'select') {
        control = el('select', { id, name: input.id, required: !input.optional });
        if (!input.initial) control.append(el('option', { value: '', text: 'Choose…' }));
        for (const o of input.options || []) {
          control.append(el('option', { value: o.value, selected: o.value === input.initial, text: o.label }));
        }
      } else if (input.kind === 'long') {
        control = el('textarea', { id, name: input.id, rows: 3, placeholder: input.placeholder, maxlength: 4000 });
        control.value = input.initial || '';
      } else {
        control = el('input', { id, name: input.id, type: 'text', placeholder: input.placeholder, maxlength: 4000 });
        control.value = input.initial || '';
      }
      const hint = input.hint ? el('p', { class: 'hint', id: id + '-hint', text: input.hint }) : null;
      if (hint) describedBy.push(hint.id);
      const error = el('p', { class: 'input-error', id: id + '-error', 'data-error-for': input.id });
      describedBy.push(error.id);
      control.setAttribute('aria-describedby', describedBy.join(' '));
      parts.push(el('div', { class: 'input' },
        el('label', { for: id }, input.label, input.optional ? el('span', { class: 'optional', text: ' (optional)' }) : null),
        control, hint, error));
    }
    ui.formInputs.replaceChildren(...parts);
    if (!ui.dialog.open) ui.dialog.showModal();
    const first = ui.formInputs.querySelector('input, select, textarea');
    if (first) first.focus();
  }

  function closeForm() {
    st.form = null;
    if (ui.dialog.open) ui.dialog.close();
  }

  ui.formCancel.addEventListener('click', closeForm);
  ui.dialog.addEventListener('close', () => { st.form = null; ui.input.focus(); });

  ui.dialogForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!st.form) return;
    const { f, channel } = st.form;
    const inputs = {};
    for (const input of f.inputs || []) {
      const c = ui.formInputs.querySelector(`[name="${CSS.escape(input.id)}"]`);
      if (c) inputs[input.id] = c.value;
    }
    for (const p of ui.formInputs.querySelectorAll('.input-error')) p.textContent = '';
    ui.formError.textContent = '';
    ui.formSubmit.disabled = true;
    try {
      const a = await post('api/action', {
        as: st.me, channel, action: 'submit', form: f.id, value: f.value || '', inputs,
      });
      if (a.errors) {
        let first = null;
        for (const [id, msg] of Object.entries(a.errors)) {
          const p = ui.formInputs.querySelector(`[data-error-for="${CSS.escape(id)}"]`);
          if (p) {
            p.textContent = msg;
            first = first || ui.formInputs.querySelector(`[name="${CSS.escape(id)}"]`);
          } else {
            ui.formError.textContent = msg;
          }
        }
        if (first) first.focus();
        return;
      }
      closeForm();
      handleAnswer(a, channel);
    } catch (err) {
      ui.formError.textContent = 'Could not send the form: ' + err.message;
    } finally {
      ui.formSubmit.disabled = false;
    }
  });

  // ---- start ----

  connect();
  ui.input.focus();
})();
