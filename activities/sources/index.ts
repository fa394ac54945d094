import { createHttpSource } from './http-source';
import { createMongoSource } from './mongo-source';
import { DEFAULT_OUTBOUND, type OutboundPolicy } from './outbound';
import type { SourceConnector, SourceSpec } from './types';

// One entry point from a tenant's source spec to its connector.

export * from './types';
export { createHttpSource } from './http-source';
export { createMongoSource } from './mongo-source';
export { DEFAULT_OUTBOUND, outboundFromConfig, type OutboundPolicy } from './outbound';

/** A connector for the spec's kind under the outbound policy; the caller closes it. */
export function createSource(spec: SourceSpec, policy: OutboundPolicy = DEFAULT_OUTBOUND): SourceConnector {
  switch (spec.kind) {
    case 'http':
      return createHttpSource(spec.settings, policy);
    case 'mongodb':
      return createMongoSource(spec.settings, policy);
    default: {
      const unknown: never = spec;
      throw new TypeError(`unknown source kind: ${(unknown as { kind: string }).kind}`);
    }
  }
}
