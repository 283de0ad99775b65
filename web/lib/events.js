// The live event stream. EventSource cannot send an Authorization header, so /v1/events is
// read with fetch() and a stream reader. After a drop it reconnects with Last-Event-ID (the
// server replays what was missed) and backs off: 0.5 s, 1 s, 2 s … up to 15 s, with jitter.

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;

/**
 * Starts reading; returns a function that stops. `onEvent(event)` gets each parsed event,
 * `onState({ state, retryAt, resumed })` each change: 'connecting', 'live' (resumed: the
 * server was given a Last-Event-ID, so nothing was missed; without one, whatever happened
 * before the stream started is not in it), 'offline' (retryAt: when the next attempt starts),
 * 'unauthorized'.
 */
export function connectEvents({ token, onEvent, onState, onFrame }) {
  let stopped = false;
  let controller = null;
  let lastEventId = null;
  let failures = 0;
  let wake = null;

  async function run() {
    while (!stopped) {
      onState({ state: 'connecting' });
      controller = new AbortController();
      try {
        const headers = { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' };
        const resumed = Boolean(lastEventId);
        if (resumed) headers['Last-Event-ID'] = lastEventId;
        const response = await fetch('/v1/events', { headers, signal: controller.signal, cache: 'no-store' });
        if (response.status === 401) {
          onState({ state: 'unauthorized' });
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        failures = 0;
        onState({ state: 'live', resumed });
        await readFrames(response.body, (frame) => {
          if (frame.id) lastEventId = frame.id;
          if (!frame.data) return;
          onFrame?.(frame);
          let event;
          try { event = JSON.parse(frame.data); } catch { return; }
          onEvent(event);
        });
      } catch (error) {
        if (stopped) return;
      }
      if (stopped) return;
      failures += 1;
      const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (failures - 1));
      const delay = base / 2 + Math.random() * base / 2;
      onState({ state: 'offline', retryAt: Date.now() + delay });
      await new Promise((resolve) => {
        wake = resolve;
        setTimeout(resolve, delay);
      });
      wake = null;
    }
  }

  // Coming back online or to the tab: try at once instead of waiting out the backoff.
  const retryNow = () => wake?.();
  window.addEventListener('online', retryNow);
  document.addEventListener('visibilitychange', retryNow);
  run();
  return {
    stop() {
      stopped = true;
      controller?.abort();
      wake?.();
      window.removeEventListener('online', retryNow);
      document.removeEventListener('visibilitychange', retryNow);
    },
    retryNow,
  };
}

/** Parses Server-Sent Events frames (`id:`, `event:`, `data:` lines; a blank line ends one). */
async function readFrames(body, onFrame) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const frame = { id: null, event: 'message', data: '' };
      const data = [];
      for (const line of block.split('\n')) {
        if (!line || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') frame.id = text;
        else if (field === 'event') frame.event = text;
        else if (field === 'data') data.push(text);
      }
      frame.data = data.join('\n');
      if (frame.id || frame.data) onFrame(frame);
    }
  }
}
