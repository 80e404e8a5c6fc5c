"""Where discord.py sends its REST calls and opens its gateway.

Discord's own endpoints by default. Tests (and anyone behind an API proxy) point discord.py
elsewhere; both settings are discord.py class attributes, so they apply to the whole process.
"""

from __future__ import annotations

import discord.gateway
import discord.http
import yarl


def use_endpoints(api_base: str | None = None, gateway_url: str | None = None) -> None:
    """Send REST calls (and interaction webhooks) to `api_base`, and connect the gateway to `gateway_url`.

    discord.py builds every REST URL from `Route.BASE`; a plain Client connects to
    `DiscordWebSocket.DEFAULT_GATEWAY` and resumes at the `resume_gateway_url` READY gives it.
    """
    if api_base:
        discord.http.Route.BASE = api_base.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
