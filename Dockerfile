# Parley's container image: build with `docker build -t parley .`
# Runtime: the current Node LTS (24) on Debian slim, a non-root user, production
# dependencies only (the SQLite driver compiled in a stage of its own), no compilers, npm
# removed. The Helm chart (helm/parley) runs it with a read-only root filesystem; the image
# writes only to /tmp and to its data volume /var/lib/parley (the SQLite file).

# ---- build: compile TypeScript to dist/ ----------------------------------------------------
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run tsc before the sources are here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/build.mjs ./scripts/build.mjs
RUN node scripts/build.mjs

# ---- deps: production node_modules, the SQLite driver compiled for this Node -------------
FROM node:24.21.0-bookworm-slim AS deps
# node-gyp's toolchain, in this stage only: the runtime image gets the compiled module.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3=3.11.2-1+b1 make=4.3-4.1 g++=4:12.2.0-3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /deps
COPY package.json package-lock.json ./
# Compile against the headers of this image's Node (/usr/local/include/node): no download.
ENV npm_config_nodedir=/usr/local
# Production dependencies only, no install scripts (nothing runs unreviewed); then the one
# native module, better-sqlite3, from source with its own node-gyp build (never a
# downloaded prebuilt binary); then what only the build needed (sources, objects).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm run build-release --prefix node_modules/better-sqlite3 \
 && rm -rf node_modules/better-sqlite3/deps node_modules/better-sqlite3/src \
      node_modules/better-sqlite3/build/deps node_modules/better-sqlite3/build/Release/obj \
      node_modules/better-sqlite3/build/Release/obj.target node_modules/better-sqlite3/build/Release/.deps \
      node_modules/better-sqlite3/build/Release/sqlite3.a node_modules/better-sqlite3/build/Release/test_extension.node

# ---- runtime -------------------------------------------------------------------------------
FROM node:24.21.0-bookworm-slim AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="parley" \
      org.opencontainers.image.description="Federation gateway: XMPP, Matrix and SIP through a policy-enforcing, audited, protocol-agnostic core" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="Parley" \
      org.opencontainers.image.base.name="docker.io/library/node:24.21.0-bookworm-slim"

# PARLEY_SQLITE: where the embedded config (config/parley.yaml) keeps the SQLite store.
ENV NODE_ENV=production \
    PARLEY_HTTP_LISTEN=0.0.0.0:8080 \
    PARLEY_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz \
    PARLEY_SQLITE=/var/lib/parley/parley.db

# The user the Helm chart runs as (numeric, so that runAsNonRoot can verify it), its data
# folder (the only one it writes besides /tmp), and no package managers (npm, corepack,
# yarn): nothing installs at run time.
RUN groupadd --system --gid 10001 parley \
 && useradd --system --uid 10001 --gid parley --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin parley \
 && mkdir -p /var/lib/parley \
 && chown 10001:10001 /var/lib/parley \
 && chmod 0750 /var/lib/parley \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* /root/.npm

WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=deps /deps/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY bin ./bin
COPY config ./config
COPY policies ./policies

# The SQLite file (state and the audit trail) outlives the container here: mount a volume
# or a host folder writable by 10001. The Helm chart mounts its persistence claim here
# (persistence.mountPath) and points store.sqlite at <mountPath>/parley.db.
VOLUME ["/var/lib/parley"]

USER 10001:10001
# Admin API, /healthz, /readyz, /metrics (the config's http.listen); 9000 Matrix appservice; 5060 SIP.
EXPOSE 8080 9000 5060/udp 5060/tcp

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.PARLEY_HEALTHCHECK_URL,{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# Parley handles SIGTERM itself (drain, flush the audit, exit 0).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/parley.js"]
# The embedded default config: 0.0.0.0:8080 (PARLEY_HTTP_LISTEN), the SQLite store on the
# volume (PARLEY_SQLITE), tokens from PARLEY_ADMIN_TOKEN / PARLEY_AUDITOR_TOKEN. Your own:
#   docker run -v $PWD/parley.yaml:/etc/parley/parley.yaml:ro parley start -c /etc/parley/parley.yaml
CMD ["start"]
