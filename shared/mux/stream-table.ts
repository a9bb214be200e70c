/**
 * The open streams of a mux session by id, kept so that a stream that has
 * closed leaves nothing behind, not even for a while.
 *
 * Not a `Map`: a Map whose entries come and go one by one (every stream
 * adds one and removes it) reallocates its hash table every few changes, and
 * V8 links each table it replaces to its successor, entries and all, so
 * that live iterators can follow. Once one of those dead tables has been
 * promoted to the old generation it keeps its successor alive through every
 * young-generation collection, which gets promoted in turn, and so on: the
 * chain, and every stream in it with all its relay's state, piles up in the
 * old generation until the next full collection. The mux process grew by
 * about 180 bytes per stream that way (and its young generation to the
 * maximum). An object's integer-keyed elements reallocate too, but nothing
 * links the old store to the new one.
 */
export class StreamTable<T> {
  #byId: Record<number, T> = Object.create(null) as Record<number, T>
  #size = 0

  get size(): number {
    return this.#size
  }

  get(id: number): T | undefined {
    return this.#byId[id]
  }

  set(id: number, value: T): void {
    if (this.#byId[id] === undefined) this.#size++
    this.#byId[id] = value
  }

  delete(id: number): boolean {
    if (this.#byId[id] === undefined) return false
    delete this.#byId[id]
    this.#size--
    return true
  }

  values(): T[] {
    return Object.values(this.#byId)
  }

  clear(): void {
    this.#byId = Object.create(null) as Record<number, T>
    this.#size = 0
  }
}
