import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NameFlags, NameRegistry, ReleaseNameReply, RequestNameReply } from './name-registry.js';

const { ALLOW_REPLACEMENT, REPLACE_EXISTING, DO_NOT_QUEUE } = NameFlags;

describe('name registry', () => {
  it('makes the first requester primary owner and queues the next', () => {
    const r = new NameRegistry<string>();
    assert.deepEqual(r.request('a.b', 'A', 0), { reply: RequestNameReply.PRIMARY_OWNER, change: { name: 'a.b', from: undefined, to: 'A' } });
    assert.deepEqual(r.request('a.b', 'A', 0), { reply: RequestNameReply.ALREADY_OWNER });
    assert.deepEqual(r.request('a.b', 'B', 0), { reply: RequestNameReply.IN_QUEUE });
    assert.deepEqual(r.request('a.b', 'C', DO_NOT_QUEUE), { reply: RequestNameReply.EXISTS });
    assert.deepEqual(r.queueOf('a.b'), ['A', 'B']);
  });

  it('replaces an owner only when it allowed replacement and the caller asked, putting it back at the head of the queue', () => {
    const r = new NameRegistry<string>();
    r.request('a.b', 'A', 0);
    assert.equal(r.request('a.b', 'B', REPLACE_EXISTING).reply, RequestNameReply.IN_QUEUE);
    r.request('a.b', 'A', ALLOW_REPLACEMENT);
    const res = r.request('a.b', 'C', REPLACE_EXISTING);
    assert.equal(res.reply, RequestNameReply.PRIMARY_OWNER);
    assert.deepEqual(res.change, { name: 'a.b', from: 'A', to: 'C' });
    assert.deepEqual(r.queueOf('a.b'), ['C', 'A', 'B']);
  });

  it('drops a replaced owner that had DO_NOT_QUEUE', () => {
    const r = new NameRegistry<string>();
    r.request('a.b', 'A', ALLOW_REPLACEMENT | DO_NOT_QUEUE);
    r.request('a.b', 'B', REPLACE_EXISTING);
    assert.deepEqual(r.queueOf('a.b'), ['B']);
    assert.equal(r.countOf('A'), 0);
  });

  it('does not remember REPLACE_EXISTING, and a DO_NOT_QUEUE request leaves the queue', () => {
    const r = new NameRegistry<string>();
    r.request('a.b', 'A', 0);
    r.request('a.b', 'B', 0);
    assert.equal(r.request('a.b', 'B', DO_NOT_QUEUE).reply, RequestNameReply.EXISTS);
    assert.deepEqual(r.queueOf('a.b'), ['A']);
  });

  it('hands the name to the next in the queue on release and on removal, in name order', () => {
    const r = new NameRegistry<string>();
    r.request('a.b', 'A', 0);
    r.request('a.b', 'B', 0);
    r.request('a.c', 'A', 0);
    assert.deepEqual(r.release('a.x', 'A'), { reply: ReleaseNameReply.NON_EXISTENT });
    assert.deepEqual(r.release('a.b', 'C'), { reply: ReleaseNameReply.NOT_OWNER });
    assert.deepEqual(r.removeOwner('A'), [{ name: 'a.b', from: 'A', to: 'B' }, { name: 'a.c', from: 'A', to: undefined }]);
    assert.equal(r.ownerOf('a.b'), 'B');
    assert.equal(r.ownerOf('a.c'), undefined);
    assert.deepEqual(r.release('a.b', 'B'), { reply: ReleaseNameReply.RELEASED, change: { name: 'a.b', from: 'B', to: undefined } });
  });
});
