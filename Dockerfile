# Build a static binary, then ship it alone, with CA certificates, as a non-root user.
#   docker build -t accessbot .
#   docker run -p 8080:8080 -v accessbot-data:/data accessbot
# runs deploy/docker/accessbot.yaml as it is (docs/deploy.md). The final stage is built in a test
# too (deploy/docker/image_test.go, from a locally built binary, since a test cannot pull
# golang:): keep its COPY sources to the build stage's /out/accessbot and /out/data, the CA file,
# and files of this repository.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/accessbot ./cmd/accessbot \
 && mkdir -p /out/data

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY deploy/docker/etc/passwd deploy/docker/etc/group /etc/
COPY --from=build /out/accessbot /usr/local/bin/accessbot
COPY --from=build --chown=65532:65532 /out/data /data
# The default config: runs as it is (0.0.0.0:8080, SQLite in /data, the web chat, a noop
# resource). Mount your own over it, or set ACCESSBOT_CONFIG to another file.
COPY deploy/docker/accessbot.yaml /etc/accessbot/accessbot.yaml
WORKDIR /data
USER 65532:65532
ENV ACCESSBOT_CONFIG=/etc/accessbot/accessbot.yaml
EXPOSE 8080
# Scratch has no shell or curl: the binary asks its own /readyz (at the config's server.listen)
# and exits 0 on 200. A start period covers migrations on a fresh database.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/accessbot", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/accessbot"]
CMD ["serve"]
