import { createHash } from 'node:crypto'
import t from 'tap'
import { discoverPageantPipeName, pageantNameBlock, pageantPipeName } from '../../../../shared/channels/pageant/pipe-name.js'

t.test('the block is "Pageant" and nine NULs', async (t) => {
  t.same([...pageantNameBlock()], [...Buffer.from('Pageant'), 0, 0, 0, 0, 0, 0, 0, 0, 0])
})

t.test('the name hashes the length-prefixed encrypted block', async (t) => {
  const block = Buffer.alloc(16, 0xab)
  const expected = createHash('sha256').update(Buffer.from([0, 0, 0, 16])).update(block).digest('hex')
  t.equal(pageantPipeName('alice', block), `\\\\.\\pipe\\pageant.alice.${expected}`)
})

t.test('the encryption step is really used (Wine makes it a no-op, Windows does not)', async (t) => {
  const protectedBlocks: Buffer[] = []
  const name = await discoverPageantPipeName({
    userName: async () => 'bob',
    protect: async (block) => {
      t.same(block, pageantNameBlock(), 'protect gets the plain block')
      const out = Buffer.from(block.map((b) => b ^ 0x5a))
      protectedBlocks.push(out)
      return out
    },
  })
  t.equal(protectedBlocks.length, 1, 'CryptProtectMemory called once')
  t.equal(name, pageantPipeName('bob', protectedBlocks[0] as Buffer))
  t.not(name, pageantPipeName('bob', pageantNameBlock()), 'the unencrypted block would give another name')
})
