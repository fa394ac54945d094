import type { Collection, Document, Filter } from 'mongodb';
import { encodeCursor, pageOf, type Page, type PageKey, type PageRequest } from '../../shared/paging';

// One page of a collection in `_id` order (shared/paging.ts). On FerretDB only `_id` equality is
// an index read, so a page is one bounded read of `limit + 1` rows after the cursor, never an
// offset (which would rescan every earlier row) and never a sort on another field. Rows inserted
// while a caller pages land before or after its cursor by their `_id`: rows present from the
// start appear exactly once.

export interface PageByIdOptions<T> {
  /** Count every matching row for `page.total`: only for small collections (tenants, clients). */
  total?: boolean;
  /**
   * Rows the filter cannot exclude (a token's reach over nested fields): read on in `_id` order
   * until the page is full, so a page never comes back short while more visible rows exist.
   */
  accept?: (row: T) => boolean;
  projection?: Document;
}

/** Most rows one page reads while `accept` drops rows (a bound on a token that sees few). */
const SCAN_BOUND = 5_000;

export async function pageById<T extends { _id: PageKey }>(
  col: Collection<T>,
  filter: Filter<T>,
  req: PageRequest,
  o: PageByIdOptions<T> = {},
): Promise<Page<T>> {
  const read = async (after: PageKey | undefined, n: number): Promise<T[]> => {
    const idRange = after === undefined ? {} : { _id: { $gt: after } };
    const f = { $and: [filter, idRange] } as unknown as Filter<T>;
    const cursor = col.find(f, o.projection ? { projection: o.projection } : {});
    return (await cursor.sort({ _id: 1 }).limit(n).toArray()) as T[];
  };
  const want = req.limit + 1;
  const rows: T[] = [];
  let after = req.after;
  let scanned = 0;
  let more = false;
  for (;;) {
    const batch = await read(after, want);
    scanned += batch.length;
    for (const r of batch) if (!o.accept || o.accept(r)) rows.push(r);
    more = batch.length === want;
    if (batch.length > 0) after = batch.at(-1)!._id;
    if (!more || rows.length >= want || scanned >= SCAN_BOUND) break;
  }
  const page = pageOf(rows, req, (r) => r._id);
  // Stopped at the scan bound with rows left unread: the next page goes on after the last row read.
  if (rows.length < want && more && after !== undefined) {
    page.page.hasNext = true;
    page.page.nextCursor = encodeCursor(after);
  }
  if (o.total) page.page.total = await col.countDocuments(filter);
  return page;
}
