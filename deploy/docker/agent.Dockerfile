# Image of the facetrove agent (linux/amd64 and linux/arm64, e.g. a Raspberry Pi 4/5 with a 64-bit
# OS), built from a clone:
#   docker buildx build --platform linux/amd64,linux/arm64 \
#       -f deploy/docker/agent.Dockerfile -t facetrove-agent:0.1.0 .
# Run it with the camera and the config (the password as a file, see docs/raspberry-pi.md):
#   docker run -d --restart unless-stopped --device /dev/video0 --group-add video \
#       -v /etc/facetrove:/etc/facetrove:ro -v facetrove-agent:/var/lib/facetrove \
#       facetrove-agent:0.1.0
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY facetrove facetrove
COPY agent agent
COPY collector collector
COPY wire wire
COPY models models
COPY deploy deploy
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

FROM ${PYTHON_IMAGE}
# MediaPipe's native library needs libEGL.so.1 and libGLESv2.so.2 (even on the CPU).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libegl1 libgles2 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --groups video --home-dir /var/lib/facetrove \
        --shell /usr/sbin/nologin facetrove \
    && install -d -o facetrove -g facetrove -m 750 /var/lib/facetrove
COPY --from=wheel /dist/ /tmp/dist/
RUN pip install --no-cache-dir --no-deps /tmp/dist/facetrove-*.whl \
    && python -m facetrove.deploy lock agent > /tmp/lock.txt \
    && pip install --no-cache-dir --no-deps -r /tmp/lock.txt \
    && rm -rf /tmp/dist /tmp/lock.txt \
    && facetrove agent --help > /dev/null
ENV PYTHONUNBUFFERED=1
USER facetrove
WORKDIR /var/lib/facetrove
VOLUME /var/lib/facetrove
ENTRYPOINT ["facetrove", "agent"]
CMD ["run", "--config", "/etc/facetrove/agent.yaml", "--outbox", "/var/lib/facetrove/outbox.db"]
