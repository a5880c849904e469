# syntax=docker/dockerfile:1
# One image for every sweep process: `sweep coordinator`, `sweep worker`, and the client subcommands.
# Node 24 runs the TypeScript sources directly (type stripping), so there is no build step.
# An exact Node release (the one package.json's `node` devDependency pins), so a rebuild does not
# change the runtime underneath a running cluster.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# The package manifests alone (root and workspaces), at their paths. This stage reruns on any
# source change, but its output changes only with a manifest, and the install below is cached by it.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN find . -type f ! -name package.json ! -name package-lock.json -delete \
 && find . -mindepth 1 -type d -empty -delete

# Production dependencies only, exactly as locked. --omit=dev: the image's own Node replaces the
# `node` devDependency, and the compilers, linters and test tools are not needed at run time.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY --from=manifests /src/ ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --no-audit --no-fund

# The runtime: the installed dependencies (with the workspace links into libs/ and apps/), then the sources.
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
# An import's large request buffers otherwise stay in glibc's arenas after they are freed:
# coordinator RSS at rest after 10M CIDs 352 MiB with these, 423 MiB without (BENCHMARKS.md)
ENV MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072
WORKDIR /app
COPY --from=deps /app/ ./
COPY . .
RUN node apps/cli/bin/sweep.js --help > /dev/null

# The image's `node` user (uid 1000), given by number so Kubernetes can check runAsNonRoot.
USER 1000:1000
ENTRYPOINT ["node", "apps/cli/bin/sweep.js"]
CMD ["--help"]
