"""The environment contract shared by the interop targets (standard library only).

`mcp-auth-conformance --command` sets these variables; each target reads them here so the
files stay small and agree on defaults.
"""

from __future__ import annotations

import logging
import os
import sys


def env(name: str, default: str = "") -> str:
    """The variable's value, or `default` when it is unset or empty."""
    value = os.environ.get(name, "")
    return value if value else default


def host() -> str:
    return env("MCP_TARGET_HOST", "127.0.0.1")


def port() -> int:
    return int(env("MCP_TARGET_PORT", "8000"))


def path() -> str:
    return env("MCP_TARGET_PATH", "/mcp")


def target_url() -> str:
    """The MCP endpoint URL: $MCP_TARGET_URL, else built from host, port and path."""
    h = host()
    if ":" in h:  # an IPv6 literal
        h = f"[{h}]"
    return env("MCP_TARGET_URL", f"http://{h}:{port()}{path()}")


def audience() -> str | None:
    """$MCP_AUTH_AUDIENCE, or None (no audience check) when it is unset or empty."""
    return env("MCP_AUTH_AUDIENCE") or None


def required_scopes() -> list[str]:
    """$MCP_AUTH_REQUIRED_SCOPES split on spaces; empty means no scope is required."""
    return env("MCP_AUTH_REQUIRED_SCOPES").split()


def log_level() -> str:
    """$MCP_TARGET_LOG_LEVEL (default WARNING): the targets log quietly to stderr."""
    return env("MCP_TARGET_LOG_LEVEL", "WARNING").upper()


def quiet_fastmcp() -> None:
    """Plain, quiet stderr logging for FastMCP; call before importing fastmcp."""
    os.environ.setdefault("FASTMCP_LOG_LEVEL", log_level())
    os.environ.setdefault("FASTMCP_ENABLE_RICH_LOGGING", "false")
    os.environ.setdefault("FASTMCP_SHOW_SERVER_BANNER", "false")
    os.environ.setdefault("FASTMCP_CHECK_FOR_UPDATES", "off")


def configure_logging() -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=log_level(),
        format="%(levelname)s %(name)s: %(message)s",
    )
