// Telling a sender that their event was delivered degraded (docs/decisions/0005): once per
// sender, target network and kind of degradation per period, since a notice per edit
// would be noise. Not audited: the decision record already names the degradation.
import type { Adapter, Degradation, Notice } from './adapter.js';
import type { CanonicalEvent, Network } from './model.js';
import type { Store } from './store.js';

/**
 * Tell `source` of the degradations in `changes` it was not told of in the last `ttlMs`
 * for this sender and network; `text` words the ones it is told of.
 */
export async function noticeDegraded(
  store: Store,
  ttlMs: number,
  source: Adapter,
  event: CanonicalEvent,
  network: Network,
  changes: readonly Degradation[],
  text: (fresh: readonly Degradation[]) => string,
): Promise<void> {
  const fresh: Degradation[] = [];
  for (const d of changes) {
    const key = `notice:degraded:${d}:${network}:${event.from}`;
    if (await store.setIfAbsent(key, '1', ttlMs)) fresh.push(d);
  }
  if (!fresh.length) return;
  const notice: Notice = { code: 'degraded', degradations: fresh, text: text(fresh) };
  await source.notice(event, notice);
}
