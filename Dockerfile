# syntax=docker/dockerfile:1
# One image for every sweep process: `sweep coordinator`, `sweep worker`, and the client subcommands.
# Node 24 runs the TypeScript sources directly (type stripping), so there is no build step.
FROM node:24-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

COPY . .
# --omit=dev: the image's own Node 24 replaces the `node` devDependency, and the compilers,
# linters and test tools are not needed at run time. The cache mount keeps rebuilds fast.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --no-audit --no-fund \
 && node apps/cli/bin/sweep.js --help > /dev/null

# The image's `node` user (uid 1000), given by number so Kubernetes can check runAsNonRoot.
USER 1000:1000
ENTRYPOINT ["node", "apps/cli/bin/sweep.js"]
CMD ["--help"]
