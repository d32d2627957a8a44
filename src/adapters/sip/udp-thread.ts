// The event loop's side of the UDP thread (udp-thread-worker.ts). One worker thread per
// process serves the UDP listeners of every SIP adapter: it starts with the first socket
// and ends when the last one closes. Sends made in one callback (with its promise chains)
// go over as one batch right after it (process.nextTick); each send still settles on its
// own, rejecting when the kernel refused that datagram.
import { Worker } from 'node:worker_threads';
import { ChurnMap } from '../../core/churn-map.js';
import type { Logger } from '../../core/logger.js';
import type { OnDatagram, OnSocketError, UdpBindOptions, UdpBound, UdpSocket } from './udp-socket.js';
import {
  type Bound,
  type FromThread,
  forEachDatagram,
  packDatagrams,
  type ReceivedBatch,
  type SentReport,
  type ToThread,
} from './udp-thread-protocol.js';

interface Settle {
  resolve(): void;
  reject(err: Error): void;
}

// The compiled worker sits next to this module (dist/…/udp-thread-worker.js). Run from
// source (tsx: tests, benchmarks with --source) it is the .ts file, and Node 20 does not
// carry tsx's loader into worker threads: a small bootstrap registers it there first.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(
  FROM_SOURCE ? './udp-thread-worker.ts' : './udp-thread-worker.js',
  import.meta.url,
);

function startWorker(): Worker {
  const options = { name: 'parley-sip-udp' };
  if (!FROM_SOURCE) return new Worker(WORKER_URL, options);
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(boot, { ...options, eval: true });
}

class UdpThread {
  readonly #worker: Worker;
  readonly #logger: Logger;
  readonly #receivers = new Map<number, { onDatagram: OnDatagram; onError: OnSocketError }>();
  readonly #binding = new Map<number, { resolve(b: Bound): void; reject(err: Error): void }>();
  readonly #closing = new Map<number, () => void>();
  #nextId = 1;
  #dead: Error | null = null;
  // The sends of this turn of the loop.
  #outBufs: Buffer[] = [];
  #outMeta: number[] = [];
  #outAddresses: string[] = [];
  #outSettles: Settle[] = [];
  #outBytes = 0;
  #outScheduled = false;
  /** Received datagrams handled and not yet reported to the thread (its flow control). */
  #consumed = 0;
  #consumedScheduled = false;
  #nextBatch = 1;
  /** Send batches the thread has not reported on, by number (a ChurnMap: one per batch). */
  readonly #inFlight = new ChurnMap<Settle[]>();

  constructor(logger: Logger) {
    this.#logger = logger;
    this.#worker = startWorker();
    this.#worker.on('message', (m: FromThread) => this.#onMessage(m));
    this.#worker.on('error', (err) => this.#die(err));
    this.#worker.on('exit', (code) => {
      // An exit Parley did not ask for (it asks only once the last socket closed).
      if (!this.#dead) this.#die(new Error(`the SIP UDP thread exited (code ${code})`));
    });
  }

  /** Sockets bound or binding. */
  #sockets(): number {
    return this.#receivers.size + this.#binding.size;
  }

  async bind(opts: UdpBindOptions, onDatagram: OnDatagram, onError: OnSocketError): Promise<UdpBound> {
    if (this.#dead) throw this.#dead;
    const id = this.#nextId++;
    const bound = await new Promise<Bound>((resolve, reject) => {
      this.#binding.set(id, { resolve, reject });
      this.#post({ type: 'bind', id, ...opts });
    });
    this.#receivers.set(id, { onDatagram, onError });
    const socket: UdpSocket = {
      port: bound.port,
      send: (buf, port, address) => this.#send(id, buf, port, address),
      close: () => this.#close(id),
    };
    return {
      socket,
      receiveBuffer: bound.receiveBuffer,
      ...(bound.receiveBufferError ? { receiveBufferError: bound.receiveBufferError } : {}),
    };
  }

  #send(id: number, buf: Buffer, port: number, address: string): Promise<void> {
    if (this.#dead) return Promise.reject(this.#dead);
    return new Promise<void>((resolve, reject) => {
      this.#outBufs.push(buf);
      this.#outMeta.push(id, buf.length, port);
      this.#outAddresses.push(address);
      this.#outSettles.push({ resolve, reject });
      this.#outBytes += buf.length;
      this.#scheduleFlush();
    });
  }

  #scheduleFlush(): void {
    if (this.#outScheduled) return;
    this.#outScheduled = true;
    // After this callback's promise chains have run, not a turn of the loop later: the
    // datagrams read meanwhile would add their handling to this send's delay.
    process.nextTick(() => this.#flushSends());
  }

  #flushSends(): void {
    if (!this.#outScheduled) return;
    this.#outScheduled = false;
    const settles = this.#outSettles;
    const bytes = packDatagrams(this.#outBufs, this.#outBytes);
    const meta = Int32Array.from(this.#outMeta);
    const addresses = this.#outAddresses;
    this.#outBufs = [];
    this.#outMeta = [];
    this.#outAddresses = [];
    this.#outSettles = [];
    this.#outBytes = 0;
    if (this.#dead) {
      for (const s of settles) s.reject(this.#dead);
      return;
    }
    const batch = this.#nextBatch++;
    this.#inFlight.set(String(batch), settles);
    this.#post({ type: 'send', batch, bytes, meta, addresses }, [bytes, meta.buffer]);
  }

  #close(id: number): Promise<void> {
    if (!this.#receivers.has(id)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        this.#receivers.delete(id);
        resolve();
        this.#released();
      };
      if (this.#dead) return done();
      // Sends made before the close go out first (they are posted before the close).
      if (this.#outScheduled) this.#flushSends();
      this.#closing.set(id, done);
      this.#post({ type: 'close', id });
    });
  }

  /** The last socket closed: the thread ends (a later bind starts a new one). */
  #released(): void {
    if (this.#sockets() > 0 || this.#closing.size > 0) return;
    if (shared === this) shared = null;
    if (this.#dead) return;
    this.#dead = new Error('the SIP UDP thread has ended');
    this.#post({ type: 'exit' });
  }

  #post(m: ToThread, transfer?: ArrayBuffer[]): void {
    this.#worker.postMessage(m, transfer);
  }

  #onMessage(m: FromThread): void {
    switch (m.type) {
      case 'recv':
        this.#received(m);
        return;
      case 'sent':
        this.#sent(m);
        return;
      case 'bound': {
        const b = this.#binding.get(m.id);
        this.#binding.delete(m.id);
        b?.resolve(m);
        return;
      }
      case 'bindFailed': {
        const b = this.#binding.get(m.id);
        this.#binding.delete(m.id);
        const err: NodeJS.ErrnoException = new Error(m.message);
        if (m.code) err.code = m.code;
        b?.reject(err);
        this.#released();
        return;
      }
      case 'overloaded':
        this.#logger.warn(
          { dropped: m.dropped, waiting: m.queued },
          'SIP UDP: the event loop is overloaded; datagrams dropped (senders will retransmit)',
        );
        return;
      case 'socketError':
        this.#receivers.get(m.id)?.onError(new Error(m.message));
        return;
      case 'closed': {
        const done = this.#closing.get(m.id);
        this.#closing.delete(m.id);
        done?.();
        return;
      }
    }
  }

  #received(m: ReceivedBatch): void {
    forEachDatagram(m.bytes, m.meta, (i, id, buf, port) => {
      const r = this.#receivers.get(id);
      if (!r) return; // closed meanwhile
      try {
        r.onDatagram(buf, m.addresses[i] as string, port);
      } catch (err) {
        this.#logger.error({ err }, 'SIP UDP datagram handler failed');
      }
    });
    this.#consumed += m.addresses.length;
    if (this.#consumedScheduled) return;
    this.#consumedScheduled = true;
    // Said after this turn's immediates ran: while the thread waits for it, the event loop
    // runs its timers and the audit writer's batches (see udp-thread-worker.ts).
    setImmediate(() => {
      this.#consumedScheduled = false;
      if (this.#dead) return;
      this.#post({ type: 'consumed', n: this.#consumed });
      this.#consumed = 0;
    });
  }

  #sent(m: SentReport): void {
    const failed = new Map<string, string>();
    for (const [batch, index, message] of m.errors) failed.set(`${batch}:${index}`, message);
    for (const batch of m.batches) {
      const settles = this.#inFlight.get(String(batch));
      this.#inFlight.delete(String(batch));
      if (!settles) continue;
      for (let i = 0; i < settles.length; i++) {
        const why = failed.size ? failed.get(`${batch}:${i}`) : undefined;
        if (why === undefined) settles[i]?.resolve();
        else settles[i]?.reject(new Error(why));
      }
    }
  }

  /** The thread failed: every waiting send, bind and close settles, and the sockets' owners are told. */
  #die(err: Error): void {
    if (this.#dead) return;
    this.#dead = err;
    if (shared === this) shared = null;
    this.#logger.error({ err }, 'the SIP UDP thread failed');
    for (const settles of this.#inFlight.values()) for (const s of settles) s.reject(err);
    this.#inFlight.clear();
    for (const b of this.#binding.values()) b.reject(err);
    this.#binding.clear();
    for (const done of this.#closing.values()) done();
    this.#closing.clear();
    for (const r of this.#receivers.values()) r.onError(err);
  }
}

let shared: UdpThread | null = null;

/** Bind a UDP socket in the process's UDP thread (started when needed). */
export function bindInUdpThread(
  opts: UdpBindOptions,
  onDatagram: OnDatagram,
  onError: OnSocketError,
  logger: Logger,
): Promise<UdpBound> {
  if (!shared) shared = new UdpThread(logger);
  return shared.bind(opts, onDatagram, onError);
}
