"""The Kubernetes backend: a revision rendered as Kubernetes objects (`render`), applied with the
official client and followed back into instances, events and logs."""
