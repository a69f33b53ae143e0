"""An offline simulator of Discord and the Midjourney bot, for tests and for trying a Discord
channel with no account anywhere: REST under ``/api/v9``, the gateway at ``/gateway``, a CDN,
an upload host and the Vary (Region) iframe host, all on one loopback port."""

from mjgate.discord_sim.server import AccountInfo, Simulator, main, run_simulator

__all__ = ["AccountInfo", "Simulator", "main", "run_simulator"]
