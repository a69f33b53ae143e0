"""Discord account channels: mjgate drives Midjourney through a Discord user account."""
