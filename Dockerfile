# One image for all four services; compose picks the module to run.
# BASE_IMAGE lets an offline build use a locally made Debian/Python base.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    NO_GCE_CHECK=true \
    LOG_FORMAT=json

RUN groupadd --system uhrwerk && useradd --system --gid uhrwerk --home /app uhrwerk
WORKDIR /app

COPY pyproject.toml README.md ./
COPY shared ./shared
COPY gateway ./gateway
COPY stt_worker ./stt_worker
COPY llm_worker ./llm_worker
COPY tts_worker ./tts_worker
RUN pip install --progress-bar off .

USER uhrwerk
EXPOSE 8080
CMD ["python", "-m", "gateway"]
