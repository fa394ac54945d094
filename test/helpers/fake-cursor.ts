import type { Document, FindCursor } from 'mongodb';

// A stand-in for a driver cursor over `docs`, served `batch` at a time: what the reconcile's
// streams use of one (bufferedCount, readBufferedDocuments, hasNext, close). Unit tests only.

export function fakeCursor(docs: Document[], batch = 3): FindCursor<Document> {
  let served = 0;
  let buffer: Document[] = [];
  return {
    bufferedCount: () => buffer.length,
    readBufferedDocuments: (n?: number) => buffer.splice(0, n ?? buffer.length),
    hasNext: async () => {
      if (buffer.length) return true;
      buffer = docs.slice(served, served + batch);
      served += buffer.length;
      return buffer.length > 0;
    },
    close: async () => undefined,
  } as unknown as FindCursor<Document>;
}
