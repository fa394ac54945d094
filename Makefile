# The two commands of the README: `make up` (embedded stack + main job) and `make test`.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin

.PHONY: up test tools chromium deps typecheck lint clean-data

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json

tools: deps
	node --import tsx infra/dev/ensure-tools.ts

up: tools
	node --import tsx workers/dev/up.ts

chromium:
	infra/dev/ensure-chromium.sh

test: tools chromium
	npx tsc --noEmit -p .
	$(MAKE) --no-print-directory lint
	npx vitest run

# Type-aware ESLint (eslint.config.js; the cache, git-ignored under node_modules/, re-lints changed files only), then
# Prettier's check (.prettierrc.json, .prettierignore).
lint: deps
	npx eslint --cache --cache-location node_modules/.cache/eslint/ .
	npx prettier --check .

typecheck: deps
	npx tsc --noEmit -p .

clean-data:
	rm -rf .data
