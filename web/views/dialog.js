// Modal dialogs on the native <dialog>: it traps focus, closes on Escape, and gives focus back
// to what had it. (window.confirm would block the page and cannot be styled.)

import { html, render, useEffect, useRef } from '../lib/html.js';

function Dialog({ title, body, confirm, cancel = 'Cancel', danger, children, onDone, wide }) {
  const ref = useRef(null);
  useEffect(() => {
    ref.current.showModal();
  }, []);
  return html`<dialog ref=${ref} class=${`modal${wide ? ' wide' : ''}`} aria-labelledby="dialog-title"
      onClose=${() => onDone(ref.current.returnValue === 'yes')}
      onClick=${(e) => { if (e.target === ref.current) ref.current.close('no'); }}>
    <div class="dialog-body">
      <h2 id="dialog-title">${title}</h2>
      ${body && html`<p>${body}</p>`}
      ${children}
      <div class="dialog-actions">
        ${cancel && html`<button type="button" onClick=${() => ref.current.close('no')}>${cancel}</button>`}
        ${confirm && html`<button type="button" class=${danger ? 'danger' : 'primary'}
          onClick=${() => ref.current.close('yes')}>${confirm}</button>`}
      </div>
    </div>
  </dialog>`;
}

/** Shows a dialog; resolves to true when its confirm button was chosen. */
export function ask(props) {
  const holder = document.createElement('div');
  document.body.append(holder);
  const before = document.activeElement;
  return new Promise((resolve) => {
    const onDone = (yes) => {
      render(null, holder);
      holder.remove();
      before?.focus?.();
      resolve(yes);
    };
    render(html`<${Dialog} ...${props} onDone=${onDone} />`, holder);
  });
}
