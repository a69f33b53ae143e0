"""``python -m mjgate.client``: the user command (also installed as ``mjgate-client``)."""

from mjgate.client.command import main

raise SystemExit(main())
