# rust-svc. Build context: examples/rust-svc.
FROM rust:1.95-slim AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked
FROM debian:bookworm-slim
COPY --from=build /src/target/release/rust-svc /usr/local/bin/rust-svc
ENTRYPOINT ["/usr/local/bin/rust-svc"]
