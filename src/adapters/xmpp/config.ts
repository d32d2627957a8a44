// The XMPP adapter's config block: one TypeBox schema gives the type and the validation;
// a problem names the key to change (relative to the adapter block).
import { type Static, Type } from '@sinclair/typebox';
import { AdapterConfigError } from '../../core/adapter.js';
import { blockProblem } from '../../core/config-problem.js';

const DomainName = Type.String({
  minLength: 1,
  maxLength: 1023,
  pattern: '^[A-Za-z0-9](?:[A-Za-z0-9\\-_.]*[A-Za-z0-9])?$',
});

export const XmppQueueConfig = Type.Object(
  {
    /** Most stanzas waiting for the link while it is down; beyond it deliveries fail visibly. */
    maxLength: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    /** How long a stanza may wait for the link before it is bounced to its sender. */
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 7 * 24 * 3600_000 })),
  },
  { additionalProperties: false },
);

export const XmppReconnectConfig = Type.Object(
  {
    /** First delay after the link drops. */
    initialDelayMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 600_000 })),
    /** Longest delay: the backoff doubles up to it. */
    maxDelayMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 3_600_000 })),
  },
  { additionalProperties: false },
);

export const XmppLeaseConfig = Type.Object(
  {
    /** How long the link lease lives without renewal: the takeover time when its holder dies. */
    ttlMs: Type.Optional(Type.Integer({ minimum: 500, maximum: 300_000 })),
    /** How often the holder renews it and the other replicas try to take it. */
    renewMs: Type.Optional(Type.Integer({ minimum: 50, maximum: 150_000 })),
  },
  { additionalProperties: false },
);

export const XmppConfig = Type.Object(
  {
    type: Type.Literal('xmpp'),
    /** The server's component listener (XEP-0114), e.g. xmpp://127.0.0.1:5347. */
    service: Type.String({ pattern: '^xmpp://(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.\\-]+)(:[0-9]{1,5})?/?$' }),
    /** The component's domain as the server knows it, e.g. gw.corp.test; ghosts live here. */
    component: DomainName,
    /** The component secret shared with the server (use ${ENV_VAR}). */
    secret: Type.String({ minLength: 1 }),
    /** Domains whose users live behind this server. */
    domains: Type.Array(Type.String({ minLength: 1, pattern: '^(\\*\\.)?[A-Za-z0-9.\\-_]+$' }), {
      minItems: 1,
    }),
    queue: Type.Optional(XmppQueueConfig),
    reconnect: Type.Optional(XmppReconnectConfig),
    /** Replicas sharing a store: one holds the component link by this lease, the others stand by. */
    lease: Type.Optional(XmppLeaseConfig),
    /** How long one connect + handshake may take before it counts as failed. */
    connectTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
    /** How long a Jingle request to a client may wait for its answer. */
    iqTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
    /** Name shown in service discovery for the component. */
    displayName: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
  { additionalProperties: false },
);
export type XmppConfig = Static<typeof XmppConfig>;

export interface ResolvedXmppConfig {
  service: string;
  component: string;
  secret: string;
  domains: string[];
  queue: { maxLength: number; timeoutMs: number };
  reconnect: { initialDelayMs: number; maxDelayMs: number };
  lease: { ttlMs: number; renewMs: number };
  connectTimeoutMs: number;
  iqTimeoutMs: number;
  displayName: string;
}

/** A config problem; `path` names the key relative to the adapter block. */
export class XmppConfigError extends AdapterConfigError {
  override name = 'XmppConfigError';
}

const HINTS: Record<string, string> = {
  service: 'expected xmpp://host:port of the server component listener, e.g. xmpp://127.0.0.1:5347',
  component: 'expected the component domain, e.g. gw.corp.test',
  secret: 'expected the component secret, e.g. from an environment variable: "$' + '{XMPP_COMPONENT_SECRET}"',
  domains: 'expected a list of domains, e.g. [corp.test]',
  lease: 'expected milliseconds, e.g. { ttlMs: 5000, renewMs: 1500 }',
};

/** Validate an adapter block and fill in the defaults; throws XmppConfigError. */
export function resolveXmppConfig(raw: Record<string, unknown>): ResolvedXmppConfig {
  const problem = blockProblem(XmppConfig, raw, HINTS);
  if (problem) throw new XmppConfigError(problem.path, problem.message);
  const c = raw as XmppConfig;
  const port = /:(\d+)\/?$/.exec(c.service)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    throw new XmppConfigError(['service'], `port ${port} is outside 1-65535`);
  }
  const component = c.component.toLowerCase();
  const domains = c.domains.map((d) => d.toLowerCase());
  const clash = domains.indexOf(component);
  if (clash >= 0) {
    throw new XmppConfigError(
      ['domains', clash],
      `the component domain ${component} cannot also be a user domain of this link`,
    );
  }
  const reconnect = {
    initialDelayMs: c.reconnect?.initialDelayMs ?? 500,
    maxDelayMs: c.reconnect?.maxDelayMs ?? 30_000,
  };
  if (reconnect.maxDelayMs < reconnect.initialDelayMs) {
    throw new XmppConfigError(['reconnect', 'maxDelayMs'], 'maxDelayMs must be at least initialDelayMs');
  }
  const lease = { ttlMs: c.lease?.ttlMs ?? 5000, renewMs: c.lease?.renewMs ?? 1500 };
  if (lease.renewMs * 3 > lease.ttlMs) {
    throw new XmppConfigError(
      ['lease', 'renewMs'],
      `renewMs (${lease.renewMs}) must be at most a third of ttlMs (${lease.ttlMs}): a renewal may then fail once and the holder still lets go of the link before the lease expires`,
    );
  }
  return {
    service: c.service.replace(/\/$/, ''),
    component,
    secret: c.secret,
    domains,
    queue: { maxLength: c.queue?.maxLength ?? 1000, timeoutMs: c.queue?.timeoutMs ?? 300_000 },
    reconnect,
    lease,
    connectTimeoutMs: c.connectTimeoutMs ?? 10_000,
    iqTimeoutMs: c.iqTimeoutMs ?? 15_000,
    displayName: c.displayName ?? 'Parley gateway',
  };
}
