// SIP stream framing throughput (issue 15 item 5): MB/s through StreamFramer for a 1 MiB
// MESSAGE written whole, in 100-byte pieces and one byte at a time. With linear framing
// the three stay within a small factor (per-chunk overhead); a framer that re-joins its
// buffer per chunk falls by the number of chunks.
//   node --import tsx bench/sip-framing.ts
import { StreamFramer } from '../src/adapters/sip/message.js';

const body = 'y'.repeat(1024 * 1024);
const msg = Buffer.from(
  'MESSAGE sip:alice@corp.test SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK1\r\n' +
    'From: <sip:bob@partner.test>;tag=1\r\nTo: <sip:alice@corp.test>\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\n' +
    `Content-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
);

function run(piece: number, rounds: number): number {
  const pieces: Buffer[] = [];
  for (let i = 0; i < msg.length; i += piece) pieces.push(msg.subarray(i, i + piece));
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) {
    const f = new StreamFramer({ maxBody: 2 * 1024 * 1024 });
    let n = 0;
    for (const p of pieces) n += f.push(p).length;
    if (n !== 1) throw new Error('not framed');
  }
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return (msg.length * rounds) / s / 1e6;
}

for (const [name, piece, rounds] of [
  ['whole', msg.length, 200],
  ['100-byte', 100, 20],
  ['1-byte', 1, 2],
] as const) {
  run(piece, 1); // warm up
  console.log(`${name.padEnd(9)} ${run(piece, rounds).toFixed(1).padStart(8)} MB/s`);
}
