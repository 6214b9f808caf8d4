# syntax=docker/dockerfile:1
#
# The pricesync server image: `docker build -t pricesync .` at the repository
# root; deploy/compose.yaml builds it too. See docs/operations.md, "Running in
# containers".
#
# Dependency caching: cargo-chef. `cargo chef prepare` reduces the workspace
# to a recipe (every member's manifest, its targets and Cargo.lock); `cargo
# chef cook` builds only the dependencies from it, in a layer that is reused
# until a manifest or the lock file changes. The hand-made alternative (copy
# the manifests, stub every src/main.rs, lib.rs, test and bench) has to list
# each of the six workspace members and their [[test]]/[[bench]] targets,
# and silently stops caching when a member or target is added; cargo-chef
# reads them from the manifests.

ARG RUST_IMAGE=rust:1.95.0-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-20260824-slim

FROM ${RUST_IMAGE} AS chef
ENV CARGO_TERM_COLOR=never
RUN cargo install cargo-chef --version 0.1.78 --locked \
    && rm -rf /usr/local/cargo/registry
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --package pricesync --recipe-path recipe.json
# The whole source: the migrations and the providers' manual price table are
# embedded in the binary at compile time.
COPY . .
RUN cargo build --release --locked --package pricesync \
    && cp target/release/pricesync /usr/local/bin/pricesync

# The binary links only glibc, libm and libgcc_s (SQLite is bundled,
# PostgreSQL is spoken by a Rust client, TLS is rustls), so a slim Debian of
# the builder's release (same glibc) is enough; the health check is the
# binary's own `pricesync probe`, so the image needs no shell tool for it.
FROM ${RUNTIME_IMAGE} AS runtime
# ca-certificates: the providers' HTTPS certificates are verified against
# the system store. Its version follows the pinned base image's release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 pricesync \
    && useradd --system --uid 10001 --gid pricesync --home-dir /var/lib/pricesync \
        --no-create-home --shell /usr/sbin/nologin pricesync \
    && install -d -o pricesync -g pricesync -m 0750 /var/lib/pricesync

COPY --from=builder /usr/local/bin/pricesync /usr/local/bin/pricesync

# The SQLite default lives in the data directory the service user owns
# (mount a volume there to keep it); DATABASE_URL=postgres://… replaces it.
# 0.0.0.0: the default 127.0.0.1 is unreachable from outside the container.
ENV DATABASE_URL=sqlite:///var/lib/pricesync/pricesync.db \
    PRICESYNC_BIND_ADDR=0.0.0.0:8080
WORKDIR /var/lib/pricesync
# Numeric, so that a runtime can tell it is not root without the image's
# /etc/passwd (Kubernetes' runAsNonRoot).
USER 10001:10001
EXPOSE 8080

# Liveness: GET /health answers 200 (it does not touch the database; see
# docs/operations.md, "Health checks"). The first start applies migrations.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/pricesync", "probe", "--timeout", "4"]

# SIGTERM (docker stop) starts the graceful shutdown; give the container a
# stop timeout above twice PRICESYNC_SHUTDOWN_GRACE_SECS (docker stop -t 75).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/pricesync"]
CMD ["serve"]
