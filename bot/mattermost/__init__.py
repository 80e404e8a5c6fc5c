"""Mattermost adapter: slash command, private session link, result post with a carousel."""

from bot.mattermost.adapter import COMMAND_PATH, MATTERMOST_ADAPTER, MattermostAdapter, setup_mattermost
from bot.mattermost.messages import ACTIONS_PATH

__all__ = ["ACTIONS_PATH", "COMMAND_PATH", "MATTERMOST_ADAPTER", "MattermostAdapter", "setup_mattermost"]
