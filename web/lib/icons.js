// A few line icons as inline SVG (emoji glyphs depend on the fonts a system has).

import { html } from './html.js';

const PATHS = {
  clip: 'M21 11.5l-8.6 8.6a5.5 5.5 0 0 1-7.8-7.8l8.6-8.6a3.7 3.7 0 0 1 5.2 5.2l-8.6 8.6a1.8 1.8 0 0 1-2.6-2.6l7.9-7.9',
  file: 'M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8zM14 3v5h5',
  pin: 'M9 4h6l-1 6 3 3v2H7v-2l3-3zM12 15v6',
  muted: 'M18 16v-5a6 6 0 0 0-9.7-4.7M6 9.5V16l-2 2h14M10 21h4M3 3l18 18',
  back: 'M15 5l-7 7 7 7',
};

export function Icon({ name, label }) {
  return html`<svg class="icon" viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor"
      stroke-width="2" stroke-linecap="round" stroke-linejoin="round"
      role=${label ? 'img' : undefined} aria-hidden=${label ? undefined : 'true'} aria-label=${label}>
    ${label && html`<title>${label}</title>`}<path d=${PATHS[name]} /></svg>`;
}
