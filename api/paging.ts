import { Type, type TSchema } from 'typebox';
import { PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX } from '../shared/paging';

// The query fields and the answer shape every list endpoint shares (shared/paging.ts): the
// OpenAPI document shows one paging contract.

/** `?limit&cursor`, spread into a route's querystring schema. */
export const PageQueryFields = {
  limit: Type.Optional(
    Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: `rows per page, 1..${PAGE_LIMIT_MAX} (default ${PAGE_LIMIT_DEFAULT})` }),
  ),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 1400, description: 'page.nextCursor of the previous page (opaque)' })),
};

export const PageInfoSchema = Type.Object({
  limit: Type.Integer(),
  nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'pass as ?cursor for the next page; null on the last' }),
  hasNext: Type.Boolean(),
  hasPrev: Type.Boolean({ description: 'a cursor was given: rows come before this page' }),
  total: Type.Optional(Type.Integer({ description: 'all matching rows (small lists only)' })),
});

/** `{items, page}` of `item`. */
export const PageSchema = <T extends TSchema>(item: T) => Type.Object({ items: Type.Array(item), page: PageInfoSchema });
