# Glimpse service image. CPU by default; for a CUDA host build with
#   docker build --build-arg ONNXRUNTIME_NODE_INSTALL=cuda12 -t glimpse:cuda .
# and run with GLIMPSE_DEVICE=cuda.
FROM node:20-bookworm-slim AS build
ARG ONNXRUNTIME_NODE_INSTALL=skip
ENV ONNXRUNTIME_NODE_INSTALL=${ONNXRUNTIME_NODE_INSTALL}
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc ./
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production GLIMPSE_WEB_HOST=0.0.0.0
COPY --from=build /app /app
COPY models ./models
VOLUME /app/data
EXPOSE 8080
USER node
ENTRYPOINT ["/app/bin/glimpse"]
CMD ["start"]
