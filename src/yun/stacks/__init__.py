"""Stacks: the Debian root filesystems apps stage and run on, and choosing one for an app.

`catalog` lists the stacks, `building` builds them with mmdebstrap and finds the built ones,
`versions` reads their runtime versions, `declarations` reads what an app asks for, and
`choosing` picks the stack that gives it.
"""

from yun.stacks.building import BuiltStack, StackBuildError, StackStore
from yun.stacks.catalog import HOST, STACKS, StackDefinition

__all__ = ["HOST", "STACKS", "BuiltStack", "StackBuildError", "StackDefinition", "StackStore"]
