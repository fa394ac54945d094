import fp from 'fastify-plugin';
import type { TemporalHandle } from '../../infra/temporal';

// The Temporal client as `app.temporal` (undefined when TEMPORAL_ENABLED=false); with `close` the app owns it.

declare module 'fastify' {
  interface FastifyInstance {
    temporal: TemporalHandle | undefined;
  }
}

export interface TemporalPluginOptions {
  /** The lazy client (infra/temporal.ts createTemporalClient); absent: Temporal is off. */
  temporal?: TemporalHandle;
  /** Close its connection when the app closes. @default false (its creator closes it) */
  close?: boolean;
}

export default fp<TemporalPluginOptions>(
  async (app, o) => {
    app.decorate('temporal', o.temporal);
    const { temporal } = o;
    const close = async () => temporal?.close().catch((err: unknown) => app.log.warn({ err }, 'temporal close failed'));
    if (o.close && temporal) app.addHook('onClose', close);
  },
  { name: 'temporal' },
);
