# syntax=docker/dockerfile:1
# Image for the lifecycle orchestrator: one image, two processes (API by default, worker by command).
#   docker build -t lifecycle-orchestrator .
#   docker run ... lifecycle-orchestrator                              # API
#   docker run ... lifecycle-orchestrator npx tsx src/worker/main.ts   # worker
# Base: the official Node image, pinned to a 20.x patch that satisfies "engines.node >=20.19" (mongoose 9).
# node:20.20.2-bookworm-slim is the same Node release this project is developed and tested on.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# ---- deps: production dependencies only --------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# The postinstall hook (scripts/install-servers.sh) installs the local Temporal CLI and FerretDB for
# development; in an image that talks to real servers it is skipped with this flag.
ENV LIFECYCLE_SKIP_SERVERS=1
COPY package.json package-lock.json ./
COPY scripts/install-servers.sh scripts/install-servers.sh
# tsx is a runtime dependency (the processes run TypeScript directly), so --omit=dev keeps everything needed.
RUN npm ci --omit=dev --no-audit --no-fund \
  && npm cache clean --force

# ---- runtime ------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    LIFECYCLE_SKIP_SERVERS=1 \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
# Files stay owned by root (read-only to the process); the process runs as the image's unprivileged "node" user.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY definitions ./definitions
USER node
EXPOSE 3000
# Worker: override the command with `npx tsx src/worker/main.ts` (docker-compose.yml does).
CMD ["npx", "tsx", "src/api/main.ts"]
