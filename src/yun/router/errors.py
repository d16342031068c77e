"""Errors the router raises, so callers can tell a bad route set from a broken HAProxy."""


class RouterError(RuntimeError):
    """HAProxy could not be started, reloaded, stopped or reached."""


class RouterConfigError(RouterError):
    """HAProxy rejected a rendered configuration; the message carries HAProxy's own words.

    The previously running configuration stays active when this is raised.
    """


class ReloadHeld(Exception):
    """`HAProxy.apply(…, reload=False)`: the change needs a reload, which was not made."""
