# syntax=docker/dockerfile:1
# Static binaries for every command in cmd/, on a minimal non-root image.
# The storylane-bridge is the default entrypoint; the others are beside it
# in /usr/local/bin (docker run --entrypoint storylane-send ...).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# GOWORK=off: the service builds from its own go.mod alone; go.work would
# also load deploy/'s module, whose checks the image does not need.
RUN CGO_ENABLED=0 GOWORK=off go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/... \
 && mkdir -p /data /archive /stats

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
# The embedded broker stores in /data, session-archive in /archive,
# session-stats its snapshot in /stats. Each is created owned by the nonroot
# user (65532) so that a fresh volume mounted on it is writable.
COPY --from=build --chown=65532:65532 /data /data
COPY --from=build --chown=65532:65532 /archive /archive
COPY --from=build --chown=65532:65532 /stats /stats
ENV BRIDGE_DATA_DIR=/data ARCHIVE_DIR=/archive STATS_STATE_DIR=/stats
VOLUME ["/data", "/archive", "/stats"]
WORKDIR /home/nonroot
EXPOSE 8080
USER nonroot:nonroot
# Shutdown finishes requests in flight (up to BRIDGE_SHUTDOWN_TIMEOUT, 25s)
# then drains NATS: stop containers with a timeout above that
# (docker stop -t 40, terminationGracePeriodSeconds: 40).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/storylane-bridge"]
