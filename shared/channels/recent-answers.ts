/**
 * Answers kept for a short while, per key, so that many connections made at
 * about the same time share one lookup. For who listens on a 127.0.0.1
 * port on Windows: GetExtendedTcpTable costs 30–80 ms under Wine (it maps
 * every socket to its process), which every Cygwin or libassuan connection
 * would otherwise pay, e.g. each plink login through `relay-listen
 * --pageant -- uds-relay FILE`. A kept answer is as old as `ms` at most: a
 * port that changes hands within that time is the risk accepted, as short
 * as the burst of connections it serves. A failed lookup is not kept.
 */
export function recentAnswers<K, V>(ms: number, lookup: (key: K) => Promise<V>): (key: K) => Promise<V> {
  const kept = new Map<K, { at: number; answer: Promise<V> }>()
  return (key) => {
    const now = Date.now()
    const hit = kept.get(key)
    if (hit && now - hit.at < ms) return hit.answer
    const answer = lookup(key)
    kept.set(key, { at: now, answer })
    answer.catch(() => {
      if (kept.get(key)?.answer === answer) kept.delete(key)
    })
    return answer
  }
}
