// A SIP UDP listener as the transport sees it: bound, sending, closing. It lives either in
// the event loop's thread (bindUdpHere) or in the UDP thread (udp-thread.ts).
import dgram from 'node:dgram';

export interface UdpSocket {
  readonly port: number;
  send(buf: Buffer, port: number, address: string): Promise<void>;
  close(): Promise<void>;
}

export interface UdpBindOptions {
  host: string;
  port: number;
  ipv6: boolean;
  /** Kernel receive buffer to ask for (bytes); absent: the OS default. */
  receiveBuffer?: number;
}

export interface UdpBound {
  socket: UdpSocket;
  /** What the kernel reports after sizing the receive buffer (null: not asked). */
  receiveBuffer: number | null;
  /** Why the receive buffer could not be sized. */
  receiveBufferError?: string;
}

export type OnDatagram = (buf: Buffer, address: string, port: number) => void;
export type OnSocketError = (err: Error) => void;

/** Bind a UDP socket in this thread. */
export async function bindUdpHere(
  opts: UdpBindOptions,
  onDatagram: OnDatagram,
  onError: OnSocketError,
): Promise<UdpBound> {
  const sock = dgram.createSocket({ type: opts.ipv6 ? 'udp6' : 'udp4', reuseAddr: false });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(opts.port, opts.host, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  sock.on('message', (buf, rinfo) => onDatagram(buf, rinfo.address, rinfo.port));
  sock.on('error', onError);
  let receiveBuffer: number | null = null;
  let receiveBufferError: string | undefined;
  if (opts.receiveBuffer !== undefined) {
    try {
      sock.setRecvBufferSize(opts.receiveBuffer);
      receiveBuffer = sock.getRecvBufferSize();
    } catch (err) {
      receiveBufferError = (err as Error).message;
    }
  }
  const socket: UdpSocket = {
    port: sock.address().port,
    send: (buf, port, address) =>
      new Promise<void>((resolve, reject) =>
        sock.send(buf, port, address, (err) => (err ? reject(err) : resolve())),
      ),
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
  return { socket, receiveBuffer, ...(receiveBufferError ? { receiveBufferError } : {}) };
}
