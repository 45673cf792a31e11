# Container image for cloud-access-bot (runs on ECS Fargate; see docs/deploy.md).
#
# Two stages: "build" installs the package and its pinned dependencies into a venv, the final
# stage copies only that venv onto a clean slim image. Every dependency ships binary wheels for
# CPython 3.11 on amd64 and arm64, so no compiler is needed in either stage.
# Bump the tag (or pin its digest) as you like: scripts/check-image reads its X.Y and proves the
# install with that Python in CI.

FROM python:3.11.14-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

# scripts/install-runtime builds the venv (no pip inside it, pinned by constraints.txt, no test
# extras). CI runs the same script outside Docker and starts the bot from its venv
# (scripts/check-image), so what is proven there is what this stage installs.
WORKDIR /src
COPY pyproject.toml constraints.txt README.md LICENSE ./
COPY src ./src
COPY scripts/install-runtime ./scripts/
RUN scripts/install-runtime /opt/venv


FROM python:3.11.14-slim-bookworm

LABEL org.opencontainers.image.title="cloud-access-bot" \
      org.opencontainers.image.description="Slack app granting time-limited AWS access after approval" \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    HEALTH_FILE=/tmp/cloud-access-bot.health

# /tmp is owned by the bot user and declared a VOLUME: on ECS the root filesystem is read-only
# and /tmp is a task volume, which Fargate creates root-owned 0755 unless the image declares the
# path as a VOLUME (then it takes the image's ownership). The health file lives there.
RUN groupadd --system --gid 10001 bot \
    && useradd --system --uid 10001 --gid bot --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin bot \
    && chown bot:bot /tmp
VOLUME ["/tmp"]

COPY --from=build /opt/venv /opt/venv

USER 10001:10001

# "health" exits 0 only while the bot's Socket Mode connection is up (it reads HEALTH_FILE,
# which the running bot rewrites every few seconds).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["cloud-access-bot", "health"]

# The bot closes its Socket Mode connection and finishes in-flight work within ~20 s of
# SIGTERM; ECS waits stop_timeout (30 s) before SIGKILL.
STOPSIGNAL SIGTERM

ENTRYPOINT ["cloud-access-bot"]
CMD ["run"]
