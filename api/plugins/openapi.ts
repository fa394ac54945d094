import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

// OpenAPI generated from the route schemas; UI at /docs, JSON at /docs/json.

export default fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        info: {
          title: 'sync-orchestrator API',
          version: '1.0.0',
          description: 'Tenant sync at login and the data operations behind it, as durable Temporal workflows.',
        },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
        security: [{ bearer: [] }],
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  },
  { name: 'openapi' },
);
