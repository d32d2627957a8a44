import t from 'tap';
import {
  messageFromMatrix,
  messageToMatrix,
  presenceFromMatrix,
  presenceToMatrix,
  readReceipts,
  stripReplyFallback,
  typingUsers,
} from '../../../src/adapters/matrix/translate.js';
import type { MessageEvent } from '../../../src/core/model.js';

const base: MessageEvent = {
  kind: 'message',
  id: 'm1',
  time: '2026-11-25T10:00:00.000Z',
  from: 'xmpp:bob@corp.test',
  to: 'matrix:u/alice:hs.test',
  adapter: 'corp',
  traceId: 't1',
  body: 'hi',
};

t.test('m.text, m.notice, m.emote and formatted bodies', async (t) => {
  t.same(messageFromMatrix({ msgtype: 'm.text', body: 'hi' }), { body: 'hi' });
  t.same(
    messageFromMatrix({
      msgtype: 'm.text',
      body: 'hi *x*',
      format: 'org.matrix.custom.html',
      formatted_body: 'hi <b>x</b>',
    }),
    { body: 'hi *x*', html: 'hi <b>x</b>' },
  );
  t.same(messageFromMatrix({ msgtype: 'm.text', body: 'x', format: 'other', formatted_body: '<b>x</b>' }), {
    body: 'x',
  });
  t.same(messageFromMatrix({ msgtype: 'm.notice', body: 'n' }), { body: 'n', style: 'notice' });
  t.same(messageFromMatrix({ msgtype: 'm.emote', body: 'waves' }), { body: 'waves', style: 'emote' });
  t.same(messageFromMatrix({ msgtype: 'm.location', body: 'geo fallback', geo_uri: 'geo:1,2' }), {
    body: 'geo fallback',
  });
});

t.test('malformed or redacted contents translate to nothing', async (t) => {
  t.equal(messageFromMatrix({}), null);
  t.equal(messageFromMatrix({ msgtype: 'm.text' }), null);
  t.equal(messageFromMatrix({ msgtype: 'm.text', body: 42 }), null);
  t.equal(messageFromMatrix({ body: 'no msgtype' }), null);
  t.equal(messageFromMatrix({ msgtype: 'm.text', body: 'x', 'm.relates_to': 'nonsense' })?.body, 'x');
});

t.test('edits take the new content; replies lose their fallback', async (t) => {
  t.same(
    messageFromMatrix({
      msgtype: 'm.text',
      body: '* fixed',
      'm.new_content': {
        msgtype: 'm.text',
        body: 'fixed',
        format: 'org.matrix.custom.html',
        formatted_body: '<i>fixed</i>',
      },
      'm.relates_to': { rel_type: 'm.replace', event_id: '$orig' },
    }),
    { body: 'fixed', html: '<i>fixed</i>', replaces: '$orig' },
  );
  t.same(
    messageFromMatrix({
      msgtype: 'm.text',
      body: '> <@bob:hs.test> question\n> more\n\nanswer',
      format: 'org.matrix.custom.html',
      formatted_body: '<mx-reply><blockquote>question</blockquote></mx-reply>answer',
      'm.relates_to': { 'm.in_reply_to': { event_id: '$q' } },
    }),
    { body: 'answer', html: 'answer', replyTo: '$q' },
  );
  t.equal(stripReplyFallback('no fallback'), 'no fallback');
  t.equal(stripReplyFallback('> a\n\nb\nc'), 'b\nc');
});

t.test('attachments become descriptors with their mxc link', async (t) => {
  t.same(
    messageFromMatrix({
      msgtype: 'm.image',
      body: 'cat.png',
      url: 'mxc://hs.test/a',
      info: { mimetype: 'image/png', size: 10 },
    }),
    { body: '', attachments: [{ mime: 'image/png', size: 10, name: 'cat.png', url: 'mxc://hs.test/a' }] },
  );
  t.same(
    messageFromMatrix({ msgtype: 'm.file', body: 'see this', filename: 'r.pdf', url: 'mxc://hs.test/b' }),
    {
      body: 'see this',
      attachments: [{ mime: 'application/octet-stream', name: 'r.pdf', url: 'mxc://hs.test/b' }],
    },
    'a caption stays the body',
  );
  t.same(
    messageFromMatrix({
      msgtype: 'm.video',
      body: 'v',
      file: { url: 'mxc://hs.test/enc' },
      info: { size: -1 },
    }),
    { body: '', attachments: [{ mime: 'video/*', name: 'v', url: 'mxc://hs.test/enc' }] },
  );
});

t.test('canonical messages to Matrix events', async (t) => {
  t.same(messageToMatrix(base, {}), [{ type: 'm.room.message', content: { msgtype: 'm.text', body: 'hi' } }]);
  t.same(messageToMatrix({ ...base, html: '<b>hi</b>', style: 'notice' }, {})[0]?.content, {
    msgtype: 'm.notice',
    body: 'hi',
    format: 'org.matrix.custom.html',
    formatted_body: '<b>hi</b>',
  });
  t.equal(messageToMatrix({ ...base, style: 'emote' }, {})[0]?.content.msgtype, 'm.emote');
  const edit = messageToMatrix({ ...base, body: 'fixed', replaces: 'm0' }, { replaces: '$orig' })[0]?.content;
  t.same(edit, {
    msgtype: 'm.text',
    body: '* fixed',
    'm.new_content': { msgtype: 'm.text', body: 'fixed' },
    'm.relates_to': { rel_type: 'm.replace', event_id: '$orig' },
  });
  const reply = messageToMatrix({ ...base, replyTo: 'x' }, { replyTo: '$q' })[0]?.content;
  t.same(reply?.['m.relates_to'], { 'm.in_reply_to': { event_id: '$q' } });
});

t.test('attachments: mxc links as m.image/m.file, other links in the text', async (t) => {
  const out = messageToMatrix(
    {
      ...base,
      body: 'files',
      html: '<p>files</p>',
      attachments: [
        { mime: 'image/png', name: 'a.png', size: 3, url: 'mxc://hs.test/a' },
        { mime: 'application/pdf', name: 'b.pdf', url: 'https://x.test/b.pdf' },
        { mime: 'audio/ogg', url: 'mxc://hs.test/c' },
      ],
    },
    {},
  );
  t.same(out, [
    {
      type: 'm.room.message',
      content: {
        msgtype: 'm.text',
        body: 'files\nb.pdf: https://x.test/b.pdf',
        format: 'org.matrix.custom.html',
        formatted_body: '<p>files</p><br>b.pdf: https://x.test/b.pdf',
      },
    },
    {
      type: 'm.room.message',
      content: {
        msgtype: 'm.image',
        body: 'a.png',
        url: 'mxc://hs.test/a',
        info: { mimetype: 'image/png', size: 3 },
      },
    },
    {
      type: 'm.room.message',
      content: {
        msgtype: 'm.audio',
        body: 'attachment',
        url: 'mxc://hs.test/c',
        info: { mimetype: 'audio/ogg' },
      },
    },
  ]);
  const onlyFile = messageToMatrix(
    { ...base, body: '', attachments: [{ mime: 'text/plain', url: 'mxc://h/x' }] },
    {},
  );
  t.equal(onlyFile.length, 1, 'no empty text event');
  t.equal(onlyFile[0]?.content.msgtype, 'm.file');
});

t.test('presence both ways', async (t) => {
  t.same(presenceFromMatrix({ presence: 'online' }), { show: 'available' });
  t.same(presenceFromMatrix({ presence: 'unavailable', status_msg: 'lunch' }), {
    show: 'away',
    status: 'lunch',
  });
  t.same(presenceFromMatrix({ presence: 'offline' }), { show: 'offline' });
  t.equal(presenceFromMatrix({ presence: 'org.matrix.msc3026.busy' })?.show, 'dnd');
  t.equal(presenceFromMatrix({ presence: 'weird' }), null);
  t.equal(presenceFromMatrix({}), null);
  const withAgo = presenceFromMatrix({ presence: 'online', last_active_ago: 1000 });
  t.ok(withAgo?.lastActive && Date.parse(withAgo.lastActive) <= Date.now() - 1000);
  t.same(presenceToMatrix({ show: 'available' }), { presence: 'online' });
  t.same(presenceToMatrix({ show: 'away', status: 'brb' }), { presence: 'unavailable', status_msg: 'brb' });
  t.same(presenceToMatrix({ show: 'xa' }), { presence: 'unavailable' });
  t.same(presenceToMatrix({ show: 'dnd' }), { presence: 'unavailable', status_msg: 'Do not disturb' });
  t.same(presenceToMatrix({ show: 'offline' }), { presence: 'offline' });
});

t.test('receipts and typing contents', async (t) => {
  t.same(
    readReceipts({
      $a: { 'm.read': { '@alice:hs.test': { ts: 1 } }, 'm.read.private': { '@bob:hs.test': {} } },
      $b: 'junk',
      $c: { 'm.read': 'junk' },
    }),
    [
      { eventId: '$a', userId: '@alice:hs.test' },
      { eventId: '$a', userId: '@bob:hs.test' },
    ],
  );
  t.same(typingUsers({ user_ids: ['@a:h', 3, '@b:h'] }), ['@a:h', '@b:h']);
  t.same(typingUsers({ user_ids: 'x' }), []);
});
