# kubetrail: production image (Node 20, production dependencies only, non-root).
FROM node:20-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --no-audit --no-fund
COPY services services
COPY shared shared
COPY migrations migrations
COPY scripts scripts
COPY test test
COPY bench bench
RUN npm run build && npm prune --omit=dev

FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production KUBETRAIL_LISTEN=0.0.0.0:8080 KUBETRAIL_DB=/data/kubetrail.db
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
RUN mkdir -p /data/archive && chown -R node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["node", "dist/services/cli/main.js"]
CMD ["serve"]
