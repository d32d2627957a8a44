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

/** A bound UDP socket (closed again when the bind fails); both sides of the UDP thread use it. */
export async function openUdpSocket(opts: UdpBindOptions): Promise<dgram.Socket> {
  const sock = dgram.createSocket({ type: opts.ipv6 ? 'udp6' : 'udp4', reuseAddr: false });
  await new Promise<void>((resolve, reject) => {
    const failed = (err: Error) => {
      sock.close();
      reject(err);
    };
    sock.once('error', failed);
    sock.bind(opts.port, opts.host, () => {
      sock.off('error', failed);
      resolve();
    });
  });
  return sock;
}

/** Ask for `opts.receiveBuffer` and read back what the kernel granted. */
export function sizeReceiveBuffer(
  sock: dgram.Socket,
  opts: UdpBindOptions,
): Pick<UdpBound, 'receiveBuffer' | 'receiveBufferError'> {
  if (opts.receiveBuffer === undefined) return { receiveBuffer: null };
  try {
    sock.setRecvBufferSize(opts.receiveBuffer);
    return { receiveBuffer: sock.getRecvBufferSize() };
  } catch (err) {
    return { receiveBuffer: null, receiveBufferError: (err as Error).message };
  }
}

/** Bind a UDP socket in this thread. */
export async function bindUdpHere(
  opts: UdpBindOptions,
  onDatagram: OnDatagram,
  onError: OnSocketError,
): Promise<UdpBound> {
  const sock = await openUdpSocket(opts);
  sock.on('message', (buf, rinfo) => onDatagram(buf, rinfo.address, rinfo.port));
  sock.on('error', onError);
  const socket: UdpSocket = {
    port: sock.address().port,
    send: (buf, port, address) =>
      new Promise<void>((resolve, reject) =>
        sock.send(buf, port, address, (err) => (err ? reject(err) : resolve())),
      ),
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
  return { socket, ...sizeReceiveBuffer(sock, opts) };
}
