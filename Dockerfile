# Makeroom server image: built with the Rust toolchain, run on a slim Debian.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p makeroom-server

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/makeroom makeroom && mkdir -p /var/lib/makeroom && chown makeroom /var/lib/makeroom
COPY --from=build /src/target/release/makeroom /usr/local/bin/makeroom
USER makeroom
ENV MAKEROOM_BIND=0.0.0.0:8080 MAKEROOM_DATA=/var/lib/makeroom
EXPOSE 8080
ENTRYPOINT ["makeroom"]
CMD ["serve"]
