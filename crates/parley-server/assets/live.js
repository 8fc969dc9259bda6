// The live connection to the event log (`/api/v1/events/stream`). When it drops, the top bar
// says so and counts down to the next try; tries come after 1, 2, 4… up to 30 seconds (with a
// little jitter, so a restarted server is not hit by every tab at once), or at once from the
// "Try now" button. A new connection starts right after the last event received, so nothing
// that happened meanwhile is missed; when no event had come yet, `onResync` redraws instead.
// A page the browser keeps in its back-forward cache closes its connection until shown again.

import { el, t } from './api.js';

const FIRST_DELAY = 1000;
const LONGEST_DELAY = 30000;

/**
 * Follows the log: `handlers` maps an event kind to a function of the parsed event. Answers
 * nothing; runs for the page's life.
 */
export function connectLive(handlers, { onResync }) {
  const banner = el('p', { id: 'connection', class: 'connection', role: 'status', 'aria-live': 'polite', hidden: true });
  document.querySelector('.topbar .brand')?.after(banner);
  let lastId = null;
  let failures = 0;
  let timer = null;
  let countdown = null;
  let source = null;

  const showWaiting = (until) => {
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      banner.replaceChildren(
        el('span', {}, seconds > 0 ? t('connection.reconnecting_in', { seconds }) : t('connection.reconnecting')), ' ',
        el('button', { type: 'button', id: 'connection-retry', onclick: () => connect() }, t('connection.try_now')));
    };
    tick();
    clearInterval(countdown);
    countdown = setInterval(tick, 1000);
    banner.hidden = false;
    document.body.classList.add('offline');
  };

  const connect = () => {
    clearTimeout(timer);
    source?.close();
    const resumed = lastId !== null;
    source = new EventSource(resumed ? `/api/v1/events/stream?after=${encodeURIComponent(lastId)}` : '/api/v1/events/stream');
    for (const [kind, handle] of Object.entries(handlers)) {
      source.addEventListener(kind, (e) => {
        if (e.lastEventId) lastId = e.lastEventId;
        handle(JSON.parse(e.data));
      });
    }
    source.addEventListener('open', () => {
      const wasDown = failures > 0;
      failures = 0;
      clearInterval(countdown);
      banner.hidden = true;
      document.body.classList.remove('offline');
      // Resumed after the last event: the stream replays what was missed. Otherwise (nothing
      // had come yet) what is on screen is redrawn from the API.
      if (wasDown && !resumed) onResync();
    });
    source.addEventListener('error', () => {
      // The browser would retry on its own at a fixed pace, from its own idea of the last id:
      // we take over, with backoff and our cursor.
      source.close();
      failures += 1;
      const delay = Math.min(LONGEST_DELAY, FIRST_DELAY * 2 ** (failures - 1)) * (0.8 + Math.random() * 0.4);
      showWaiting(Date.now() + delay);
      timer = setTimeout(connect, delay);
    });
  };
  // A page left for another (kept in the back-forward cache) lets its connection go: browsers
  // allow six per server, and a cached page holding one would stall the next pages' loads.
  // Back on it, it resumes after the last event it saw.
  window.addEventListener('pagehide', () => { clearTimeout(timer); source?.close(); source = null; });
  window.addEventListener('pageshow', (e) => { if (e.persisted) connect(); });
  connect();
}
