# rocketmq-exporter container image.
#   docker build -t rocketmq-exporter:0.1.0 .
#   docker run --rm -p 5558:5558 -e NAMESRV_ADDR='ns1:9876;ns2:9876' rocketmq-exporter:0.1.0

# ---- build --------------------------------------------------------------------------------
# The toolchain the project is built and tested with (Cargo.toml rust-version).
ARG RUST_VERSION=1.95
FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src

# Dependencies first, in their own layer: source edits then rebuild only this crate.
# benches/ is copied whole: Cargo.toml declares its targets, and cargo checks they exist.
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
RUN mkdir -p src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

COPY src ./src
# touch: the placeholder build left newer mtimes than the copied sources.
# strip --strip-debug: the release profile keeps line tables (63 MB binary); the image keeps the
# symbols, so a panic's backtrace still names its functions, in 13 MB.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && install -D -m 0755 target/release/rocketmq-exporter /out/rocketmq-exporter \
    && strip --strip-debug /out/rocketmq-exporter

# ---- runtime ------------------------------------------------------------------------------
FROM debian:bookworm-slim

# ca-certificates: --tls.enabled verifies brokers against the system roots unless --tls.ca-file.
# The user is a system account at 65532 (the distroless "nonroot" id); -K lifts the ceiling of
# 999 on system ids that useradd would otherwise warn about.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system -K SYS_GID_MAX=65532 --gid 65532 exporter \
    && useradd --system -K SYS_UID_MAX=65532 --uid 65532 --gid exporter --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin exporter

COPY --from=builder /out/rocketmq-exporter /usr/local/bin/rocketmq-exporter

# The version is Cargo.toml's (tests/ops.rs keeps the two in step).
LABEL org.opencontainers.image.title="rocketmq-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Apache RocketMQ that tells operators when a drained broker is safe to take offline" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"

USER 65532:65532
# 5558: 5557 is taken by the Java exporter and by 5.x brokers.
EXPOSE 5558
ENTRYPOINT ["/usr/local/bin/rocketmq-exporter"]
CMD ["serve"]
