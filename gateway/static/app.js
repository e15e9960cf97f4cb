// Uhrwerk's watch page: talks protocol 2 over /ws (see the README, "The watch page").
// Plain JavaScript, no build step.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $("status"),
    talk: $("talk"),
    texts: $("texts"),
    note: $("note"),
    transcript: $("transcript"),
    answer: $("answer"),
    ask: $("ask"),
    question: $("question"),
    send: $("send"),
    reset: $("new"),
  };

  // ---- texts: German, English when the browser speaks English --------------------

  const TEXTS = {
    de: {
      state: {
        connecting: "Verbinde …",
        idle: "Tippen und fragen",
        listening: "Ich höre zu …",
        thinking: "Einen Moment …",
        speaking: "Ich antworte …",
        error: "Problem",
      },
      talk: {
        connecting: "Keine Verbindung",
        idle: "Sprechen",
        listening: "Aufnahme senden",
        thinking: "Abbrechen und sprechen",
        speaking: "Unterbrechen und sprechen",
        error: "Sprechen",
      },
      reconnectIn: (s) => `Keine Verbindung. Neuer Versuch in ${s}\u00a0s\u00a0…`,
      reconnecting: "Verbinde erneut …",
      asleep: "Verbindung nach längerer Ruhe getrennt. Tippen verbindet wieder.",
      offline: "Keine Verbindung zu Uhrwerk. Einen Moment …",
      lostTurn: "Die Verbindung ist abgerissen. Bitte frag noch einmal.",
      resumeTurn: "Die Verbindung ist abgerissen; die Antwort wird danach abgeholt.",
      micDenied:
        "Kein Zugriff auf das Mikrofon. Bitte erlaube es in den Einstellungen des Browsers, oder tippe deine Frage.",
      noMic: "Kein Mikrofon gefunden. Tippe deine Frage.",
      micFailed: "Das Mikrofon lässt sich nicht öffnen. Tippe deine Frage.",
      noRecorder: "Dieser Browser kann nicht aufnehmen. Tippe deine Frage.",
      needsHttps: "Das Mikrofon geht nur über HTTPS (oder auf localhost). Tippe deine Frage.",
      nothingHeard: "Ich habe nichts gehört. Tippe und sprich.",
      newConversation: "Neues Gespräch begonnen.",
      unpaired:
        "Diese Uhr ist nicht gekoppelt. Öffne die Seite mit ihrem Kopplungslink (uhrwerk token create).",
      placeholder: "Frage tippen …",
      askLabel: "Frage tippen",
      sendLabel: "Senden",
      newLabel: "Neues Gespräch",
    },
    en: {
      state: {
        connecting: "Connecting …",
        idle: "Tap and ask",
        listening: "Listening …",
        thinking: "One moment …",
        speaking: "Answering …",
        error: "Problem",
      },
      talk: {
        connecting: "Not connected",
        idle: "Talk",
        listening: "Send the recording",
        thinking: "Cancel and talk",
        speaking: "Interrupt and talk",
        error: "Talk",
      },
      reconnectIn: (s) => `No connection. Trying again in ${s}\u00a0s\u00a0…`,
      reconnecting: "Reconnecting …",
      asleep: "Disconnected after a while without use. Tap to connect again.",
      offline: "Not connected to Uhrwerk. One moment …",
      lostTurn: "The connection dropped. Please ask again.",
      resumeTurn: "The connection dropped; the answer will be fetched after it.",
      micDenied:
        "No access to the microphone. Please allow it in the browser's settings, or type your question.",
      noMic: "No microphone found. Type your question.",
      micFailed: "The microphone cannot be opened. Type your question.",
      noRecorder: "This browser cannot record. Type your question.",
      needsHttps: "The microphone needs HTTPS (or localhost). Type your question.",
      nothingHeard: "I heard nothing. Tap and speak.",
      newConversation: "New conversation started.",
      unpaired: "This watch is not paired. Open the page with its pairing link (uhrwerk token create).",
      placeholder: "Type a question …",
      askLabel: "Type a question",
      sendLabel: "Send",
      newLabel: "New conversation",
    },
  };
  const uiLanguage = (navigator.language || "de").toLowerCase().startsWith("en") ? "en" : "de";
  const T = TEXTS[uiLanguage];
  document.documentElement.lang = uiLanguage;
  ui.question.placeholder = T.placeholder;
  ui.question.setAttribute("aria-label", T.askLabel);
  ui.send.setAttribute("aria-label", T.sendLabel);
  ui.reset.textContent = T.newLabel;

  // ---- tuning ------------------------------------------------------------------------

  const CHUNK_MS = 250; // MediaRecorder timeslice: a chunk to the gateway every 250 ms
  const SILENCE_END_S = 1.8; // silence after speech that ends a recording
  const NOTHING_HEARD_S = 8; // no speech at all this long: stop and send nothing
  const SPEECH_FRAMES = 3; // 50 ms frames above the threshold that count as speech
  const MIN_SPEECH_DB = -50; // dBFS; the threshold also follows the noise floor (+12 dB)
  const MAX_AUDIO_S = Number(document.body.dataset.maxAudioSeconds) || 60;
  const RECORD_LIMIT_S = Math.max(1, MAX_AUDIO_S - 0.5); // stay under the gateway's limit
  const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
  const IDLE_CLOSE = 4408; // the gateway closed an unused connection: connect again when used
  const TRY_AGAIN_LATER = 1013; // refused by a connection limit: wait longer than usual
  const REFUSED_ATTEMPT = 3; // … at least BACKOFF_MS[3] before the next attempt
  const SESSION_ID = /^[A-Za-z0-9_-]{16,128}$/;

  // ---- state the tests (and curious people) can read: window.uhrwerk -----------------

  const hooks = {
    state: "connecting",
    sessionId: null,
    connects: 0, // hellos answered
    unpaired: false, // the gateway refused the token (shown, no more reconnects)
    recordings: 0, // recordings sent
    track: null, // the microphone track's settings of the last recording
    mimeType: null,
    scheduled: 0, // sentences' audio started (scheduled on the Web Audio clock)
    played: 0, // sentences' audio played to their end
    stopped: 0, // sentences' audio stopped by a barge-in, reset or error
    // One record per sentence, times on the AudioContext's clock (seconds): arrived (its
    // MP3), ready (decoded and scheduled), start, end (scheduled), endedAt (its `ended`
    // event after playing to the end), stopped (cut off).
    sentences: [],
    turns: 0, // turns finished (done and every sentence played)
    resumes: 0, // `resume` frames sent after a reconnect
  };
  window.uhrwerk = hooks;

  // ---- storage (token from ?token= once, session id) ---------------------------------
  // The token goes to the gateway in `hello`, never in a URL: a wrong one is then
  // answered `unauthorized` (which the page can show) instead of a bare HTTP 401.

  const store = {
    get(key) {
      try {
        return localStorage.getItem(key);
      } catch {
        return null;
      }
    },
    set(key, value) {
      try {
        if (value === null) localStorage.removeItem(key);
        else localStorage.setItem(key, value);
      } catch {
        /* private mode: the session lasts as long as the page */
      }
    },
  };
  const SESSION_KEY = "uhrwerk.session";
  const TOKEN_KEY = "uhrwerk.token";

  {
    const params = new URLSearchParams(location.search);
    if (params.has("token")) {
      store.set(TOKEN_KEY, params.get("token") || null);
      params.delete("token"); // not left in the address bar, history or bookmarks
      const query = params.toString();
      history.replaceState(null, "", location.pathname + (query ? `?${query}` : "") + location.hash);
    }
  }

  let sessionId = store.get(SESSION_KEY);
  if (sessionId && !SESSION_ID.test(sessionId)) sessionId = null;
  hooks.sessionId = sessionId;

  function rememberSession(id) {
    sessionId = id && SESSION_ID.test(id) ? id : null;
    hooks.sessionId = sessionId;
    store.set(SESSION_KEY, sessionId);
  }

  // ---- screen ------------------------------------------------------------------------

  let state = "connecting";

  function setState(next) {
    state = next;
    hooks.state = next;
    document.body.dataset.state = next;
    ui.status.textContent = T.state[next];
    ui.talk.setAttribute("aria-label", T.talk[next]);
  }

  /** A note (connection, error, hints) stands alone: the texts below it wait. */
  function showNote(text) {
    ui.note.textContent = text || "";
    ui.note.hidden = !text;
    ui.texts.classList.toggle("noted", Boolean(text));
    ui.texts.scrollTop = text ? 0 : ui.texts.scrollHeight;
    markOverflow();
  }

  function showError(text) {
    showNote(text);
    setState("error");
  }

  function clearTexts() {
    ui.transcript.textContent = "";
    ui.answer.textContent = "";
    showNote("");
  }

  function scrollToEnd() {
    ui.texts.scrollTop = ui.texts.scrollHeight;
    markOverflow();
  }

  /** Fades the text area's edge where more text is scrolled away (a long answer). */
  function markOverflow() {
    const box = ui.texts;
    box.classList.toggle("more-above", box.scrollTop > 1);
    box.classList.toggle("more-below", box.scrollTop + box.clientHeight < box.scrollHeight - 1);
  }
  ui.texts.addEventListener("scroll", markOverflow, { passive: true });
  window.addEventListener("resize", markOverflow);

  // ---- connection ----------------------------------------------------------------------

  let ws = null;
  let ready = false; // hello answered
  let attempt = 0;
  let retryTimer = null;
  let countdownTimer = null;
  let helloFallback = false; // the server refused our language or zone: send none
  let asleep = false; // closed for idleness: connects again when the page is used
  let afterConnect = null; // "listen" or "ask": what the tap or question that woke it wanted
  let refusal = ""; // a connection limit's sentence, shown with the countdown
  let unpaired = false; // the gateway refused our token: no point reconnecting

  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({ protocol: "2" });
    if (sessionId) query.set("session", sessionId);
    return `${scheme}//${location.host}/ws?${query}`;
  }

  function connect() {
    clearTimeout(retryTimer);
    clearInterval(countdownTimer);
    retryTimer = countdownTimer = null;
    if (ws) return;
    asleep = false;
    setState("connecting");
    if (attempt > 0) showNote(T.reconnecting);
    const socket = new WebSocket(socketUrl());
    socket.binaryType = "arraybuffer";
    ws = socket;
    socket.onopen = () => {
      if (ws === socket) sendHello();
    };
    socket.onmessage = (event) => {
      if (ws === socket) onMessage(event.data);
    };
    socket.onclose = (event) => {
      if (ws === socket) onDisconnected(event.code);
    };
  }

  function connected() {
    return ws !== null && ready && ws.readyState === WebSocket.OPEN;
  }

  function send(frame) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    const raw = typeof frame === "string" || frame instanceof ArrayBuffer;
    ws.send(raw ? frame : JSON.stringify(frame));
    return true;
  }

  function browserLanguage() {
    // BCP-47 as far as the gateway takes it: language and up to two subtags.
    const match = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}(?=-|$)/.exec(navigator.language || "");
    return match ? match[0] : null;
  }

  function browserTimeZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
    } catch {
      return null;
    }
  }

  function sendHello() {
    const hello = { type: "hello", protocol: 2 };
    const token = store.get(TOKEN_KEY);
    if (token) hello.token = token;
    if (sessionId) hello.session_id = sessionId;
    if (!helloFallback) {
      const language = browserLanguage();
      const timezone = browserTimeZone();
      if (language) hello.language = language;
      if (timezone) hello.timezone = timezone;
    }
    send(hello);
  }

  function onDisconnected(code) {
    if (code === IDLE_CLOSE && !unpaired) {
      // Closed for idleness (nothing asked for a while): an answer still playing plays
      // to its end, and the page connects again only when it is used (a tap, a typed
      // question, the page shown again) instead of at once.
      ws = null;
      ready = false;
      unnamed = 0;
      discardRecording();
      asleep = true;
      attempt = 0;
      showNote(T.asleep);
      if (!turn.active) setState("connecting");
      return;
    }
    const wasBusy = turn.active || recording !== null;
    // A question the gateway took but never answered: ask for its answer after the
    // reconnect (any gateway can give it; see the README's `resume`).
    if (turn.active && turn.id !== null && !turn.done) resumeId = turn.id;
    ws = null;
    ready = false;
    unnamed = 0;
    discardRecording();
    endTurn();
    stopPlayback();
    if (unpaired) return; // stays on its explanation until opened with a token
    if (code === TRY_AGAIN_LATER) attempt = Math.max(attempt, REFUSED_ATTEMPT);
    const reason = code === TRY_AGAIN_LATER && refusal ? `${refusal} ` : "";
    refusal = "";
    const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)] * (0.8 + Math.random() * 0.4);
    attempt += 1;
    setState("connecting");
    const due = Date.now() + delay;
    const tick = () => {
      const seconds = Math.max(1, Math.ceil((due - Date.now()) / 1000));
      const lost = resumeId !== null ? `${T.resumeTurn} ` : wasBusy ? `${T.lostTurn} ` : "";
      showNote(reason + lost + T.reconnectIn(seconds));
    };
    tick();
    countdownTimer = setInterval(tick, 250);
    retryTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (!ws && (retryTimer !== null || asleep)) connect();
  }
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectNow();
  });

  // ---- the turn --------------------------------------------------------------------------

  // Questions sent that the gateway has not yet named with a `turn` frame (or refused
  // with an error): a `turn` frame is this page's current question only when it is
  // the last one outstanding (an older question's can still be on its way).
  let unnamed = 0;
  // The turn whose answer is to be fetched with `resume` once connected again.
  let resumeId = null;

  const turn = {
    active: false, // a question was sent and its answer is not finished
    id: null, // its turn_id once the gateway named it
    done: false, // `done` arrived
    sentence: null, // the sentence frame whose MP3 comes next
  };

  function beginTurn() {
    unnamed += 1;
    turn.active = true;
    turn.id = null;
    turn.done = false;
    turn.sentence = null;
  }

  /** After a reconnect: the answer of the turn the last connection never finished. */
  function resume() {
    const id = resumeId;
    resumeId = null;
    turn.active = true;
    turn.id = id;
    turn.done = false;
    turn.sentence = null;
    ui.answer.textContent = "";
    hooks.resumes += 1;
    send({ type: "resume", turn_id: id });
    setState("thinking");
  }

  function endTurn() {
    turn.active = false;
    turn.id = null;
    turn.done = false;
    turn.sentence = null;
  }

  /** Barge-in: stop what plays and tell the gateway to stop the running turn. */
  function interrupt() {
    stopPlayback();
    if (turn.active) {
      send({ type: "cancel" });
      endTurn();
    }
  }

  function ours(frame) {
    return turn.active && frame.turn_id !== undefined && frame.turn_id === turn.id;
  }

  function onMessage(data) {
    if (typeof data !== "string") {
      onAudio(data);
      return;
    }
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    switch (frame.type) {
      case "hello":
        rememberSession(frame.session_id);
        ready = true;
        attempt = 0;
        hooks.connects += 1;
        showNote("");
        setState("idle");
        if (afterConnect === "listen") startListening();
        else if (afterConnect === "ask") ui.ask.requestSubmit();
        afterConnect = null;
        if (resumeId !== null) resume();
        break;
      case "reset":
        rememberSession(frame.session_id);
        clearTexts();
        showNote(T.newConversation);
        break;
      case "turn":
        unnamed = Math.max(0, unnamed - 1);
        if (unnamed === 0 && turn.active && turn.id === null) turn.id = frame.turn_id;
        break;
      case "transcript":
        if (ours(frame)) {
          ui.transcript.textContent = frame.text;
          markOverflow();
        }
        break;
      case "sentence":
        if (ours(frame)) {
          turn.sentence = frame;
          ui.answer.textContent = ui.answer.textContent
            ? `${ui.answer.textContent} ${frame.text}`
            : frame.text;
          scrollToEnd();
        }
        break;
      case "done":
        if (ours(frame)) {
          turn.done = true;
          ui.answer.textContent = frame.text_response;
          scrollToEnd();
          maybeFinish();
        }
        break;
      case "cancelled":
        if (ours(frame)) {
          stopPlayback();
          endTurn();
          if (state === "thinking" || state === "speaking") setState("idle");
        }
        break;
      case "error":
      case undefined:
        onError(frame);
        break;
      default:
        break; // a newer server's frame this page does not know
    }
  }

  function onError(frame) {
    if (!ready && frame.code === "too_many_connections") {
      refusal = frame.error || ""; // the close (1013) follows: shown with the countdown
      return;
    }
    if (frame.code === "unauthorized") {
      unpaired = true;
      hooks.unpaired = true;
      showError(T.unpaired);
      return;
    }
    if (!ready) {
      // The hello was refused: a session id the server does not take, or a language
      // or zone it does not know. Try once more without them.
      if (frame.code === "invalid_session" && sessionId) {
        rememberSession(null);
        sendHello();
        return;
      }
      if (frame.code === "invalid_field" && !helloFallback) {
        helloFallback = true;
        sendHello();
        return;
      }
    }
    if (frame.turn_id) {
      if (!ours(frame)) return; // an earlier turn's (it raced a cancel)
      if (frame.code === "shutting_down") {
        // The gateway is going away before the answer was ready: the socket closes
        // next, and the answer is fetched from the next gateway.
        resumeId = turn.id;
        stopPlayback();
        endTurn();
        showNote(frame.error || "");
        return;
      }
    } else if (unnamed > 0 && frame.code !== "memory_unavailable") {
      // A question refused before it became a turn (too long, busy, bad audio).
      unnamed -= 1;
      if (unnamed > 0) return; // an older question's
    }
    stopPlayback();
    endTurn();
    showError(frame.error || String(frame.code || ""));
  }

  // ---- playback: each sentence's MP3 decoded at once, scheduled back to back ----------

  let audioContext = null;
  let nextStart = 0; // where the next sentence starts on the context's clock
  let chain = Promise.resolve(); // schedules in arrival order, whatever decodes first
  let generation = 0; // bumped by stopPlayback: work of an older generation is dropped
  let decoding = 0; // sentences of this generation not yet scheduled
  const playing = new Map(); // AudioBufferSourceNode -> its record in hooks.sentences

  function context() {
    if (!audioContext) {
      const Ctor = window.AudioContext || window.webkitAudioContext;
      if (!Ctor) return null;
      audioContext = new Ctor({ latencyHint: "playback" });
    }
    if (audioContext.state === "suspended") audioContext.resume().catch(() => {});
    return audioContext;
  }

  function onAudio(mp3) {
    const sentence = turn.sentence;
    turn.sentence = null;
    if (!sentence || !turn.active) return;
    const ctx = context();
    if (!ctx) return;
    const gen = generation;
    const record = {
      turn: sentence.turn_id,
      seq: sentence.seq,
      arrived: ctx.currentTime,
      ready: null,
      start: null,
      end: null,
      duration: null,
      endedAt: null,
      ended: false,
      stopped: false,
    };
    decoding += 1;
    const decoded = ctx.decodeAudioData(mp3).catch(() => null);
    chain = chain.then(async () => {
      const buffer = await decoded;
      if (gen !== generation) return;
      decoding -= 1;
      if (buffer) schedule(ctx, buffer, record);
      maybeFinish();
    });
  }

  function schedule(ctx, buffer, record) {
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    record.ready = ctx.currentTime;
    record.start = Math.max(nextStart, ctx.currentTime + 0.05);
    record.duration = buffer.duration;
    record.end = record.start + buffer.duration;
    nextStart = record.end;
    source.onended = () => {
      playing.delete(source);
      if (!record.stopped) {
        record.ended = true;
        record.endedAt = ctx.currentTime;
        hooks.played += 1;
      }
      maybeFinish();
    };
    playing.set(source, record);
    hooks.sentences.push(record);
    hooks.scheduled += 1;
    source.start(record.start);
    if (state === "thinking") setState("speaking");
  }

  function stopPlayback() {
    generation += 1;
    decoding = 0;
    chain = Promise.resolve();
    nextStart = 0;
    for (const [source, record] of playing) {
      record.stopped = true;
      hooks.stopped += 1;
      try {
        source.stop();
      } catch {
        /* not started yet */
      }
    }
    playing.clear();
  }

  function maybeFinish() {
    if (!turn.active) return;
    if (playing.size === 0 && decoding === 0) {
      if (turn.done) {
        endTurn();
        hooks.turns += 1;
        setState(asleep ? "connecting" : "idle");
      } else if (state === "speaking") {
        setState("thinking"); // the next sentence is still on its way
      }
    }
  }

  // ---- recording: MediaRecorder chunks streamed as they come ---------------------------

  let recording = null;
  let listenRequest = 0; // a tap while the microphone is still being opened cancels it

  function pickMimeType() {
    if (!window.MediaRecorder) return null;
    for (const type of ["audio/webm;codecs=opus", "audio/webm"]) {
      if (MediaRecorder.isTypeSupported(type)) return type;
    }
    return null;
  }

  async function startListening() {
    interrupt();
    showNote("");
    if (!connected()) {
      if (asleep) {
        afterConnect = "listen"; // listens once connected again
        reconnectNow();
      }
      showNote(T.offline);
      return;
    }
    if (!window.isSecureContext) {
      showError(T.needsHttps); // browsers give no microphone to plain http on the network
      return;
    }
    const mimeType = pickMimeType();
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !mimeType) {
      showError(T.noRecorder);
      return;
    }
    const request = ++listenRequest;
    ui.transcript.textContent = "";
    ui.answer.textContent = "";
    setState("listening");
    const ctx = context(); // resumed inside the tap, for the level meter and the answer
    let stream;
    try {
      // Echo cancellation keeps the answer's own sound out of a question asked over it.
      // Noise suppression and gain control are for a listener on a call, not for the
      // recogniser: with them on, Chromium's processing made Whisper hear "Wie viele
      // Tagers sind es noch bis zu Wester?" and "Zugschwitze": 6 of 10 questions came
      // through as spoken with them on, 9 with them off (README, "The watch page").
      stream = await navigator.mediaDevices.getUserMedia({
        audio: {
          echoCancellation: true,
          noiseSuppression: false,
          autoGainControl: false,
          channelCount: 1,
        },
      });
    } catch (error) {
      if (request !== listenRequest) return;
      const name = error && error.name;
      showError(
        name === "NotAllowedError" || name === "SecurityError"
          ? T.micDenied
          : name === "NotFoundError" || name === "OverconstrainedError"
            ? T.noMic
            : T.micFailed,
      );
      return;
    }
    if (request !== listenRequest || state !== "listening" || !connected()) {
      stream.getTracks().forEach((track) => track.stop());
      return;
    }
    let recorder;
    try {
      recorder = new MediaRecorder(stream, { mimeType, audioBitsPerSecond: 32000 });
    } catch {
      stream.getTracks().forEach((track) => track.stop());
      showError(T.noRecorder);
      return;
    }
    const track = stream.getAudioTracks()[0];
    hooks.track = track ? track.getSettings() : null;
    hooks.mimeType = recorder.mimeType || mimeType;
    const rec = {
      recorder,
      stream,
      socket: ws,
      started: false, // audio_start sent (once speech was heard, or on a tap)
      held: [], // chunks recorded before that
      queue: Promise.resolve(), // what goes to the gateway, in order
      send: false, // what the stop is for: send it, or drop it
      meter: null,
      limit: null,
    };
    recording = rec;
    recorder.ondataavailable = (event) => {
      if (!event.data || event.data.size === 0) return;
      if (rec.started) sendChunk(rec, event.data);
      else rec.held.push(event.data);
    };
    recorder.onstop = () => finishRecording(rec);
    recorder.start(CHUNK_MS);
    rec.limit = setTimeout(() => stopListening(true), RECORD_LIMIT_S * 1000);
    rec.meter = startMeter(ctx, stream, rec);
  }

  function beginUpload(rec) {
    if (rec.started) return;
    rec.started = true;
    sendChunk(rec, { type: "audio_start", format: "webm" });
    for (const chunk of rec.held) sendChunk(rec, chunk);
    rec.held = [];
  }

  /** Queues a frame of the upload: chunks go as ArrayBuffers (read in order; unlike
   *  Blobs, these show in the browser's developer tools), then the frames after them. */
  function sendChunk(rec, chunk) {
    rec.queue = rec.queue
      .then(async () => {
        const data = chunk instanceof Blob ? await chunk.arrayBuffer() : chunk;
        if (rec.socket === ws) send(data);
      })
      .catch(() => {});
  }

  /** Ends the recording; `sendIt`: as a question (else it is dropped). */
  function stopListening(sendIt) {
    listenRequest += 1;
    const rec = recording;
    if (!rec) {
      if (state === "listening") setState("idle");
      return;
    }
    recording = null;
    rec.send = sendIt;
    clearTimeout(rec.limit);
    if (rec.meter) rec.meter.stop();
    if (sendIt) {
      beginUpload(rec);
      beginTurn();
      ui.transcript.textContent = "";
      ui.answer.textContent = "";
      setState("thinking");
    } else if (state === "listening") {
      setState("idle");
    }
    if (rec.recorder.state !== "inactive") rec.recorder.stop(); // last chunk, then onstop
    else finishRecording(rec);
  }

  function finishRecording(rec) {
    if (rec.finished) return;
    rec.finished = true;
    rec.stream.getTracks().forEach((track) => track.stop());
    if (rec.send && rec.socket === ws && rec.started) {
      sendChunk(rec, { type: "audio_end" });
      hooks.recordings += 1;
    }
  }

  function discardRecording() {
    if (recording) stopListening(false);
    listenRequest += 1;
  }

  /** Level meter and silence detection on the microphone (50 ms frames). */
  function startMeter(ctx, stream, rec) {
    if (!ctx || ctx.state !== "running") {
      beginUpload(rec); // no meter: stream at once, the tap (or the limit) ends it
      return null;
    }
    const source = ctx.createMediaStreamSource(stream);
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 2048;
    source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const began = performance.now();
    let floor = -60;
    let voiced = 0;
    let heard = false;
    let lastVoice = began;
    const timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const x of samples) sum += x * x;
      const db = 10 * Math.log10(sum / samples.length + 1e-12);
      floor = db < floor ? db : floor + (db - floor) * 0.005; // falls fast, rises slowly
      const now = performance.now();
      if (db > Math.max(MIN_SPEECH_DB, floor + 12)) {
        voiced += 1;
        lastVoice = now;
        if (voiced >= SPEECH_FRAMES && !heard) {
          heard = true;
          beginUpload(rec);
        }
      } else {
        voiced = 0;
      }
      ui.talk.style.setProperty("--level", Math.max(0, Math.min(1, (db + 60) / 50)).toFixed(2));
      if (heard && now - lastVoice > SILENCE_END_S * 1000) {
        stopListening(true);
      } else if (!heard && now - began > NOTHING_HEARD_S * 1000) {
        stopListening(false);
        showNote(T.nothingHeard);
      }
    }, 50);
    return {
      stop() {
        clearInterval(timer);
        source.disconnect();
        ui.talk.style.setProperty("--level", "0");
      },
    };
  }

  // ---- controls ------------------------------------------------------------------------

  ui.talk.addEventListener("click", () => {
    context(); // a user gesture: the audio may play from now on
    switch (state) {
      case "connecting":
        if (asleep) afterConnect = "listen"; // woken by a tap: it wanted to talk
        reconnectNow();
        break;
      case "listening":
        stopListening(true);
        break;
      default: // idle, error; thinking and speaking: barge-in
        startListening();
    }
  });

  ui.ask.addEventListener("submit", (event) => {
    event.preventDefault();
    context();
    const text = ui.question.value.trim();
    if (!text) return;
    if (!connected()) {
      if (asleep) {
        afterConnect = "ask"; // sent once connected again (the text stays in the field)
        reconnectNow();
      }
      showNote(T.offline);
      return;
    }
    discardRecording();
    interrupt();
    beginTurn();
    send({ type: "text", message: text });
    ui.question.value = "";
    ui.question.blur(); // closes the watch's keyboard
    showNote("");
    ui.transcript.textContent = text;
    ui.answer.textContent = "";
    setState("thinking");
  });

  ui.reset.addEventListener("click", () => {
    discardRecording();
    interrupt();
    clearTexts();
    if (connected()) {
      send({ type: "reset" });
      setState("idle");
    } else {
      rememberSession(null); // the next connection starts a fresh session
      showNote(T.newConversation);
    }
  });

  setState("connecting");
  connect();
})();
