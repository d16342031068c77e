"""Yun (云): a self-hosted application platform.

Push source or an image with a Cloud Foundry / Stackato manifest; Yun stages it with buildpacks,
runs health-checked instances behind HAProxy, restarts what crashes and shows logs and events.
"""

__version__ = "0.1.0"
