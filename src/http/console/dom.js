// @ts-check
// The three DOM helpers every view uses: find an element, make one, refill one.

/**
 * @typedef {Node | string | null | undefined | false} Child
 *   What an element may be given as a child; null, undefined and false are left out.
 * @typedef {{
 *   dataset?: Record<string, string | undefined>;
 *   on?: Record<string, (ev: Event) => unknown>;
 *   [prop: string]: unknown;
 * }} Props
 */

/**
 * The element `sel` names (the page is static: a missing one is a bug). With `type`, the
 * element must be of that class, so that callers get its own properties (value, disabled, …).
 * @template {Element} [T=HTMLElement]
 * @param {string} sel
 * @param {{ new (): T; prototype: T }} [type]
 * @returns {T}
 */
export function $(sel, type) {
  const e = document.querySelector(sel);
  if (!e) throw new Error(`console: missing element ${sel}`);
  if (!(e instanceof (type ?? HTMLElement))) throw new Error(`console: ${sel} is not a ${type?.name}`);
  return /** @type {T} */ (e);
}

/**
 * Create an element: h('td', { className: 'x', dataset: { testid: 'y' } }, 'text', child, ...).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props} [props]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'on') {
      for (const [ev, fn] of Object.entries(/** @type {NonNullable<Props['on']>} */ (v)))
        e.addEventListener(ev, fn);
    } else if (k in e && typeof v !== 'string') Reflect.set(e, k, v);
    else if (k === 'className' || k === 'textContent' || k === 'type' || k === 'title') Reflect.set(e, k, v);
    else e.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

/**
 * Replace an element's children, leaving out null/undefined/false ones.
 * @template {Element} E
 * @param {E} el
 * @param {...Child} children
 * @returns {E}
 */
export function fill(el, ...children) {
  el.replaceChildren(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}
