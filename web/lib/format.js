// Small formatting helpers: times, sizes, emoji names.

/** Formatters are costly to make (locale data): one of each, kept. */
const formatters = new Map();
function formatter(options) {
  const key = JSON.stringify(options);
  if (!formatters.has(key)) formatters.set(key, new Intl.DateTimeFormat(undefined, options));
  return formatters.get(key);
}

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "now", "5 min", "3 h", "Yesterday", "Tue", "12 Mar" from Unix seconds. */
export function relativeTime(seconds, now = Date.now() / 1000) {
  if (!seconds) return '';
  const ago = Math.max(0, now - seconds);
  if (ago < MINUTE) return 'now';
  if (ago < HOUR) return `${Math.floor(ago / MINUTE)} min`;
  const then = new Date(seconds * 1000);
  const today = new Date(now * 1000);
  if (ago < DAY && then.getDate() === today.getDate()) return `${Math.floor(ago / HOUR)} h`;
  if (ago < 2 * DAY) return 'Yesterday';
  if (ago < 7 * DAY) return formatter({ weekday: 'short' }).format(then);
  const sameYear = then.getFullYear() === today.getFullYear();
  return formatter(sameYear
    ? { day: 'numeric', month: 'short' }
    : { day: 'numeric', month: 'short', year: 'numeric' }).format(then);
}

/** Full date and time, for tooltips and screen readers. */
export function fullTime(seconds) {
  if (!seconds) return '';
  return formatter({ dateStyle: 'medium', timeStyle: 'short' }).format(new Date(seconds * 1000));
}

/** "14:05" */
export function clockTime(seconds) {
  return formatter({ hour: '2-digit', minute: '2-digit' }).format(new Date(seconds * 1000));
}

export function fileSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** The reactions the picker offers: the API's emoji names and how they look. */
export const EMOJI = {
  thumbs_up: '👍',
  heart: '❤️',
  joy: '😂',
  open_mouth: '😮',
  cry: '😢',
  red_angry_face: '😡',
  tada: '🎉',
  fire: '🔥',
};

/** More names other clients use (the demo data has some), shown but not offered. */
const MORE_EMOJI = {
  '+1': '👍',
  '-1': '👎',
  money_with_wings: '💸',
  scream: '😱',
  face_with_rolling_eyes: '🙄',
  smile: '😄',
  laughing: '😆',
  sob: '😭',
  thinking_face: '🤔',
  wave: '👋',
  clap: '👏',
  pray: '🙏',
  eyes: '👀',
  rocket: '🚀',
  ok_hand: '👌',
  sunglasses: '😎',
};

/** A reaction name as a glyph, or as `:name:` when it is not one the app knows. */
export function emojiGlyph(name) {
  return EMOJI[name] || MORE_EMOJI[name] || `:${name}:`;
}

/** Image types shown inline (the server sends these, and only these, `inline`). */
export const INLINE_IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

export function initials(name) {
  const words = (name || '?').replace(/([a-z])([A-Z])/g, '$1 $2').split(/[\s_.-]+/).filter(Boolean);
  return (words[0]?.[0] || '?').toUpperCase() + (words[1]?.[0] || '').toUpperCase();
}
