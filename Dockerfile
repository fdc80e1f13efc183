# One image for the whole fleet; the command chooses the program (compose.yaml):
#   python -m schedule_service | python -m telegram_bot | python -m discord_bot
# Both stages start from the same Python, so the venv built in the first runs unchanged in the second.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build

# uv from PyPI, pinned, so the build needs nothing outside the package registries.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

# The image's own Python, never a downloaded one; a copied (not hard-linked) venv, compiled once here.
ENV UV_PYTHON=/usr/local/bin/python3 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_NO_CACHE=1

WORKDIR /src
COPY pyproject.toml uv.lock ./
# Exactly the locked versions, no dev tools. The impersonate extra (curl_cffi) is in, since DTEK often blocks
# plain clients: DTEK_HTTP_BACKEND=curl_cffi works in the container. --no-build: wheels only, so no compiler
# is ever needed (every locked dependency has one for Linux x86_64 and aarch64).
RUN uv sync --locked --no-dev --no-install-project --extra impersonate --no-build


FROM ${PYTHON_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

# A fixed uid, so the owner of the named volumes stays the same across rebuilds and hosts.
# /data/* exist here, owned by that user: a named volume mounted on them starts with this owner.
# /app/data is where the programs write by default (relative paths) when run without compose's settings.
# No VOLUME: compose mounts named volumes, and a VOLUME line would add anonymous ones to every container.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /data/shared /data/telegram /data/discord /app/data \
    && chown app:app /data/shared /data/telegram /data/discord /app/data

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
COPY common ./common
COPY schedule_service ./schedule_service
COPY telegram_bot ./telegram_bot
COPY discord_bot ./discord_bot
# Compiled as root, read-only to the app user: start-up (and each health check) skips compiling.
RUN python -m compileall -q common schedule_service telegram_bot discord_bot

# Numeric, so a runtime can tell it is not root without reading /etc/passwd.
USER 10001:10001

# Every program stops cleanly on SIGTERM: sends under way finish, the databases are closed.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "schedule_service"]
