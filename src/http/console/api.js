// @ts-check
// Access to /api/v1 on the same origin, with the bearer token this tab keeps in
// sessionStorage (until sign-out or close).
import { state } from './state.js';

/** @import { ErrorBody } from './types.js' */

const API = '/api/v1';
export const TOKEN_KEY = 'parley.console.token';
export const SESSION_KEY = 'parley.console.session';

/** A refused or failed API call: its HTTP status and the error body, when there was one. */
export class ApiProblem extends Error {
  /**
   * @param {number} status
   * @param {string} message
   * @param {ErrorBody | null} body
   */
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** @type {(message: string) => void} */
let unauthorized = () => {};

/**
 * What to do when the signed-in token stops being accepted (set once, by the page's wiring:
 * the session module forgets everything, which this module cannot import without a cycle).
 * @param {(message: string) => void} handler
 */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/**
 * A query string of the given parameters, leaving out empty ones.
 * @param {Record<string, unknown>} params
 */
export const query = (params) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  return q.toString();
};

/**
 * @typedef {{ method?: string; body?: unknown; signal?: AbortSignal; bearer?: string | null }} CallOptions
 */

/**
 * One request to the API; the response as it came.
 * @param {string} path
 * @param {CallOptions} [options]
 * @returns {Promise<Response>}
 */
export async function call(path, { method = 'GET', body, signal, bearer = token() } = {}) {
  /** @type {Record<string, string>} */
  const headers = { authorization: `Bearer ${bearer ?? ''}`, 'x-parley-client': 'console' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  /** @type {RequestInit} */
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) init.body = JSON.stringify(body);
  if (signal) init.signal = signal;
  const res = await fetch(`${API}${path}`, init);
  return res;
}

/**
 * One request to the API; its JSON answer (null for 204), or an ApiProblem. The type is
 * what the route's schema promises (the server validates its responses against it).
 * @template [T=unknown]
 * @param {string} path
 * @param {CallOptions} [opts]
 * @returns {Promise<T>}
 */
export async function api(path, opts = {}) {
  const res = await call(path, opts);
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    if (res.status === 401 && opts.bearer === undefined && state.role) {
      unauthorized('Your token is no longer accepted; sign in again.');
    }
    throw new ApiProblem(res.status, data?.message ?? `${res.status} ${res.statusText}`, data);
  }
  return data;
}
