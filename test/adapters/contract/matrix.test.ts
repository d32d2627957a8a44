// The adapter contract (suite.ts) for Matrix, on the in-memory homeserver: what the adapter
// sends is the room events the ghosts sent; a Matrix user's message is a transaction the
// homeserver pushes to the appservice (after the user invited the ghost to a direct room);
// the homeserver goes unreachable and comes back. Of the adapter only its public behaviour
// is used (its config block, its appservice API, what reaches the homeserver), not its
// queue, and of its parts only the per-kind send table its declared kinds derive from.
import t from 'tap';
import { fromGhost, toGhost } from '../../../src/adapters/matrix/ghost.js';
import { matrixKindTable } from '../../../src/adapters/matrix/outbound-send.js';
import { tryParseAddress } from '../../../src/core/address.js';
import { memoryMatrixAdapter } from '../../fixtures/matrix-homeserver.js';
import { type AdapterHarness, adapterContract, type FarEndItem } from './suite.js';

const SERVER = 'hs.test';

/** `user@domain` of a Matrix user id; a ghost as the remote user it stands for. */
function userOf(mxid: string): string {
  const [local = '', domain = ''] = mxid.replace(/^@/, '').split(/:(.*)/);
  const remote = fromGhost({ network: 'matrix', user: local, domain }, { serverName: SERVER });
  return remote ? `${remote.user}@${remote.domain}` : `${local}@${domain}`;
}

/** The Matrix user id of a canonical address: its own, or its ghost's. */
function mxidOf(uri: string): string {
  const a = tryParseAddress(uri);
  if (!a) throw new Error(`not an address: ${uri}`);
  const m = a.network === 'matrix' ? a : toGhost(a, 'matrix', { serverName: SERVER });
  return `@${m.user}:${m.domain}`;
}

const harness: AdapterHarness = {
  network: 'matrix',
  domain: SERVER,
  shows: {
    delivered: 'm.room.message m.text',
    // An m.notice from the ghost in the sender's room with it (docs/adapters/matrix.md).
    refused: 'm.room.message m.notice',
    notice: 'm.room.message m.notice',
  },
  whileDown: 'queued',
  kindTable: () =>
    matrixKindTable(() => Promise.reject(new Error('the harness never delivers through this table'))),
  build() {
    const { adapter, hs, transaction } = memoryMatrixAdapter();
    /** The Matrix user of each direct room the harness opened (by inviting a ghost). */
    const userOfRoom = new Map<string, string>();
    /** The harness's direct rooms by `<user> <ghost>`. */
    const rooms = new Map<string, string>();
    let n = 0;
    /** The room's Matrix user: the member who is not the ghost that sent. */
    const recipient = (roomId: string, asUser: string): string =>
      userOfRoom.get(roomId) ?? [...(hs.rooms.get(roomId)?.keys() ?? [])].find((m) => m !== asUser) ?? '';
    const sends = () => hs.calls.filter((c) => c === 'send').length;
    return {
      adapter,
      linkDown: () => {
        hs.down = true;
      },
      linkUp: () => {
        hs.down = false;
      },
      received: () =>
        hs.sent.map(
          (s): FarEndItem => ({
            to: userOf(recipient(s.roomId, s.asUser)),
            from: userOf(s.asUser),
            what: [s.type, s.content.msgtype].filter((x) => typeof x === 'string').join(' '),
            text: typeof s.content.body === 'string' ? s.content.body : '',
          }),
        ),
      hold: () => {
        let release = () => {};
        hs.gate = new Promise<void>((r) => {
          release = r;
        });
        // Sends that reached the homeserver and are not taken yet.
        const unanswered = () => sends() - hs.sent.length;
        const before = unanswered();
        return {
          holding: () => unanswered() > before,
          release: () => {
            hs.gate = null;
            release();
          },
        };
      },
      inject: async (m) => {
        const user = mxidOf(m.from);
        const ghost = mxidOf(m.to);
        const events: unknown[] = [];
        let roomId = rooms.get(`${user} ${ghost}`);
        if (!roomId) {
          roomId = `!contract${++n}:${SERVER}`;
          rooms.set(`${user} ${ghost}`, roomId);
          userOfRoom.set(roomId, user);
          events.push({
            type: 'm.room.member',
            event_id: `$invite${n}`,
            room_id: roomId,
            sender: user,
            state_key: ghost,
            content: { membership: 'invite', is_direct: true },
          });
        }
        const content: Record<string, unknown> = { msgtype: 'm.text', body: m.body };
        if (m.degradable) {
          // Formatting, which a network without rich text gets as plain text.
          content.format = 'org.matrix.custom.html';
          content.formatted_body = `<b>${m.body}</b>`;
        }
        events.push({
          type: 'm.room.message',
          event_id: `$message${++n}`,
          room_id: roomId,
          sender: user,
          origin_server_ts: Date.now(),
          content,
        });
        const res = await transaction(`contract-${n}`, { events });
        if (res.status !== 200) throw new Error(`the appservice answered ${res.status}`);
      },
    };
  },
};

const ran = await adapterContract(t, harness);
t.test('every behaviour of the contract was checked against this adapter, and held', async (t) => {
  t.same(
    ran.map((r) => r.behaviour),
    [
      'deliver',
      'refuse',
      'notice',
      'queued delivery',
      'stop drains',
      'stop drains',
      'capability table honest',
      'capability table honest',
    ],
    'Matrix queues while the homeserver is down',
  );
  t.same(
    ran.filter((r) => !r.ok).map((r) => r.behaviour),
    [],
    'none failed',
  );
});
