# syntax=docker/dockerfile:1
# MAWS image: one image, three roles (all | gateway | worker) chosen by the command.
#   docker build -t maws .
#   docker run --rm -p 8000:8000 -e AUTH_DEV_TOKENS=true -e REDIS_URL=redis://host:6379 maws all

# ---- build: full dependencies, compile TypeScript into dist/ ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY packages/client/src ./packages/client/src
RUN npm run build

# ---- runtime: production dependencies, dist/ and public/ only ----
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8000
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/packages/client/dist ./packages/client/dist
COPY public ./public
# Files stay root-owned (read-only for the app); the process runs unprivileged.
USER node
EXPOSE 8000
# Only the gateway (and `all`) serves HTTP. The check reads the role from PID 1's command line
# (node dist/main.js <role>, or an init wrapper around it), so a worker container reports
# healthy without a port; everything else must answer GET /health/live.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const a=require('fs').readFileSync('/proc/1/cmdline','utf8').split(String.fromCharCode(0));if(a.includes('worker'))process.exit(0);fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/health/live',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/main.js"]
CMD ["all"]
