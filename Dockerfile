# The marketstream pipeline image: Node 24 runs the TypeScript sources directly (type stripping), no build step.
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY . .
USER node
ENV METRICS_HOST=0.0.0.0
EXPOSE 9464
ENTRYPOINT ["node", "bin/marketstream.js"]
CMD ["run"]
