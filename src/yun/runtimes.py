"""The container runtimes an app's instances can run under, a vocabulary every part shares
(the API and manifests check names against it, the store pins one per revision, the agent's
runc driver picks the program by it)."""

RUNTIMES = ("runc", "gvisor")
"""Weakest first. runc: the host's kernel behind namespaces, seccomp and dropped capabilities;
gvisor: gVisor's runsc, a kernel of its own in user space between the app and the host's."""
DEFAULT_RUNTIME = "runc"
