# Image of the facetrove collector (linux/amd64 and linux/arm64), built from a clone:
#   docker compose -f deploy/compose.yaml build                      (this machine's platform)
#   docker buildx build --platform linux/amd64,linux/arm64 \
#       -f deploy/docker/collector.Dockerfile -t facetrove-collector:0.1.0 .
# The wheel is built in the first stage; the second installs it with the pinned lock of the
# platform it is built for (python -m facetrove.deploy picks x86_64 or aarch64), so the image has
# exactly one OpenCV and nothing is compiled.
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
RUN useradd --system --home-dir /var/lib/facetrove --shell /usr/sbin/nologin facetrove \
    && install -d -o facetrove -g facetrove -m 750 /var/lib/facetrove
COPY --from=wheel /dist/ /tmp/dist/
RUN pip install --no-cache-dir --no-deps /tmp/dist/facetrove-*.whl \
    && python -m facetrove.deploy lock collector > /tmp/lock.txt \
    && pip install --no-cache-dir --no-deps -r /tmp/lock.txt \
    && rm -rf /tmp/dist /tmp/lock.txt \
    && facetrove collector --help > /dev/null
ENV NO_ALBUMENTATIONS_UPDATE=1 PYTHONUNBUFFERED=1
USER facetrove
WORKDIR /var/lib/facetrove
VOLUME /var/lib/facetrove
EXPOSE 8080
ENTRYPOINT ["facetrove", "collector"]
CMD ["serve", "--config", "/etc/facetrove/collector.yaml", "--data-dir", "/var/lib/facetrove", "--host", "0.0.0.0"]
