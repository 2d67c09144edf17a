// The Glimpse playground page: plain JavaScript, no build step, no dependencies.
// It talks to the web adapter (src/adapters/web): a session, its Server-Sent Events stream, and
// form posts for questions, stops and resets.

const $ = (id) => document.getElementById(id);

const elements = {
  transcript: $('transcript'),
  empty: $('empty'),
  dropzone: $('dropzone'),
  suggestions: $('suggestions'),
  composer: $('composer'),
  question: $('question'),
  send: $('send'),
  fileInput: $('file-input'),
  attachment: $('attachment'),
  attachmentPreview: $('attachment-preview'),
  attachmentName: $('attachment-name'),
  attachmentSize: $('attachment-size'),
  attachmentRemove: $('attachment-remove'),
  composerError: $('composer-error'),
  reset: $('reset'),
  status: $('status'),
  modelName: $('model-name'),
  dropOverlay: $('drop-overlay'),
};

const state = {
  /** {sessionId, conversationId, title, limits} */
  session: undefined,
  events: undefined,
  /** {file, url} */
  attachment: undefined,
  /** the message whose answer is on its way */
  activeMessageId: undefined,
  /** messageId → the assistant turn's elements */
  turns: new Map(),
  /** ids whose late events are dropped (they belonged to a conversation that was reset) */
  ignored: new Set(),
  /** ids that got a notice instead of an answer before their 202 came back */
  settled: new Set(),
};

// ---------------------------------------------------------------------------------------------
// Formatting

function formatBytes(bytes) {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${Math.max(1, Math.ceil(bytes / 1024))} KB`;
}

function formatMs(ms) {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.round(ms)} ms`;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---------------------------------------------------------------------------------------------
// Transcript

function scrollToEnd() {
  const { transcript } = elements;
  transcript.scrollTop = transcript.scrollHeight;
}

function hideEmptyState() {
  elements.empty.hidden = true;
}

function addNotice(text, kind = 'info') {
  const notice = element('div', `notice ${kind}`, text);
  notice.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  elements.transcript.append(notice);
  scrollToEnd();
  return notice;
}

function addUserTurn(text, imageUrl) {
  hideEmptyState();
  const turn = element('div', 'turn user');
  turn.dataset.state = 'sending';
  if (imageUrl) {
    const image = element('img', 'image');
    image.src = imageUrl;
    image.alt = 'Your image';
    turn.append(image);
  }
  turn.append(element('div', 'bubble', text));
  elements.transcript.append(turn);
  scrollToEnd();
  return turn;
}

/** The assistant turn answering `messageId`, created on first use (events may beat the 202). */
function turnFor(messageId) {
  let turn = state.turns.get(messageId);
  if (turn) return turn;
  hideEmptyState();
  const root = element('div', 'turn assistant');
  root.dataset.state = 'waiting';
  root.dataset.messageId = messageId;
  const notes = element('div', 'notes');
  const bubble = element('div', 'bubble');
  const typing = element('span', 'typing');
  typing.setAttribute('aria-label', 'Waiting for the answer');
  typing.append(element('span'), element('span'), element('span'));
  const text = element('span', 'answer-text');
  bubble.append(typing, text);
  root.append(notes, bubble);
  elements.transcript.append(root);
  turn = { root, notes, bubble, typing, text };
  state.turns.set(messageId, turn);
  scrollToEnd();
  return turn;
}

function addNote(turn, text, kind) {
  turn.notes.append(element('div', `note ${kind}`, text));
  scrollToEnd();
}

function renderTimings(turn, { usage, timings, interrupted }) {
  const details = element('details', 'meta');
  const summary = element('summary');
  if (interrupted) summary.append(element('span', 'tag', 'stopped'));
  summary.append(
    element('span', '', formatMs(timings.totalMs)),
    element('span', '', `first token ${formatMs(timings.timeToFirstTokenMs)}`),
    element('span', '', `${timings.decodeTokensPerSecond.toFixed(1)} tok/s`),
    element('span', '', `${usage.completionTokens} token${usage.completionTokens === 1 ? '' : 's'}`),
  );
  summary.title = 'Show the timing details';
  const list = element('dl');
  const rows = [
    ['Preprocess', formatMs(timings.preprocessMs)],
    ['Vision encoder', formatMs(timings.visionMs)],
    ['Prefill', formatMs(timings.prefillMs)],
    ['First token', formatMs(timings.timeToFirstTokenMs)],
    ['Decode', `${timings.decodeTokensPerSecond.toFixed(1)} tok/s`],
    ['Total', formatMs(timings.totalMs)],
    ['Prompt tokens', String(usage.promptTokens)],
    ['Image tokens', String(usage.imageTokens)],
    ['Answer tokens', String(usage.completionTokens)],
  ];
  for (const [label, value] of rows) list.append(element('dt', '', label), element('dd', '', value));
  details.append(summary, list);
  turn.root.append(details);
  scrollToEnd();
}

function clearTranscript() {
  for (const messageId of state.turns.keys()) state.ignored.add(messageId);
  if (state.activeMessageId) state.ignored.add(state.activeMessageId);
  state.turns.clear();
  for (const node of [...elements.transcript.children]) {
    if (node !== elements.empty) node.remove();
  }
  elements.empty.hidden = false;
}

// ---------------------------------------------------------------------------------------------
// Composer

function showComposerError(message) {
  elements.composerError.textContent = message;
  elements.composerError.hidden = !message;
}

function setActive(messageId) {
  state.activeMessageId = messageId;
  const { send } = elements;
  send.dataset.mode = messageId ? 'stop' : 'send';
  send.querySelector('.send-label').textContent = messageId ? 'Stop' : 'Send';
  send.setAttribute('aria-label', messageId ? 'Stop the answer' : 'Send');
}

function autoGrow() {
  const { question } = elements;
  question.style.height = 'auto';
  question.style.height = `${Math.min(question.scrollHeight, 160)}px`;
}

function clearAttachment() {
  if (state.attachment) URL.revokeObjectURL(state.attachment.url);
  state.attachment = undefined;
  elements.attachment.hidden = true;
  elements.attachmentPreview.removeAttribute('src');
  elements.fileInput.value = '';
}

function attach(file) {
  showComposerError('');
  if (!file) return;
  if (file.type && !file.type.startsWith('image/')) {
    showComposerError(`"${file.name}" is not an image (PNG, JPEG, WebP or GIF).`);
    return;
  }
  const maxBytes = state.session?.limits.maxImageBytes;
  if (maxBytes && file.size > maxBytes) {
    showComposerError(
      `"${file.name}" is too large (${formatBytes(file.size)}; the limit is ${formatBytes(maxBytes)}).`,
    );
    return;
  }
  clearAttachment();
  const url = URL.createObjectURL(file);
  state.attachment = { file, url };
  elements.attachmentPreview.src = url;
  elements.attachmentName.textContent = file.name || 'pasted image';
  elements.attachmentSize.textContent = formatBytes(file.size);
  elements.attachment.hidden = false;
  elements.question.focus();
}

async function postJson(path, init = {}) {
  const response = await fetch(path, { method: 'POST', ...init });
  const body = await response.json().catch(() => ({}));
  return { response, body };
}

async function send() {
  const text = elements.question.value.trim();
  if (!text) {
    showComposerError(state.attachment ? 'Ask a question about the image.' : 'Type a question first.');
    elements.question.focus();
    return;
  }
  if (!state.session) {
    showComposerError('Not connected yet; one moment.');
    return;
  }
  showComposerError('');
  const attachment = state.attachment;
  const form = new FormData();
  form.set('text', text);
  if (attachment) form.append('image', attachment.file, attachment.file.name || 'pasted-image.png');
  const userTurn = addUserTurn(text, attachment?.url);
  elements.send.disabled = true;
  try {
    const { response, body } = await postJson(`/api/sessions/${state.session.sessionId}/messages`, {
      body: form,
    });
    if (!response.ok) {
      userTurn.remove();
      if (elements.transcript.querySelectorAll('.turn, .notice').length === 0) elements.empty.hidden = false;
      showComposerError(body.error?.message ?? `The question was not accepted (HTTP ${response.status}).`);
      if (body.error?.code === 'web_session_unknown')
        await openSession('This chat expired; a new one was started.');
      return;
    }
    userTurn.dataset.state = 'sent';
    const image = body.images?.[0];
    if (image) userTurn.title = `${image.name} · ${image.width}×${image.height}`;
    elements.question.value = '';
    autoGrow();
    if (attachment) {
      // the object URL now belongs to the transcript's image
      state.attachment = undefined;
      elements.attachment.hidden = true;
      elements.fileInput.value = '';
    }
    if (state.settled.has(body.messageId) && !state.turns.has(body.messageId)) return;
    const turn = turnFor(body.messageId);
    if (turn.root.dataset.state === 'waiting' || turn.root.dataset.state === 'streaming') {
      setActive(body.messageId);
    }
  } catch {
    userTurn.remove();
    showComposerError('Could not reach Glimpse. Is it still running?');
  } finally {
    elements.send.disabled = false;
  }
}

async function stop() {
  const messageId = state.activeMessageId;
  if (!messageId || !state.session) return;
  elements.send.disabled = true;
  try {
    await postJson(`/api/sessions/${state.session.sessionId}/messages/${messageId}/cancel`);
  } catch {
    showComposerError('Could not reach Glimpse to stop the answer.');
  } finally {
    elements.send.disabled = false;
  }
}

async function reset() {
  if (!state.session) return;
  clearTranscript();
  setActive(undefined);
  clearAttachment();
  showComposerError('');
  try {
    const { response, body } = await postJson(`/api/sessions/${state.session.sessionId}/reset`);
    if (!response.ok) {
      if (body.error?.code === 'web_session_unknown') await openSession();
      else showComposerError(body.error?.message ?? 'The conversation could not be reset.');
    }
  } catch {
    showComposerError('Could not reach Glimpse. Is it still running?');
  }
  elements.question.focus();
}

// ---------------------------------------------------------------------------------------------
// Events from the server

function setStatus(stateName, label) {
  elements.status.dataset.state = stateName;
  elements.status.title = label;
  elements.status.querySelector('.status-label').textContent = label;
}

function eventData(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    return undefined;
  }
}

const handlers = {
  ready() {
    setStatus('connected', 'Connected');
  },
  notice(data) {
    const turn = state.turns.get(data.messageId);
    if (!turn && data.messageId) state.settled.add(data.messageId);
    if (turn && turn.root.dataset.state === 'waiting') {
      // the notice is what this message got instead of an answer (busy, rate limit, …)
      turn.root.remove();
      state.turns.delete(data.messageId);
      if (state.activeMessageId === data.messageId) setActive(undefined);
    }
    addNotice(data.text, data.kind);
  },
  start(data) {
    const turn = turnFor(data.messageId);
    turn.root.dataset.state = 'streaming';
    turn.typing.remove();
    setActive(data.messageId);
  },
  delta(data) {
    const turn = turnFor(data.messageId);
    if (turn.root.dataset.state === 'waiting') {
      turn.root.dataset.state = 'streaming';
      turn.typing.remove();
    }
    turn.text.textContent += data.text;
    scrollToEnd();
  },
  warning(data) {
    addNote(turnFor(data.messageId), data.message, 'warning');
  },
  finish(data) {
    renderTimings(turnFor(data.messageId), data);
  },
  error(data) {
    const turn = turnFor(data.messageId);
    turn.typing.remove();
    turn.root.dataset.state = 'error';
    turn.bubble.append(element('div', 'answer-error', data.message));
    scrollToEnd();
  },
  done(data) {
    const turn = state.turns.get(data.messageId);
    if (turn) {
      turn.typing.remove();
      if (turn.root.dataset.state !== 'error') turn.root.dataset.state = 'done';
      if (!turn.text.textContent && turn.root.dataset.state === 'done') {
        turn.text.textContent = '(no answer)';
        turn.text.classList.add('muted');
      }
    }
    if (state.activeMessageId === data.messageId) setActive(undefined);
  },
};

function connectEvents() {
  state.events?.close();
  const { sessionId } = state.session;
  const source = new EventSource(`/api/sessions/${sessionId}/events`);
  state.events = source;
  for (const [name, handle] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => {
      const data = eventData(event);
      if (!data || state.events !== source) return;
      if (data.messageId && state.ignored.has(data.messageId)) return;
      handle(data);
    });
  }
  source.addEventListener('error', () => {
    if (state.events !== source) return;
    if (source.readyState === EventSource.CLOSED) {
      // The server no longer knows this session (it restarted, or forgot an idle tab).
      setStatus('offline', 'Reconnecting…');
      setTimeout(() => openSession('Glimpse restarted; this is a new chat.').catch(() => {}), 1500);
    } else {
      setStatus('connecting', 'Reconnecting…');
    }
  });
}

async function openSession(noticeText) {
  try {
    const { response, body } = await postJson('/api/sessions');
    if (!response.ok) throw new Error(body.error?.message ?? `HTTP ${response.status}`);
    state.session = body;
    elements.modelName.textContent = body.title;
    elements.question.maxLength = body.limits.maxTextChars;
    if (noticeText) {
      clearTranscript();
      setActive(undefined);
      addNotice(noticeText, 'warning');
    }
    connectEvents();
  } catch (error) {
    setStatus('offline', 'Offline');
    showComposerError(`Could not start a chat: ${error.message}. Retrying…`);
    setTimeout(() => openSession(noticeText).catch(() => {}), 3000);
  }
}

// ---------------------------------------------------------------------------------------------
// Wiring

elements.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  if (state.activeMessageId) stop();
  else send();
});

elements.question.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    if (!state.activeMessageId) send();
  }
});
elements.question.addEventListener('input', () => {
  autoGrow();
  if (elements.question.value.trim()) showComposerError('');
});

elements.fileInput.addEventListener('change', () => attach(elements.fileInput.files?.[0]));
elements.dropzone.addEventListener('click', () => elements.fileInput.click());
elements.attachmentRemove.addEventListener('click', () => {
  clearAttachment();
  elements.question.focus();
});
elements.reset.addEventListener('click', () => reset());
elements.suggestions.addEventListener('click', (event) => {
  const chip = event.target.closest('.chip');
  if (!chip) return;
  elements.question.value = chip.textContent;
  autoGrow();
  elements.question.focus();
});

document.addEventListener('paste', (event) => {
  const file = [...(event.clipboardData?.files ?? [])].find((item) => item.type.startsWith('image/'));
  if (file) {
    event.preventDefault();
    attach(file);
  }
});

let dragDepth = 0;
const carriesFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes('Files');
window.addEventListener('dragenter', (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  dragDepth++;
  elements.dropOverlay.hidden = false;
});
window.addEventListener('dragover', (event) => {
  if (carriesFiles(event)) event.preventDefault();
});
window.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) elements.dropOverlay.hidden = true;
});
window.addEventListener('drop', (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  dragDepth = 0;
  elements.dropOverlay.hidden = true;
  attach(event.dataTransfer.files[0]);
});

openSession();
elements.question.focus();
