"""Discord account channels: drive Midjourney through a Discord user account (DISCORD.md)."""
