# syntax=docker/dockerfile:1
# The MCP server of docker/compose.yaml: the official Python SDK's resource server from the interop
# suite (interop/python/sdk_server.py), configured only by the MCP_TARGET_* and MCP_AUTH_*
# variables. Replace it with your own server's image; it needs the same settings.
FROM python:3.11-slim-bookworm
WORKDIR /app
COPY interop/python/requirements.lock interop/python/_common.py interop/python/_jwks_verifier.py \
     interop/python/sdk_server.py ./
# The interop suite's complete lock, installed without resolving, as interop/run.sh does.
RUN pip install --no-cache-dir --disable-pip-version-check --no-deps -r requirements.lock \
    && useradd --system --user-group --uid 10001 --shell /usr/sbin/nologin mcp
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["python", "sdk_server.py"]
