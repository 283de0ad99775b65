// Preact with htm: tagged templates instead of JSX, so the app needs no build step.
import { h, render } from '../vendor/preact.mjs';
import htm from '../vendor/htm.mjs';

export const html = htm.bind(h);
export { render };
export {
  useState, useEffect, useLayoutEffect, useRef, useMemo, useCallback,
} from '../vendor/hooks.mjs';
