/**
 * What the robustness report expects: each suite, the test files that make
 * it, and the figures it must report. A file missing from a run, or a figure
 * nobody recorded, shows as "not run" instead of quietly leaving a gap.
 */
import type { ExpectedSuite } from './robustness-summary.js'

const loadPaths = ['ssh-agent via relay-listen (in-process)', 'ssh-agent via relay-listen (spawn)', 'ssh-agent via relay-listen (in-process --agent)', 'ssh-agent via relay-listen (mux)', 'Pageant (Wine) via relay-listen --mux']

export const ROBUSTNESS_SUITES: readonly ExpectedSuite[] = [
  {
    suite: 'fuzz',
    files: ['test/robustness/fuzz.test.ts'],
    figures: [
      'frame parser: valid streams',
      'frame parser: messages checked',
      'frame parser: random byte inputs',
      'frame parser: edge lengths x splits',
      'agent relay: sessions',
      'agent relay: requests',
      'byte pump: streams',
      'mux parser: inputs',
    ],
  },
  {
    suite: 'faults',
    // Pageant killed mid-session is a fault case of the pageant-relay suite.
    files: ['test/robustness/faults.test.ts', 'test/relays/pageant-relay/wine.test.ts'],
    figures: ['injected', 'survived'],
  },
  {
    suite: 'load',
    files: ['test/robustness/load.test.ts'],
    figures: loadPaths.flatMap((p) => [`${p}: requests`, `${p}: failures`, `${p}: leaked fds`, `${p}: leaked processes`]),
  },
  {
    suite: 'security',
    files: ['test/robustness/security.test.ts'],
    figures: ['verbose logs searched for key material', 'encodings searched', 'secrets found', 'objects whose access was read back'],
  },
]
