import { Type } from 'typebox';

// Schemas shared by many routes. IDs are tight patterns: nothing else ever reaches a query.

export const TENANT_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';

export const TenantIdParams = Type.Object(
  { tenantId: Type.String({ pattern: TENANT_ID_PATTERN, maxLength: 64 }) },
  { additionalProperties: false },
);

/** RFC 9457 problem document. */
export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    correlationId: Type.String(),
    instance: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);

/** The error responses every protected route can give. */
export const problemResponses = {
  400: Problem,
  401: Problem,
  403: Problem,
  404: Problem,
  409: Problem,
  422: Problem,
  429: Problem,
  500: Problem,
  503: Problem,
} as const;
