# syntax=docker/dockerfile:1
# dynamic-dynamodb in a container: `--daemon foreground` as PID 1, the configuration mounted
# at /etc/dynamic-dynamodb/dynamic-dynamodb.conf, the state in /var/lib/dynamic-dynamodb.
# See docs/deploying.md ("Running in a container").

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md LICENSE ./
COPY dynamic_dynamodb ./dynamic_dynamodb
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DDB_HEALTH_MAX_AGE_MINUTES=15
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir /wheels/*.whl \
    && groupadd --system --gid 10001 dynamic-dynamodb \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/dynamic-dynamodb \
        --create-home --shell /usr/sbin/nologin dynamic-dynamodb
USER 10001:10001
WORKDIR /var/lib/dynamic-dynamodb
VOLUME ["/var/lib/dynamic-dynamodb"]
# The state file (state.dry-run.json with --dry-run) is saved after every cycle, whatever its
# outcome: unhealthy when it has not been for DDB_HEALTH_MAX_AGE_MINUTES (keep that above
# 2 x check-interval).
# `--daemon status` cannot serve: a foreground process holds no pid file.
HEALTHCHECK --interval=60s --timeout=10s --start-period=5m \
    CMD ["sh", "-c", "find /var/lib/dynamic-dynamodb -maxdepth 1 -name 'state*.json' -mmin -$DDB_HEALTH_MAX_AGE_MINUTES | grep -q ."]
ENTRYPOINT ["dynamic-dynamodb", "--config", "/etc/dynamic-dynamodb/dynamic-dynamodb.conf", \
            "--state-file", "/var/lib/dynamic-dynamodb/state.json"]
CMD ["--daemon", "foreground"]
