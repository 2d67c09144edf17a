# Glimpse on CPU: the bots (Discord, Slack), the web playground, or `glimpse serve`.
#   docker build -t glimpse .
#   docker run --rm -p 8080:8080 --env-file .env -v "$PWD/data:/app/data" glimpse
# Other models: mount them read-only and point GLIMPSE_MODEL_DIR there:
#   -v "$PWD/models:/models:ro" -e GLIMPSE_MODEL_DIR=/models/onnx-community/llava-interleave-qwen-0.5b-hf
# For a GPU host use Dockerfile.cuda (README: GPU host and Docker).

FROM node:20-bookworm-slim AS build
WORKDIR /app
# the CPU provider is bundled with onnxruntime-node; nothing to download
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
# npm ci builds dist/ (the prepare script); then the dev dependencies go (src/ stays: the
# playground serves its page from src/adapters/web/public)
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    GLIMPSE_WEB_HOST=0.0.0.0 \
    GLIMPSE_STORE_PATH=/app/data/glimpse.sqlite
# the application is root's and read-only to the service user; only data/ is writable
COPY --from=build /app /app
COPY models/tiny-shapes ./models/tiny-shapes
RUN mkdir -p /app/data && chown node:node /app/data
VOLUME ["/app/data"]
USER node
EXPOSE 8080
# the playground's /healthz (GLIMPSE_WEB_PORT); `glimpse serve` containers override this (compose)
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.GLIMPSE_WEB_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/bin/glimpse"]
CMD ["start"]
