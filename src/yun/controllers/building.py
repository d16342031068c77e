"""The build controller: turns a STAGING build into a droplet and a revision.

It assembles the package's files from the blobstore into a throwaway folder, runs the buildpacks
(output streamed live into the app's log as `STG` lines), stores the droplet, and on success
makes a revision and starts the app. A docker package is staged by pulling its image (skopeo)
and unpacking it once (umoci) into a root the runc driver shares between the app's instances;
its "droplet" records the image's digest, that root and the image's runtime config.
A failed staging leaves the running release untouched.
A server that dies mid-staging re-runs the build on its next start (builds are idempotent).
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from yun.blobstore import BlobStore
from yun.builder import DEFAULT_DETECT_ORDER, Sandbox, StagingError, StagingRequest, stage
from yun.controllers.releasing import RELEASE, ReleasePhase, release_command
from yun.controllers.runtime.managing import Result
from yun.logstore import LogStore
from yun.registry import ImageError, port, pull, start_command, unpack
from yun.stacks import StackBuildError
from yun.stacks.choosing import NoStackError, choose
from yun.stacks.declarations import DeclarationError
from yun.stacks.declarations import read as read_declarations
from yun.stacks.userlands import HostUserland, Userlands
from yun.store import events
from yun.store.models import App, Build, Droplet, Package, Process, Revision
from yun.store.releases import Plan, create_revision, prune, release
from yun.store.session import Store


class BuildController:
    prefix = "build"

    def __init__(
        self,
        *,
        store: Store,
        blobs: BlobStore,
        logs: LogStore,
        work_root: Path,
        cache_root: Path,
        wake: Any,
        images_root: Path,
        detect_order: Sequence[str] = DEFAULT_DETECT_ORDER,
        sandbox: Sandbox | None = None,
        keep_revisions: int = 100,
        keep_droplets: int = 5,
        userlands: Userlands | None = None,
        release_phase: ReleasePhase | None = None,
        keep_staged: Callable[[Path, Path], None] | None = None,
        observe: Callable[[float, str], None] | None = None,
    ) -> None:
        self.observe = observe  # (seconds, STAGED or FAILED) of each build staged, for metrics
        self.keep_staged = keep_staged  # (droplet, staged tree): the runtime may keep the tree
        self.sandbox = sandbox
        self.release_phase = release_phase
        self.userlands: Userlands = userlands or HostUserland()
        self.keep_revisions = keep_revisions
        self.keep_droplets = keep_droplets
        self.images_root = images_root
        self.store = store
        self.blobs = blobs
        self.logs = logs
        self.work_root = work_root
        self.cache_root = cache_root
        self.wake = wake
        self.detect_order = tuple(detect_order)

    def pending(self) -> list[str]:
        with self.store.session() as session:
            return [
                f"build:{b.guid}"
                for b in session.scalars(select(Build).where(Build.state == "STAGING"))
            ]

    def reconcile(self, key: str) -> Result:
        guid = key.split(":", 1)[1]
        started = time.monotonic()
        result = self._build(guid)
        if self.observe is not None and result is not None:
            with self.store.session() as session:
                build = session.get(Build, guid)
                state = build.state if build is not None else "FAILED"
            self.observe(time.monotonic() - started, state)
        return result or Result()

    def _build(self, guid: str) -> Result | None:
        """Stage build `guid`; None if there was nothing to stage."""
        with self.store.session() as session:
            build = session.get(Build, guid)
            if build is None or build.state != "STAGING":
                return None
            app = session.get(App, build.app_guid)
            package = session.get(Package, build.package_guid)
            if app is None or package is None:
                build.state = "FAILED"
                build.error = "app or package was deleted"
                return Result()
            files = list(package.files)
            spec = dict(app.spec)
            env = dict(app.env)
            app_guid, app_name = app.guid, app.name
            image = dict(package.image) if package.kind == "docker" else None
        if image is not None:
            self._stage_image(guid=guid, app_guid=app_guid, app_name=app_name, image=image)
            self._woken()
            return Result()
        self.work_root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f"build-{guid[:8]}-", dir=self.work_root))
        try:
            self._stage(
                guid=guid,
                app_guid=app_guid,
                app_name=app_name,
                files=files,
                spec=spec,
                env=env,
                work=work,
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self._woken()
        return Result()

    def _woken(self) -> None:
        for key in ("deployments", "instances", "routes"):
            self.wake(key)

    def _assemble(self, files: list[dict[str, Any]], target: Path) -> None:
        for item in files:
            dest = target / item["path"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            self.blobs.copy_to(item["sha256"], dest)
            os.chmod(dest, int(item.get("mode", 0o644)) & 0o777)

    def _stage(
        self,
        *,
        guid: str,
        app_guid: str,
        app_name: str,
        files: list[dict[str, Any]],
        spec: dict[str, Any],
        env: dict[str, str],
        work: Path,
    ) -> None:
        def output(line: str) -> None:
            self.logs.append(app_guid, "STG/0", line)

        source = work / "source"
        source.mkdir()
        self._assemble(files, source)
        output(f"Staging app {app_name} (build {guid})")
        try:
            stack, stack_root = self._userland(source, spec, output=output)
        except (NoStackError, DeclarationError, StackBuildError) as exc:
            output(f"Staging failed: {exc}")
            self._fail(guid, str(exc))
            return
        stackato = spec.get("stackato") or {}
        request = StagingRequest(
            source_dir=source,
            work_dir=work / "staging",
            cache_dir=self.cache_root / app_guid,
            buildpacks=list(spec.get("buildpacks") or []),
            env=env,
            pre_staging=list(stackato.get("pre_staging") or []),
            post_staging=list(stackato.get("post_staging") or []),
            pip_requirements=list(stackato.get("pip") or []),
            ubuntu_requirements=list(stackato.get("ubuntu") or []),
            detect_order=self.detect_order,
            stack_root=stack_root,
        )
        (work / "staging").mkdir()
        request.cache_dir.mkdir(parents=True, exist_ok=True)
        try:
            result = stage(request, output=output, sandbox=self.sandbox)
        except StagingError as exc:
            output(f"Staging failed: {exc}")
            self._fail(guid, str(exc))
            return
        except Exception as exc:  # a bug or an I/O error must still end the build
            output(f"Staging failed: {exc}")
            self._fail(guid, f"staging error: {exc}")
            raise
        digest = self.blobs.put_file(result.droplet)
        output(f"Uploaded droplet ({result.droplet.stat().st_size >> 10} KiB)")
        if self.keep_staged is not None:
            self.keep_staged(self.blobs.path(digest), result.droplet.parent)
        self._record(
            guid=guid,
            app_guid=app_guid,
            droplet=Droplet(
                app_guid=app_guid,
                build_guid=guid,
                blob=digest,
                process_types=dict(result.process_types),
                buildpacks=list(result.buildpacks),
                detected=result.detected,
                stack=stack,
            ),
            description="new droplet",
        )

    def _userland(
        self, source: Path, spec: dict[str, Any], *, output: Callable[[str], None]
    ) -> tuple[str, Path | None]:
        """The stack the app stages and runs on, chosen from what it declares, and its root
        (built first if need be; None for the host's userland)."""
        requested = self.userlands.requested(spec.get("stack"), output=output)
        try:
            choice = choose(
                read_declarations(source),
                offered=self.userlands.offered(),
                default=self.userlands.default,
                requested=requested,
            )
        except NoStackError as exc:
            raise NoStackError(f"{exc}{self.userlands.hint}") from exc
        output(choice.reason)
        return choice.stack, self.userlands.prepare(choice.stack, output=output)

    def _stage_image(
        self, *, guid: str, app_guid: str, app_name: str, image: dict[str, Any]
    ) -> None:
        """A docker package: pull the image, unpack it once for all instances, record it."""

        def output(line: str) -> None:
            self.logs.append(app_guid, "STG/0", line)

        reference = str(image["image"])
        output(f"Staging app {app_name} from image {reference} (build {guid})")
        bundle = self.images_root / "bundles" / guid
        shutil.rmtree(bundle, ignore_errors=True)  # a half-unpacked bundle of a crashed try
        try:
            pulled = pull(
                reference,
                self.images_root / "layouts" / app_guid,
                tag=guid,
                username=image.get("username"),
                password=image.get("password"),
            )
            output(f"Pulled {pulled.reference} ({pulled.digest})")
            config = unpack(pulled.layout, pulled.tag, bundle)
        except (ImageError, ValueError) as exc:
            output(f"Staging failed: {exc}")
            self._fail(guid, str(exc))
            return
        command = shlex.join(start_command(config))
        output(f"Image command: {command or '(none: give the app a command)'}; port {port(config)}")
        self._record(
            guid=guid,
            app_guid=app_guid,
            droplet=Droplet(
                app_guid=app_guid,
                build_guid=guid,
                blob="",
                process_types={"web": command},
                buildpacks=[],
                detected="docker image",
                image={
                    "reference": pulled.reference,
                    "digest": pulled.digest,
                    "layout": str(pulled.layout),
                    "tag": pulled.tag,
                    "bundle": str(bundle),
                    "config": dataclasses.asdict(config),
                },
            ),
            description=f"image {pulled.reference}",
        )

    def _record(self, *, guid: str, app_guid: str, droplet: Droplet, description: str) -> None:
        """The staged droplet becomes the app's next revision (and runs, if the build says so),
        after its release command, if it has one, succeeded."""
        process_types = dict(droplet.process_types)
        with self.store.session() as session:
            build = session.get(Build, guid)
            app = session.get(App, app_guid)
            if build is None or app is None or build.state != "STAGING":
                return
            package = session.get(Package, build.package_guid)
            droplet.commit = package.commit if package is not None else ""
            if droplet.commit:
                description = f"git push {droplet.commit[:7]}"
            session.add(droplet)
            session.flush()
            self._ensure_processes(session, app, process_types)
            session.flush()
            revision = create_revision(
                session,
                app=app,
                droplet_guid=droplet.guid,
                commands=process_types,
                description=description,
                actor=build.created_by,
            )
            release_spec = None
            if self.release_phase is not None and release_command(process_types):
                release_spec = self.release_phase.spec(
                    session, app=app, revision=revision, droplet=droplet
                )
            revision_guid = revision.guid
        if release_spec is not None and self.release_phase is not None:

            def output(line: str) -> None:
                self.logs.append(app_guid, "STG/0", line)

            failure = self.release_phase.run(release_spec, output=output)
            if failure is not None:
                output(f"Staging failed: {failure}; the running revision keeps serving")
                self._fail(guid, failure, revision_guid=revision_guid)
                return
        self._publish(guid=guid, app_guid=app_guid, revision_guid=revision_guid)

    def _publish(self, *, guid: str, app_guid: str, revision_guid: str) -> None:
        with self.store.session() as session:
            build = session.get(Build, guid)
            app = session.get(App, app_guid)
            revision = session.get(Revision, revision_guid)
            if build is None or app is None or revision is None or build.state != "STAGING":
                return
            droplet = session.get(Droplet, revision.droplet_guid)
            assert droplet is not None  # added with the revision, never deleted while staging
            build.state = "STAGED"
            build.droplet_guid = droplet.guid
            app.droplet_guid = droplet.guid  # what a later restart runs
            if build.start_after:  # a running app rolls over to it, a stopped one starts
                release(
                    session,
                    app=app,
                    revision=revision,
                    actor=build.created_by,
                    plan=Plan.from_dict(build.release),
                )
            elif app.state != "STARTED":  # --no-start: `yun start` runs it; a running app
                app.revision_guid = revision.guid  # keeps its release until restarted

            freed = prune(
                session, app=app, revisions=self.keep_revisions, droplets=self.keep_droplets
            )
            events.record(
                session,
                type="audit.app.droplet.create",
                app=app,
                actor=build.created_by,
                data={
                    "build": guid,
                    "buildpacks": list(droplet.buildpacks),
                    "revision": revision.version,
                },
            )
        for digest in freed.blobs:  # after the commit: a failed one leaves a stray file
            self.blobs.delete(digest)
        for bundle in map(Path, freed.bundles):  # an image's root and its shifted copy
            if bundle.parent == self.images_root / "bundles":
                shutil.rmtree(bundle, ignore_errors=True)

    def _ensure_processes(self, session: Any, app: App, types: dict[str, str]) -> None:
        existing = {
            p.type for p in session.scalars(select(Process).where(Process.app_guid == app.guid))
        }
        for type_ in types:
            if type_ not in existing and type_ != RELEASE:
                session.add(
                    Process(
                        app_guid=app.guid,
                        type=type_,
                        instances=1 if type_ == "web" else 0,
                        health_check_type="port" if type_ == "web" else "process",
                    )
                )

    def _fail(self, guid: str, message: str, *, revision_guid: str | None = None) -> None:
        with self.store.session() as session:
            build = session.get(Build, guid)
            if build is None:
                return
            build.state = "FAILED"
            build.error = message
            app = session.get(App, build.app_guid)
            revision = session.get(Revision, revision_guid) if revision_guid else None
            if revision is not None:  # made, never released: say so in `yun revisions`
                revision.description = f"{revision.description} (release phase failed)"
            events.record(
                session,
                type="audit.app.build.failed",
                app=app,
                actor=build.created_by,
                data={"build": guid, "error": message},
            )
