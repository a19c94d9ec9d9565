# syntax=docker/dockerfile:1
# The TUG API with its embedded monitoring: compiled dist/, production dependencies only, non-root.
#   docker build -t tug-api .
#   docker run --rm -p 8000:8000 tug-api                    # development defaults
#   docker run --rm tug-api config check                     # any `tug` command
# docker-compose.yml builds this image as the `api` service (docs/operations.md, "The stack").

ARG NODE_IMAGE=node:20.18.1-bookworm-slim

# ---- build: compile TypeScript with the dev dependencies -------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary matches this Node and libc.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- deps: production dependencies only (native modules built here, not in the runtime) -------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime -----------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATABASE_URL=sqlite:/app/data/tug.db \
    LOG_FILE_PATH=/app/logs/application.log
WORKDIR /app
# Code is owned by root and read-only for the app; only data/ and logs/ are writable (and are the
# volumes in docker-compose.yml: a new named volume takes this ownership).
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# The default rule and notification files, found relative to the working directory.
COPY monitoring/alert_rules.yml monitoring/slo_rules.yml monitoring/alertmanager.yml monitoring/escalation.yml ./monitoring/
RUN mkdir -p /app/data /app/logs && chown node:node /app/data /app/logs
USER node
EXPOSE 8000
# Liveness only (never a dependency): the same endpoint as Kubernetes' livenessProbe.
# The slim image has no curl or wget; Node 20's fetch does it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/monitoring/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# bin/tug.js runs dist/ when src/ is absent, as here. SIGTERM starts the graceful shutdown.
ENTRYPOINT ["node", "bin/tug.js"]
CMD ["serve"]
