"""Stage an app: source bits in, droplet out, the way Cloud Foundry's buildpack lifecycle does it.

Order of one staging:

1. lay out the work dir (app/ = a copy of the bits, deps/, env/, buildpacks/) and check
   Stackato `requirements.ubuntu`;
2. Stackato pre-staging hooks, in the build dir;
3. pick the buildpacks: the named ones, or the first of `detect_order` whose `bin/detect` says yes;
4. every buildpack but the last runs `bin/supply`; the last runs `bin/supply` (if any) then
   `bin/finalize`, or `bin/compile` when it is a Heroku-style buildpack; `bin/release` of the last
   gives the default process types;
5. Stackato post-staging hooks, in the app's runtime environment;
6. the droplet: app/, deps/ and staging_info.json, with the Procfile overriding process types.

Every line a step prints reaches `output` while the step runs; failures raise `StagingError`
with one line, after all output was streamed. Steps 2 to 5 run their children through one
`Runner`: on the host, or each in a container of the staging's sandbox (`sandboxing`).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import contract, droplets, hooks
from .buildpack_sources import Buildpack, resolve
from .contract import Layout
from .environment import package_sources, staging_environment
from .launcher import launcher_path
from .model import StagingError, StagingRequest, StagingResult
from .processes import Output, Runner
from .sandboxing import Sandbox, runner

STACKATO_PIP_VAR = "YUN_STACKATO_PIP"
"""Newline-separated Stackato `requirements.pip`, read by the built-in python buildpack."""


def stage(
    request: StagingRequest, *, output: Output, sandbox: Sandbox | None = None
) -> StagingResult:
    """Stage `request`; with a `sandbox`, every buildpack step and hook runs inside it."""
    layout = Layout(request.work_dir.absolute())
    layout.create()
    _copy_source(request.source_dir, layout.app)
    layout.write_env_dir(request.env)
    cache_dir = request.cache_dir.absolute()
    cache_dir.mkdir(parents=True, exist_ok=True)
    env = staging_environment(request.env, extra=_contract_env(request))

    hooks.check_ubuntu_requirements(request.ubuntu_requirements, output=output)
    if sandbox is not None:
        output("-----> Creating staging container")
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="packing") as pool,
        runner(
            sandbox,
            name=str(layout.work_dir),
            writable=[layout.work_dir, cache_dir],
            readable=[launcher_path(), *package_sources(env)],
            stack_root=request.stack_root,
        ) as run,
    ):
        hooks.run_pre_staging(request.pre_staging, layout=layout, env=env, output=output, run=run)
        buildpacks, detected = _choose(request, layout=layout, env=env, output=output, run=run)
        released = _run_buildpacks(
            buildpacks, layout=layout, request=request, env=env, output=output, run=run
        )
        hooks.run_post_staging(request.post_staging, layout=layout, env=env, output=output, run=run)
        # packed while the sandbox is taken down (both wait on other processes): ~0.1 s a push
        packing = pool.submit(
            _package,
            layout,
            released=released,
            buildpacks=buildpacks,
            detected=detected,
            output=output,
        )
    return packing.result()


def _choose(
    request: StagingRequest, *, layout: Layout, env: Mapping[str, str], output: Output, run: Runner
) -> tuple[list[Buildpack], str]:
    """The named buildpacks, or the first of the detection order that accepts the app."""
    if request.buildpacks:
        buildpacks = [
            resolve(name, into=layout.buildpacks / str(i), env=env, output=output, run=run)
            for i, name in enumerate(request.buildpacks)
        ]
        detected = buildpacks[-1].name
        output(f"-----> Using buildpack{'s' * (len(buildpacks) > 1)}: {_names(buildpacks)}")
    else:
        found, detected = _detect(
            request.detect_order, layout=layout, env=env, output=output, run=run
        )
        buildpacks = [found]
        output(f"-----> Detected buildpack: {detected}")
    if request.pip_requirements and "python" not in [bp.name for bp in buildpacks]:
        output("-----> Warning: requirements.pip is only installed by the python buildpack")
    return buildpacks, detected


def _package(
    layout: Layout,
    *,
    released: Mapping[str, str],
    buildpacks: Sequence[Buildpack],
    detected: str,
    output: Output,
) -> StagingResult:
    """Process types (Procfile over release), a relocatability check, then the droplet."""
    types = droplets.process_types(released=released, procfile=droplets.read_procfile(layout.app))
    names = [bp.name for bp in buildpacks]
    for path in droplets.find_staging_paths(
        app_dir=layout.app, deps_dir=layout.deps, staging_root=layout.work_dir
    ):
        relative = path.relative_to(layout.work_dir)
        output(f"-----> Warning: {relative} names the staging folder; the droplet may not relocate")
    info = droplets.staging_info(detected=detected, types=types, buildpacks=names)
    output("-----> Packing droplet")
    droplet = droplets.pack(
        work_dir=layout.work_dir, info=info, into=layout.work_dir / droplets.DROPLET_NAME
    )
    size = droplet.stat().st_size / 1_048_576
    shown = ", ".join(f"{k}: {v}" for k, v in types.items()) or "none (set a command or Procfile)"
    output(f"-----> Droplet ready ({size:.1f} MB); process types: {shown}")
    return StagingResult(droplet=droplet, process_types=types, buildpacks=names, detected=detected)


def _names(buildpacks: Sequence[Buildpack]) -> str:
    return ", ".join(bp.name for bp in buildpacks)


def _contract_env(request: StagingRequest) -> dict[str, str]:
    extra = {"YUN_STAGING": "1"}
    if request.pip_requirements:
        extra[STACKATO_PIP_VAR] = "\n".join(request.pip_requirements)
    return extra


def _copy_source(source: Path, app_dir: Path) -> None:
    if not source.is_dir():
        raise StagingError(f"no app bits to stage: {source} is not a folder")
    if app_dir.exists():
        shutil.rmtree(app_dir)
    shutil.copytree(source, app_dir, symlinks=True)


def _detect(
    order: Sequence[str], *, layout: Layout, env: Mapping[str, str], output: Output, run: Runner
) -> tuple[Buildpack, str]:
    tried: list[str] = []
    for position, name in enumerate(order):
        into = layout.buildpacks / f"detect-{position}"
        bp = resolve(name, into=into, env=env, output=output, run=run)
        tried.append(bp.name)
        accepted = contract.detect(bp, build_dir=layout.app, env=env, run=run)
        if accepted is not None:
            return bp, accepted
        shutil.rmtree(into, ignore_errors=True)
    raise StagingError(f"no buildpack detected this app (tried {', '.join(tried) or 'none'})")


def _run_buildpacks(
    buildpacks: Sequence[Buildpack],
    *,
    layout: Layout,
    request: StagingRequest,
    env: Mapping[str, str],
    output: Output,
    run: Runner,
) -> dict[str, str]:
    step_env = dict(env)
    count = len(buildpacks)
    for index, bp in enumerate(buildpacks):
        final = index == count - 1
        (layout.deps / str(index)).mkdir(parents=True, exist_ok=True)
        cache = request.cache_dir.absolute() / bp.cache_key
        cache.mkdir(parents=True, exist_ok=True)
        position = f" ({index + 1}/{count})" if count > 1 else ""
        for step in contract.steps_for(bp, final=final):
            output(f"-----> {_VERBS[step]} with buildpack {bp.name}{position}")
            contract.run_step(
                bp,
                step,
                layout=layout,
                cache_dir=cache,
                index=index,
                env=step_env,
                output=output,
                run=run,
            )
        if not final:
            step_env.update(contract.exported_env(bp, env=step_env, run=run))
    return contract.release(
        buildpacks[-1], build_dir=layout.app, env=step_env, output=output, run=run
    )


_VERBS = {"supply": "Supplying", "finalize": "Finalizing", "compile": "Compiling"}
