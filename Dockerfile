# syntax=docker/dockerfile:1
# One image for all five services; pick one with the SERVICE build arg or by overriding the command.
#   docker build --build-arg SERVICE=policy -t warden-policy .
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# manifests first, so the dependency layer is reused until a package.json or the lockfile changes
COPY package.json package-lock.json ./
COPY libs/kernel/package.json libs/kernel/
COPY libs/contracts/package.json libs/contracts/
COPY libs/observability/package.json libs/observability/
COPY libs/bus/package.json libs/bus/
COPY libs/persistence/package.json libs/persistence/
COPY libs/identity/package.json libs/identity/
COPY libs/runtime/package.json libs/runtime/
COPY libs/testing/package.json libs/testing/
COPY libs/policy-language/package.json libs/policy-language/
COPY libs/cli/package.json libs/cli/
COPY services/ingest/package.json services/ingest/
COPY services/policy/package.json services/policy/
COPY services/orchestrator/package.json services/orchestrator/
COPY services/approvals/package.json services/approvals/
COPY services/workers/package.json services/workers/
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json tsconfig.build.json ./
COPY libs libs
COPY services services
COPY tools/bundle-sandbox.js tools/
RUN npx tsc -b tsconfig.build.json \
 && node tools/bundle-sandbox.js \
 && npm prune --omit=dev --no-audit --no-fund \
 && find libs services -name '*.tsbuildinfo' -delete

FROM ${NODE_IMAGE} AS runtime
ARG SERVICE=ingest
ENV NODE_ENV=production \
    SERVICE=${SERVICE} \
    WARDEN_WORKSPACE=/app/var/workspace
WORKDIR /app
# workers run git.* tools (git) in sandboxes (prlimit/unshare/setpriv: util-linux, already in the image)
RUN if [ "$SERVICE" = workers ]; then \
      apt-get update && apt-get install -y --no-install-recommends git ca-certificates \
      && rm -rf /var/lib/apt/lists/*; \
    fi
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/libs libs
COPY --from=build /app/services services
COPY deploy/policies deploy/policies
RUN mkdir -p var/workspace && chown -R node:node var
USER node
EXPOSE 7101 7102 7103 7104 7105
# shell form so $SERVICE expands; exec so the service gets SIGTERM directly
CMD ["sh", "-c", "exec node services/$SERVICE/dist/main.js"]
