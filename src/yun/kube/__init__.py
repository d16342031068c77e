"""The Kubernetes backend: a revision rendered as Kubernetes objects (`render`), applied with the
official client and followed back into instances, events and logs."""

DRIVER = "kubernetes"
"""The driver name of instances that run as pods on a cluster (Instance.driver): the cluster,
not the router, sends them traffic."""
