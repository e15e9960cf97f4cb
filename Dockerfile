# One image for all four services; compose picks the module to run.
# BASE_IMAGE lets an offline build use a locally made Debian/Python base.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- llama-cpp-python is source-only on PyPI: compile it once, portable CPU flags.
FROM ${BASE_IMAGE} AS llama
COPY scripts/install-system.sh /tmp/install-system.sh
RUN INSTALL_CHROMIUM=0 bash /tmp/install-system.sh && rm -rf /var/lib/apt/lists/*
RUN CMAKE_ARGS="-DGGML_NATIVE=OFF" pip wheel --no-deps --no-cache-dir \
      --no-binary llama-cpp-python "llama-cpp-python==0.3.36" -w /wheels

# --- the services, with the offline backends and their packaged models.
FROM ${BASE_IMAGE}
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    NO_GCE_CHECK=true \
    HF_HUB_OFFLINE=1 \
    LOG_FORMAT=json \
    MODEL_DIR=/opt/uhrwerk/models

COPY scripts/install-system.sh /tmp/install-system.sh
RUN bash /tmp/install-system.sh --runtime && rm -rf /var/lib/apt/lists/* /tmp/install-system.sh
RUN groupadd --system uhrwerk && useradd --system --gid uhrwerk --home /app uhrwerk
WORKDIR /app

COPY --from=llama /wheels /wheels
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY gateway ./gateway
COPY stt_worker ./stt_worker
COPY llm_worker ./llm_worker
COPY tts_worker ./tts_worker
RUN pip install --progress-bar off --find-links /wheels ".[offline]" \
    && python -m shared.model_files \
    && chown -R uhrwerk:uhrwerk /opt/uhrwerk

USER uhrwerk
EXPOSE 8080
CMD ["python", "-m", "gateway"]
