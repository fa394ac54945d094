import { createHttpSource } from './http-source';
import { createMongoSource } from './mongo-source';
import type { SourceConnector, SourceSpec } from './types';

// One entry point from a tenant's source spec to its connector.

export * from './types';
export { createHttpSource } from './http-source';
export { createMongoSource } from './mongo-source';

/** A connector for the spec's kind; the caller closes it. */
export function createSource(spec: SourceSpec): SourceConnector {
  switch (spec.kind) {
    case 'http':
      return createHttpSource(spec.settings);
    case 'mongodb':
      return createMongoSource(spec.settings);
    default: {
      const unknown: never = spec;
      throw new TypeError(`unknown source kind: ${(unknown as { kind: string }).kind}`);
    }
  }
}
