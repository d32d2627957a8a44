// The messages between the event loop and the UDP thread (udp-thread.ts, udp-thread-worker.ts).
// Datagrams travel in batches: their bytes back to back in one transferred ArrayBuffer, and
// per datagram a few integers (socket id, length, port) in a flat array and an address.

/** Datagrams back to back in one new ArrayBuffer (its own, so it can be transferred). */
export function packDatagrams(bufs: readonly Uint8Array[], size: number): ArrayBuffer {
  const bytes = new Uint8Array(size);
  let off = 0;
  for (const b of bufs) {
    bytes.set(b, off);
    off += b.length;
  }
  return bytes.buffer;
}

/** Each datagram of a batch, as a view of `bytes`, with its socket id and port. */
export function forEachDatagram(
  bytes: ArrayBuffer,
  meta: Int32Array,
  each: (i: number, id: number, buf: Buffer, port: number) => void,
): void {
  let off = 0;
  for (let i = 0; 3 * i < meta.length; i++) {
    const len = meta[3 * i + 1] as number;
    each(i, meta[3 * i] as number, Buffer.from(bytes, off, len), meta[3 * i + 2] as number);
    off += len;
  }
}

export interface BindRequest {
  type: 'bind';
  id: number;
  host: string;
  port: number;
  ipv6: boolean;
  /** Kernel receive buffer to ask for (bytes); absent: the OS default. */
  receiveBuffer?: number;
}

/** Datagrams to send: per datagram [socket id, length, port] in `meta`, its address in `addresses`. */
export interface SendBatch {
  type: 'send';
  batch: number;
  bytes: ArrayBuffer;
  meta: Int32Array;
  addresses: string[];
}

export type ToThread =
  | BindRequest
  | SendBatch
  /** Received datagrams the event loop has handled since it last said (the thread's flow control). */
  | { type: 'consumed'; n: number }
  | { type: 'close'; id: number }
  | { type: 'exit' };

export interface Bound {
  type: 'bound';
  id: number;
  port: number;
  /** What the kernel reports after the receive buffer was sized (null: not asked). */
  receiveBuffer: number | null;
  /** Why the receive buffer could not be sized. */
  receiveBufferError?: string;
}

/** Datagrams received: per datagram [socket id, length, port] in `meta`, its source address in `addresses`. */
export interface ReceivedBatch {
  type: 'recv';
  bytes: ArrayBuffer;
  meta: Int32Array;
  addresses: string[];
}

/** Send batches done; `errors` holds [batch, index in the batch, message] for the failed datagrams. */
export interface SentReport {
  type: 'sent';
  batches: number[];
  errors: [number, number, string][];
}

export type FromThread =
  | Bound
  | { type: 'bindFailed'; id: number; message: string; code?: string }
  | ReceivedBatch
  | SentReport
  | { type: 'socketError'; id: number; message: string }
  /** Datagrams dropped because the event loop had too many waiting (since the last report). */
  | { type: 'overloaded'; dropped: number; queued: number }
  | { type: 'closed'; id: number };
