import { Type, type Static } from 'typebox';

// Schemas shared by many routes. IDs are tight patterns: nothing else ever reaches a query.

export const TENANT_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';

export const TenantIdParams = Type.Object(
  { tenantId: Type.String({ pattern: TENANT_ID_PATTERN, maxLength: 64 }) },
  { additionalProperties: false },
);

/**
 * RFC 9457 problem document, shared by $id: registered once (api/plugins/openapi.ts), so every
 * error answer refers to it and the document holds it once, as components.schemas.Problem.
 */
export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    correlationId: Type.String(),
    instance: Type.Optional(Type.String()),
  },
  { $id: 'Problem', additionalProperties: true },
);
export type ProblemBody = Static<typeof Problem>;

/** The schemas routes refer to by $id (Type.Ref), added to the app before any route. */
export const sharedSchemas = [Problem] as const;

/** An error answer: a Problem, as the error handler sends it (application/problem+json). */
export const problemResponse = (description: string) =>
  ({
    description,
    content: { 'application/problem+json': { schema: Type.Unsafe<ProblemBody>(Type.Ref('Problem')) } },
  }) as const;

/** The error responses every protected route can give. */
export const problemResponses = {
  400: problemResponse('Invalid request: a parameter, the body or the Idempotency-Key'),
  401: problemResponse('No valid bearer token'),
  403: problemResponse('The token lacks the scope or the tenant'),
  404: problemResponse('Not found'),
  409: problemResponse('Conflicts with the current state, or the same Idempotency-Key is still running'),
  422: problemResponse('Unprocessable, or an Idempotency-Key reused with another payload'),
  429: problemResponse('Rate limited: retry after Retry-After seconds'),
  500: problemResponse('Unexpected error: quote the correlationId'),
  503: problemResponse('A dependency is unavailable: retry later'),
} as const;
