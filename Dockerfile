# alipay-emulator as a container: zero-argument start, configured only by ALIPAY_EMULATOR_*
# variables, healthy within seconds. See docs/containers.md for CI recipes and compose.
#
#   docker build -t alipay-emulator .
#   docker run -d -p 8080:8080 -p 443:8443 -p 2222:2222 alipay-emulator
#
# Stage 1 builds wheels of the project and its dependencies and installs them into a venv;
# stage 2 is the slim runtime: the same base plus that venv, run as a non-root user.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY fixtures/ fixtures/
COPY emulator/ emulator/
# The wheel carries the bundled fixtures/ as emulator/_fixtures (pyproject force-include).
# `--without-pip` + `pip --python`: the runtime venv holds only the application.
RUN python -m pip wheel --wheel-dir /wheels . \
 && python -m venv --without-pip /opt/alipay-emulator \
 && python -m pip --python /opt/alipay-emulator/bin/python install \
        --no-index --find-links /wheels alipay-emulator \
 && /opt/alipay-emulator/bin/alipay-emulator --version

FROM python:3.11-slim
# A fixed numeric uid/gid, so `runAsNonRoot` checks and volume ownership are predictable.
RUN groupadd --system --gid 10001 emulator \
 && useradd --system --uid 10001 --gid emulator --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin emulator \
 && install -d -o 10001 -g 10001 -m 0750 /data
COPY --from=build /opt/alipay-emulator /opt/alipay-emulator
ENV PATH=/opt/alipay-emulator/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ALIPAY_EMULATOR_HOST=0.0.0.0 \
    ALIPAY_EMULATOR_DATA_DIR=/data
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
# 8080: HTTP (gateway, control API, wallet pages); 8443: HTTPS (same app); 2222: SFTP reports.
EXPOSE 8080 8443 2222
# Only what the image has: its Python and urllib; follows ALIPAY_EMULATOR_PORT when set. Docker
# runs the first probe one interval after start; the probe retries for up to 0.8 s, so a start
# that is not quite ready at 1 s is still reported healthy as soon as it is, not a second later.
HEALTHCHECK --interval=1s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, time, urllib.request\nurl = 'http://127.0.0.1:%s/_emulator/health' % os.environ.get('ALIPAY_EMULATOR_PORT', '8080')\nfor attempt in range(16):\n    try:\n        urllib.request.urlopen(url, timeout=2)\n        break\n    except OSError:\n        time.sleep(0.05)\nelse:\n    raise SystemExit(1)"]
# Exec form: the application is PID 1 and gets SIGTERM itself; it drains and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["alipay-emulator"]
CMD ["serve"]
