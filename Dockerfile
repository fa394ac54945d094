# syntax=docker/dockerfile:1.7
# One image, two roles (see docker-compose.yml):
#   API (default):  node --import tsx api/server.ts
#   worker:         node --import tsx workers/worker.ts
# (node with tsx's loader, not the tsx CLI: the CLI would stand between the container's
# SIGTERM and the program and SIGKILL it when it does not acknowledge within 30 ms.)
# The entry points run TypeScript through tsx, which is a devDependency. So the deps stage
# installs everything with `npm ci` and then removes the dev-only packages (as the lockfile
# marks them) except tsx and pino-pretty with what they depend on: the result is
# `npm ci --omit=dev` plus tsx (and LOG_PRETTY=true still works), without typescript,
# vitest or @temporalio/testing.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- deps: production node_modules + tsx ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci
RUN node --input-type=module <<'EOF'
import fs from 'node:fs';
const lock = JSON.parse(fs.readFileSync('package-lock.json', 'utf8')).packages;
// npm's nested layout: look in <dir>/node_modules/<name>, then in each enclosing package.
const resolve = (from, name) => {
  for (let dir = from; ; ) {
    const p = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (lock[p]) return p;
    if (!dir) return undefined;
    const i = dir.lastIndexOf('/node_modules/');
    dir = i < 0 ? '' : dir.slice(0, i);
  }
};
const keep = new Set();
const todo = ['node_modules/tsx', 'node_modules/pino-pretty'];
while (todo.length) {
  const p = todo.pop();
  if (keep.has(p) || !lock[p]) continue;
  keep.add(p);
  const e = lock[p];
  for (const n of Object.keys({ ...e.dependencies, ...e.optionalDependencies, ...e.peerDependencies })) {
    const d = resolve(p, n);
    if (d) todo.push(d);
  }
}
if (!keep.has('node_modules/tsx')) throw new Error('tsx is not in package-lock.json');
let removed = 0;
for (const [p, e] of Object.entries(lock)) {
  if (e.dev && !keep.has(p) && fs.existsSync(p)) {
    fs.rmSync(p, { recursive: true, force: true });
    removed++;
  }
}
for (const b of fs.readdirSync('node_modules/.bin')) {
  if (!fs.existsSync(`node_modules/.bin/${b}`)) fs.rmSync(`node_modules/.bin/${b}`); // dangling link
}
console.log(`removed ${removed} dev-only packages; kept tsx and pino-pretty`);
EOF
RUN node_modules/.bin/tsx --version

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
# HOST=0.0.0.0: inside a container the API must listen beyond loopback (publish the port on
# 127.0.0.1 on the host instead). No secrets here: AUTH_JWT_SECRET comes from the environment.
# MALLOC_ARENA_MAX=2: fewer glibc malloc arenas for the worker's many threads (infra/dev/ts-entry.ts).
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    HOST=0.0.0.0 \
    PORT=3000 \
    npm_config_update_notifier=false
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# Sources last, so a code change does not reinstall dependencies (.dockerignore keeps
# node_modules, .tools, .data, .git, .env and test output out of the context).
COPY . .
# The worker's workflow bundle, built once here: a worker reads it (WORKFLOW_BUNDLE_PATH) instead
# of running webpack at every start (the API ignores it).
RUN node --import tsx workers/build-workflow-bundle.ts dist/workflow-bundle.js
ENV WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js
USER node
EXPOSE 3000
# Liveness of the API (no curl in the slim image). The worker serves no HTTP: compose
# disables this check for it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--import", "tsx", "api/server.ts"]
