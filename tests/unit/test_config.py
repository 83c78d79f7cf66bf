"""Settings: a default channel must be one the bot can post to and reason about."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings


@pytest.mark.parametrize("channel", ["D0123ABCD", "#ops", "c0ops"])
def test_default_channel_must_be_a_channel_not_a_direct_message(channel: str) -> None:
    with pytest.raises(ConfigError, match=r"DEFAULT_CHANNEL must be .*not a direct message"):
        load_settings({"APPROVALS_TABLE": "t", "DEFAULT_CHANNEL": channel})


@pytest.mark.parametrize("channel", ["C0123ABCD", "G0PRIVATE"])
def test_public_and_private_channels_are_accepted(channel: str) -> None:
    assert (
        load_settings({"APPROVALS_TABLE": "t", "DEFAULT_CHANNEL": channel}).default_channel
        == channel
    )
