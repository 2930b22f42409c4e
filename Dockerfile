# syntax=docker/dockerfile:1
# muster as a container: `docker build -t muster .` from the repository root.
#
# Stage 1 builds the host and the example plugins. The example plugins are compiled for
# wasm32-wasip2 twice over: by plugins/artifacts' build script (embedded in the binary as
# `builtin:<name>`) and standalone below, so the image also ships them as files to copy into a
# watched plugin folder.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# rust-toolchain.toml names the channel and the wasm32-wasip2 target; install exactly that.
RUN rustup toolchain install && rustup target list --installed | grep -qx wasm32-wasip2
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p muster \
    && install -D target/release/muster /out/muster
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/guest-target \
    set -e; for p in license-by-group normalize-attributes; do \
      cargo build --release --target wasm32-wasip2 --target-dir /src/guest-target \
        --manifest-path plugins/$p/Cargo.toml; \
      install -D /src/guest-target/wasm32-wasip2/release/$(echo $p | tr - _).wasm \
        /out/plugins/$p.wasm; \
    done
# The state folder, owned by the runtime user (distroless has no shell to create it later).
RUN install -d -o 65532 -g 65532 /out/state /out/state/plugins

# Stage 2: glibc (wasmtime and the bundled SQLite link against it) and CA certificates for
# HTTPS targets, nothing else; a numeric non-root user so `runAsNonRoot` can verify it.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/muster /usr/local/bin/muster
COPY --from=build /out/plugins /usr/share/muster/plugins
COPY --from=build --chown=65532:65532 /out/state /var/lib/muster
COPY examples/service.toml /etc/muster/muster.toml
USER 65532:65532
WORKDIR /var/lib/muster
VOLUME ["/var/lib/muster"]
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/muster", "--log-format", "json"]
CMD ["serve", "--config", "/etc/muster/muster.toml"]
