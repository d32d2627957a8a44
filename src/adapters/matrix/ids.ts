// Event ids both ways: the Matrix event id Parley sent for a canonical event (to point an
// edit, reply or receipt at it), and the canonical id a Matrix event stands for.
import type { MatrixLink } from './link.js';

const ID_TTL_MS = 30 * 24 * 3600_000;

export class EventIds {
  readonly #link: MatrixLink;

  constructor(link: MatrixLink) {
    this.#link = link;
  }

  /** The first Matrix event sent for a canonical event: mapped both ways. */
  async remember(canonicalId: string, eventId: string): Promise<void> {
    const { store, prefix } = this.#link;
    await store.set(`${prefix}id:out:${canonicalId}`, eventId, ID_TTL_MS);
    await store.set(`${prefix}id:in:${eventId}`, canonicalId, ID_TTL_MS);
  }

  /** A further Matrix event sent for the same canonical event (a message's later parts). */
  async rememberPart(canonicalId: string, eventId: string): Promise<void> {
    await this.#link.store.set(`${this.#link.prefix}id:in:${eventId}`, canonicalId, ID_TTL_MS);
  }

  /** The Matrix event id for a canonical id (ids that came from Matrix are Matrix ids). */
  async matrixIdOf(canonicalId: string): Promise<string | null> {
    const mapped = await this.#link.store.get(`${this.#link.prefix}id:out:${canonicalId}`);
    if (mapped) return mapped;
    return canonicalId.startsWith('$') ? canonicalId : null;
  }

  /** The canonical id Parley delivered as this Matrix event, or null when it sent none. */
  async delivered(eventId: string): Promise<string | null> {
    return this.#link.store.get(`${this.#link.prefix}id:in:${eventId}`);
  }

  /** The canonical id for a Matrix event id (Parley's own sends map back to the sender's id). */
  async canonicalIdOf(eventId: string): Promise<string> {
    return (await this.delivered(eventId)) ?? eventId;
  }
}
