// The UDP thread's side (a worker thread, started by udp-thread.ts): it owns the SIP UDP
// sockets. Receiving and sending datagrams are system calls, and on a host the kernel's
// delivery to the receiver runs inside the sender's call: about a quarter of the event
// loop's time per MESSAGE. Here they run on another core. Datagrams are passed on in
// batches (see the flow control below), so the hand-over costs little per datagram.
import type dgram from 'node:dgram';
import { parentPort } from 'node:worker_threads';
import { openUdpSocket, sizeReceiveBuffer } from './udp-socket.js';
import { type FromThread, forEachDatagram, packDatagrams, type ToThread } from './udp-thread-protocol.js';

const port = parentPort;
if (!port) throw new Error('udp-thread-worker runs as a worker thread');

const sockets = new Map<number, dgram.Socket>();
const post = (m: FromThread, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);

// Received datagrams not yet handed to the event loop.
let inBufs: Buffer[] = [];
let inMeta: number[] = [];
let inAddresses: string[] = [];
let inScheduled = false;

/**
 * Flow control. A batch goes to the event loop only while fewer than BATCH_MAX datagrams it
 * was given are unhandled, and holds at most BATCH_MAX; the event loop says it handled them
 * only once it has run its immediates (the audit writer's batches). So it gets back to its
 * timers and immediates between batches, as when it reads the sockets itself (libuv reads 32
 * per wake-up), instead of draining a steady stream of messages in one go. Beyond
 * MAX_WAITING datagrams waiting here the thread drops the requests it reads, as the kernel
 * does when a receive buffer is full: an overloaded event loop must not collect an unbounded
 * queue (with the memory and collection work that comes with it). Responses are kept up to
 * twice that: each one ends a transaction the event loop already worked on (dropping it
 * wastes that work and brings a retransmission), while a dropped request costs nothing yet.
 */
const BATCH_MAX = 32;
const MAX_WAITING = 4096;
/** Handed to the event loop and not yet handled. */
let queued = 0;
let dropped = 0;
let dropReport: NodeJS.Timeout | null = null;

function drop(): void {
  dropped++;
  dropReport ??= setTimeout(() => {
    dropReport = null;
    post({ type: 'overloaded', dropped, queued: queued + inAddresses.length });
    dropped = 0;
  }, 1000);
}

/** A SIP response starts with its status line, "SIP/2.0 ..." (RFC 3261 §7.2). */
const isResponse = (buf: Buffer): boolean =>
  buf.length > 4 && buf[0] === 0x53 && buf[1] === 0x49 && buf[2] === 0x50 && buf[3] === 0x2f;

function received(id: number, buf: Buffer, rinfo: dgram.RemoteInfo): void {
  if (inAddresses.length >= MAX_WAITING && (inAddresses.length >= 2 * MAX_WAITING || !isResponse(buf))) {
    drop();
    return;
  }
  inBufs.push(buf);
  inMeta.push(id, buf.length, rinfo.port);
  inAddresses.push(rinfo.address);
  if (!inScheduled) {
    inScheduled = true;
    setImmediate(() => {
      inScheduled = false;
      flushReceived();
    });
  }
}

function flushReceived(): void {
  while (inAddresses.length > 0 && queued < BATCH_MAX) {
    const n = Math.min(BATCH_MAX, inAddresses.length);
    const bufs = n === inBufs.length ? inBufs : inBufs.slice(0, n);
    let size = 0;
    for (const b of bufs) size += b.length;
    const bytes = packDatagrams(bufs, size);
    const meta = Int32Array.from(n === inAddresses.length ? inMeta : inMeta.slice(0, 3 * n));
    const addresses = n === inAddresses.length ? inAddresses : inAddresses.slice(0, n);
    if (n === inAddresses.length) {
      inBufs = [];
      inMeta = [];
      inAddresses = [];
    } else {
      inBufs = inBufs.slice(n);
      inMeta = inMeta.slice(3 * n);
      inAddresses = inAddresses.slice(n);
    }
    queued += n;
    post({ type: 'recv', bytes, meta, addresses }, [bytes, meta.buffer]);
  }
}

// Send batches whose every datagram was handed to the kernel (or failed), reported once per turn.
let doneBatches: number[] = [];
let sendErrors: [number, number, string][] = [];
let doneScheduled = false;

function batchDone(batch: number): void {
  doneBatches.push(batch);
  if (!doneScheduled) {
    doneScheduled = true;
    setImmediate(() => {
      doneScheduled = false;
      post({ type: 'sent', batches: doneBatches, errors: sendErrors });
      doneBatches = [];
      sendErrors = [];
    });
  }
}

function send(m: Extract<ToThread, { type: 'send' }>): void {
  let left = m.addresses.length;
  const settle = (i: number, err: Error | null) => {
    if (err) sendErrors.push([m.batch, i, err.message]);
    if (--left === 0) batchDone(m.batch);
  };
  forEachDatagram(m.bytes, m.meta, (i, id, buf, to) => {
    const sock = sockets.get(id);
    if (!sock) return settle(i, new Error('the UDP socket is closed'));
    try {
      sock.send(buf, to, m.addresses[i], (err) => settle(i, err));
    } catch (err) {
      settle(i, err as Error);
    }
  });
}

function bind(m: Extract<ToThread, { type: 'bind' }>): void {
  openUdpSocket(m).then(
    (sock) => {
      sock.on('error', (err) => post({ type: 'socketError', id: m.id, message: err.message }));
      sock.on('message', (buf, rinfo) => received(m.id, buf, rinfo));
      sockets.set(m.id, sock);
      post({ type: 'bound', id: m.id, port: sock.address().port, ...sizeReceiveBuffer(sock, m) });
    },
    (err: NodeJS.ErrnoException) =>
      post({ type: 'bindFailed', id: m.id, message: err.message, ...(err.code ? { code: err.code } : {}) }),
  );
}

port.on('message', (m: ToThread) => {
  switch (m.type) {
    case 'send':
      send(m);
      return;
    case 'consumed':
      queued -= m.n;
      flushReceived();
      return;
    case 'bind':
      bind(m);
      return;
    case 'close': {
      const sock = sockets.get(m.id);
      sockets.delete(m.id);
      if (!sock) post({ type: 'closed', id: m.id });
      else sock.close(() => post({ type: 'closed', id: m.id }));
      return;
    }
    case 'exit':
      if (dropReport) clearTimeout(dropReport);
      for (const s of sockets.values()) s.close();
      sockets.clear();
      port.close();
      return;
  }
});
