/**
 * The text operations behind "--remove gives the file back byte for byte",
 * at the edges a real startup file has: empty, no final newline, the block
 * not last, a second copy of the same text.
 */
import t from 'tap'
import { countBlocks, insertion, withoutInserted } from '../../../shared/setup/shell-block.js'

const BLOCK = '# >>> relaykit setup: ssh >>>\nexport X=1\n# <<< relaykit setup: ssh <<<\n'

t.test('inserting then removing gives back every kind of file exactly', async (t) => {
  for (const original of ['', 'alias a=b\n', 'alias a=b', 'x\n\n\n', '\n']) {
    const inserted = insertion(original, BLOCK)
    const withBlock = original + inserted
    t.ok(withBlock.includes(`\n${BLOCK}`) || original === '', `the block starts on a line of its own after ${JSON.stringify(original)}`)
    t.equal(countBlocks(withBlock, '# >>> relaykit setup: ssh >>>'), 1)
    t.equal(withoutInserted(withBlock, inserted), original, JSON.stringify(original))
  }
})

t.test('lines the user added after the block stay when it goes', async (t) => {
  const inserted = insertion('a\n', BLOCK)
  t.equal(withoutInserted(`a\n${inserted}later\n`, inserted), 'a\nlater\n')
})

t.test('an edited block is not found: undefined, not a guess', async (t) => {
  const inserted = insertion('a\n', BLOCK)
  t.equal(withoutInserted('a\n' + inserted.replace('X=1', 'X=2'), inserted), undefined)
})

t.test('a marker line counts only as a whole line', async (t) => {
  t.equal(countBlocks('echo "# >>> relaykit setup: ssh >>>"\n', '# >>> relaykit setup: ssh >>>'), 0)
  t.equal(countBlocks('# >>> relaykit setup: ssh >>>  \n', '# >>> relaykit setup: ssh >>>'), 1, 'trailing blanks do not hide it')
})
