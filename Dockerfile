# Build a static binary, then ship it alone, with CA certificates, as a non-root user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/accessbot ./cmd/accessbot \
 && mkdir -p /out/data /out/etc \
 && echo 'accessbot:x:65532:65532:accessbot:/data:/sbin/nologin' > /out/etc/passwd \
 && echo 'accessbot:x:65532:' > /out/etc/group

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/etc/passwd /out/etc/group /etc/
COPY --from=build /out/accessbot /usr/local/bin/accessbot
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
USER 65532:65532
ENV ACCESSBOT_CONFIG=/etc/accessbot/accessbot.yaml
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/accessbot"]
CMD ["serve"]
