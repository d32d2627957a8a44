// XML helpers for the XMPP tests: parse a string into an element, and a canonical form
// for comparing stanzas (slidge-style: the XML received against the XML expected).
import { type Element, Parser } from '@xmpp/xml';

/** Parse one XML element from a string. */
export function xmlParse(s: string): Element {
  const p = new Parser();
  let root: Element | null = null;
  let error: Error | null = null;
  p.on('start', (el) => {
    root = el;
  });
  p.on('element', (el) => {
    root?.append(el);
  });
  p.on('error', (err) => {
    error = err;
  });
  p.write(s);
  p.end();
  if (error) throw error;
  if (!root) throw new Error(`no element in ${s}`);
  return root;
}

/**
 * A canonical string of an element for comparison: attributes sorted, `xml:lang` and the
 * default stream namespace dropped, whitespace-only text removed.
 */
export function canon(el: Element | string): string {
  const e = typeof el === 'string' ? xmlParse(el) : el;
  const walk = (x: Element, parentNs: string | undefined): string => {
    const attrs = Object.entries(x.attrs)
      .filter(([k, v]) => v !== undefined && k !== 'xml:lang')
      .filter(([k, v]) => !(k === 'xmlns' && (v === 'jabber:client' || v === parentNs)))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => ` ${k}="${v}"`)
      .join('');
    const ns = x.attrs.xmlns ?? parentNs;
    const kids = x.children.map((c) => (typeof c === 'string' ? (c.trim() ? c : '') : walk(c, ns))).join('');
    return `<${x.name}${attrs}>${kids}</${x.name}>`;
  };
  return walk(e, 'jabber:client');
}
