/**
 * The logon entry's command line: each argument must come back whole when
 * Windows splits it (CommandLineToArgvW rules: backslashes are literal
 * unless they precede a quote).
 */
import t from 'tap'
import { logonCommand, windowsQuote } from '../../../shared/setup/windows-plan.js'

/** CommandLineToArgvW's splitting (the MSVCRT rules), enough to read quoted words back. */
function splitWindows(line: string): string[] {
  const out: string[] = []
  let i = 0
  while (i < line.length) {
    while (line[i] === ' ') i++
    if (i >= line.length) break
    let word = ''
    let quoted = false
    for (; i < line.length && (quoted || line[i] !== ' '); i++) {
      let slashes = 0
      while (line[i] === '\\') (slashes++, i++)
      if (line[i] === '"') {
        word += '\\'.repeat(slashes >> 1)
        if (slashes % 2) word += '"'
        else quoted = !quoted
      } else {
        word += '\\'.repeat(slashes)
        if (i < line.length && (quoted || line[i] !== ' ')) word += line[i]
        else i--
      }
    }
    out.push(word)
  }
  return out
}

t.test('words with spaces, quotes and trailing backslashes come back whole', async (t) => {
  for (const word of ['C:\\Program Files\\relaykit\\relaykit.exe', 'plain', 'a "quoted" word', 'C:\\dir with space\\', '//./pipe/openssh-ssh-agent', '']) {
    t.same(splitWindows(windowsQuote(word)), [word], JSON.stringify(word))
  }
})

t.test('the Git Bash entry names the Cygwin file and the relay', async (t) => {
  const argv = logonCommand('C:\\Users\\me\\AppData\\Local\\Programs\\relaykit\\relaykit.exe', { agent: 'pipe', pipe: '//./pipe/openssh-ssh-agent' }, { to: 'cygwin', file: 'C:\\Users\\me\\.ssh\\agent.sock' })
  t.same(splitWindows(argv.map(windowsQuote).join(' ')), argv)
  t.same(argv.slice(1), ['relay-listen', '--background', '--cygwin', 'C:\\Users\\me\\.ssh\\agent.sock', '--', 'npiperelay', '-ei', '-s', '//./pipe/openssh-ssh-agent'])
})
