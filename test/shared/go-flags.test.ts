import t from 'tap'
import { FlagError, type FlagSpec, formatFlags, parseGoFlags } from '../../shared/go-flags.js'

const specs: FlagSpec[] = [
  { name: 'ei', type: 'boolean', help: 'exit on stdin EOF' },
  { name: 'p', type: 'boolean', help: 'poll' },
  { name: 'logfile', type: 'string', help: 'log here', value: 'PATH' },
  { name: 'v', type: 'boolean', help: 'verbose', aliases: ['verbose'] },
]

t.test('single and double dash are the same flag', async (t) => {
  for (const argv of [['-ei', 'x'], ['--ei', 'x'], ['-ei=true', 'x'], ['--ei=1', 'x'], ['-ei=T', 'x']]) {
    const r = parseGoFlags(argv, specs)
    t.equal(r.flags.ei, true, argv.join(' '))
    t.same(r.positionals, ['x'])
  }
})

t.test('booleans take =false but never the next argument', async (t) => {
  t.equal(parseGoFlags(['-ei=false', 'x'], specs).flags.ei, false)
  t.equal(parseGoFlags(['-ei=0', 'x'], specs).flags.ei, false)
  const r = parseGoFlags(['-ei', 'false'], specs)
  t.equal(r.flags.ei, true)
  t.same(r.positionals, ['false'], '"false" after a bare boolean is a positional, as in Go')
  t.throws(() => parseGoFlags(['-ei=yes'], specs), /invalid boolean value "yes" for -ei/)
})

t.test('no combined short flags: -eip is one unknown flag', async (t) => {
  t.throws(() => parseGoFlags(['-eip', 'x'], specs), new FlagError('flag provided but not defined: -eip'))
})

t.test('string flags take the next argument whatever it looks like', async (t) => {
  t.equal(parseGoFlags(['-logfile', '-weird', 'x'], specs).flags.logfile, '-weird')
  t.equal(parseGoFlags(['--logfile=a=b', 'x'], specs).flags.logfile, 'a=b')
  t.equal(parseGoFlags(['-logfile', 'a', '-logfile', 'b'], specs).flags.logfile, 'b', 'last one wins')
  t.throws(() => parseGoFlags(['-logfile'], specs), /flag needs an argument: -logfile/)
})

t.test('flags stop at the first positional and at --', async (t) => {
  const r = parseGoFlags(['-p', 'pipe', '-ei'], specs)
  t.equal(r.flags.ei, false)
  t.same(r.positionals, ['pipe', '-ei'])
  t.same(parseGoFlags(['--', '-p'], specs).positionals, ['-p'])
  t.same(parseGoFlags(['-', 'x'], specs).positionals, ['-', 'x'], 'a lone dash is a positional')
})

t.test('aliases, help and defaults', async (t) => {
  t.equal(parseGoFlags(['-verbose'], specs).flags.v, true)
  t.equal(parseGoFlags([], specs).flags.v, false)
  t.equal(parseGoFlags([], specs).flags.logfile, undefined)
  t.equal(parseGoFlags(['-h'], specs).help, true)
  t.equal(parseGoFlags(['--help'], specs).help, true)
  t.throws(() => parseGoFlags(['---x'], specs), /bad flag syntax/)
  t.match(formatFlags(specs), /-logfile PATH\n\s+\tlog here/)
  t.match(formatFlags(specs), /-v, -verbose/)
})
