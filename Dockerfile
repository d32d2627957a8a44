# Parley's container image: build with `docker build -t parley .`
# Runtime: the current Node LTS (24) on Debian slim, a non-root user, production
# dependencies only, no compilers, npm removed. The Helm chart (helm/parley) runs it with a
# read-only root filesystem; the image needs no writable path but /tmp.

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

ENV NODE_ENV=production \
    PARLEY_HTTP_LISTEN=0.0.0.0:8080 \
    PARLEY_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz

# The user the Helm chart runs as (numeric, so that runAsNonRoot can verify it).
RUN groupadd --system --gid 10001 parley \
 && useradd --system --uid 10001 --gid parley --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin parley

WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only, no install scripts; then drop the package managers
# (npm, corepack, yarn): nothing installs at run time.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* /root/.npm

COPY --from=build /src/dist ./dist
COPY bin ./bin
COPY config ./config
COPY policies ./policies

USER 10001:10001
# Admin API, /healthz, /readyz, /metrics (the config's http.listen); 9000 Matrix appservice; 5060 SIP.
EXPOSE 8080 9000 5060/udp 5060/tcp

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.PARLEY_HEALTHCHECK_URL,{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# Parley handles SIGTERM itself (drain, flush the audit, exit 0).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/parley.js"]
# The embedded default listens on 127.0.0.1:8080; mount your own config (listen on
# 0.0.0.0) to reach it from outside: docker run -v $PWD/parley.yaml:/etc/parley/parley.yaml
#   parley start -c /etc/parley/parley.yaml
CMD ["start"]
