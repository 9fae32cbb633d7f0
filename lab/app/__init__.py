"""The lab's sample HTTP app (see server.py; stdlib only so VM releases can carry it as one file)."""
from .server import load_behaviour, main, make_server, state_from_env  # noqa: F401
