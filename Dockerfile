# berth as a container image: one static binary in an otherwise empty image,
# a drop-in for registry:2 and registry:3 (port 5000, VOLUME /var/lib/registry,
# /etc/docker/registry/config.yml and /etc/distribution/config.yml, and
# `registry` for `docker exec NAME registry garbage-collect ...`).
#
#   docker build -t berth .
#   docker run -d -p 5000:5000 -v registry-data:/var/lib/registry berth
#
# RUST_IMAGE is the build stage's base: any Debian-like image with cargo, a
# shell and /etc/ssl/certs/ca-certificates.crt. tests/e2e/image.sh builds this
# file with a local stand-in for it, as CI cannot pull from Docker Hub.
ARG RUST_IMAGE=docker.io/library/rust:1.95-bookworm

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# A static glibc binary (no musl target needed): it runs in an empty image,
# name resolution and TLS included. `cargo rustc ... -C strip=debuginfo`
# leaves the release profile's line tables out of the binary alone (76 MB to
# 17 MB) without rebuilding the dependencies. The cache mounts keep crates
# and compiled dependencies between builds; the binary leaves them within
# the step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    set -eu; \
    target="$(uname -m)-unknown-linux-gnu"; \
    RUSTFLAGS="-C target-feature=+crt-static" \
        cargo rustc --release --locked --target "$target" --bin berth -- -C strip=debuginfo; \
    mkdir -p /rootfs/usr/bin /rootfs/bin /rootfs/etc/docker/registry /rootfs/etc/distribution \
        /rootfs/etc/ssl/certs /volume/registry; \
    cp "target/$target/release/berth" /rootfs/usr/bin/berth; \
    ln -s ../usr/bin/berth /rootfs/bin/registry; \
    cp deploy/image/config.yml /rootfs/etc/docker/registry/config.yml; \
    ln -s ../docker/registry/config.yml /rootfs/etc/distribution/config.yml; \
    cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt

FROM scratch AS runtime
# /bin/registry and /etc/distribution/config.yml are relative symbolic links
# (right from outside the container too): a config mounted over either path
# is the one both paths show, so mounts for registry:2 and registry:3 work.
COPY --from=build /rootfs/ /
# Owned by the user: a named volume starts as a copy of it, owner included.
# (The directory itself is copied, not its contents, so that --chown reaches it.)
COPY --from=build --chown=65532:65532 /volume/ /var/lib/
# Empty images have no PATH: docker exec NAME registry ... needs one.
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 65532:65532
EXPOSE 5000
VOLUME ["/var/lib/registry"]
# `berth healthcheck` reads the configuration as `serve` does, so that it asks
# the port and scheme (HTTP or TLS) the registry actually serves.
HEALTHCHECK --interval=30s --timeout=10s --start-period=5s --retries=3 \
    CMD ["/usr/bin/berth", "healthcheck"]
ENTRYPOINT ["/usr/bin/berth"]
CMD ["serve", "/etc/distribution/config.yml"]
LABEL org.opencontainers.image.title="berth" \
      org.opencontainers.image.description="A private container image registry, a drop-in for CNCF distribution" \
      org.opencontainers.image.licenses="Apache-2.0"
