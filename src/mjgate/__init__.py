"""mjgate: a Midjourney task gateway that speaks the midjourney-proxy ``/mj`` protocol."""

__version__ = "0.1.0"
