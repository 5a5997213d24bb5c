# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run from a small Debian base as a non-root user.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Build dependencies first so source edits reuse the cached layer.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && cargo build --release --locked --bin authlink || true
COPY src ./src
COPY migrations ./migrations
COPY catalog ./catalog
COPY assets ./assets
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin authlink

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin authlink \
 && install -d -o 10001 -g 10001 -m 0700 /data
COPY --from=build /src/target/release/authlink /usr/local/bin/authlink
USER 10001:10001
# Without DATABASE_URL the embedded SQLite database (and its generated key) live in /data.
ENV AUTHLINK_LISTEN=0.0.0.0:8080 \
    AUTHLINK_DATA_DIR=/data \
    AUTHLINK_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
# /readyz answers 200 once the database is reachable; bash's /dev/tcp avoids shipping curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /readyz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/authlink"]
CMD ["serve"]
