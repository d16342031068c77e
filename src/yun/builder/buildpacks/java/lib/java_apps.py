"""What the java buildpack's scripts share: the executable jar of an app folder, the stack's java.

An app is an executable jar in one of two shapes:

- packed: a `*.jar` at the top of the app folder whose META-INF/MANIFEST.MF names a `Main-Class`
  (`yun push` of a folder holding target/app.jar); it starts with `java -jar app.jar`;
- exploded: the app folder itself holds META-INF/MANIFEST.MF with a `Main-Class`, which is what
  Cloud Foundry's `cf push -p app.jar` uploads (the CLI unzips the jar); it starts with
  `java -cp .:<the manifest's Class-Path> <Main-Class>`, as Cloud Foundry's java_main does.

Only the standard library is used: this runs on the stack's /usr/bin/python3, during staging.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

MANIFEST = "META-INF/MANIFEST.MF"
# A class file's major version minus this is the Java release it needs (52 = Java 8, 61 = 17).
CLASS_VERSION_OFFSET = 44


@dataclass(frozen=True)
class JarApp:
    main_class: str
    jar: str | None  # the packed jar's file name; None for an exploded jar
    class_path: tuple[str, ...]
    start_class: str | None  # Spring Boot's own main class, started by its launcher

    @property
    def label(self) -> str:
        return self.jar or "the exploded jar (META-INF/MANIFEST.MF)"

    @property
    def command(self) -> str:
        if self.jar is not None:
            return f"java $JAVA_OPTS -jar {shlex.quote(self.jar)}"
        class_path = ":".join([".", *self.class_path])
        return f"java $JAVA_OPTS -cp {shlex.quote(class_path)} {shlex.quote(self.main_class)}"


def parse_manifest(text: str) -> dict[str, str]:
    """The main section of a jar manifest: `Name: value` lines; a line that starts with one
    space continues the previous one (manifests wrap at 72 bytes)."""
    attributes: dict[str, str] = {}
    last = ""
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            break  # the main section ends at the first empty line
        if line.startswith(" ") and last:
            attributes[last] += line[1:]
            continue
        name, sep, value = line.partition(":")
        if sep:
            last = name.strip()
            attributes[last] = value.strip()
    return attributes


def find(build_dir: Path) -> list[JarApp]:
    """The executable jars of an app: the exploded one alone if there is one, else every packed
    jar at the top of the folder whose manifest names a Main-Class, by name."""
    exploded = build_dir / MANIFEST
    if exploded.is_file():
        app = _app(exploded.read_text(encoding="utf-8", errors="replace"), jar=None)
        if app is not None:
            return [app]
    found = []
    for path in sorted(build_dir.glob("*.jar")):
        manifest = _read_jar_manifest(path)
        app = _app(manifest, jar=path.name) if manifest is not None else None
        if app is not None:
            found.append(app)
    return found


def _read_jar_manifest(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as jar:
            return jar.read(MANIFEST).decode("utf-8", errors="replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return None


def _app(manifest: str, *, jar: str | None) -> JarApp | None:
    attributes = parse_manifest(manifest)
    main_class = attributes.get("Main-Class", "")
    if not main_class:
        return None
    class_path = tuple(unquote(entry) for entry in attributes.get("Class-Path", "").split())
    return JarApp(
        main_class=main_class,
        jar=jar,
        class_path=class_path,
        start_class=attributes.get("Start-Class") or None,
    )


def required_java(build_dir: Path, app: JarApp) -> int | None:
    """The Java release the app's own main class was compiled for, when it can be read."""
    name = app.start_class or app.main_class
    member = name.replace(".", "/") + ".class"
    candidates = [member, f"BOOT-INF/classes/{member}"]  # Spring Boot keeps the app's classes apart
    for candidate in candidates:
        header = _read_head(build_dir, app, candidate)
        if header is not None and len(header) >= 8 and header[:4] == b"\xca\xfe\xba\xbe":
            return int.from_bytes(header[6:8], "big") - CLASS_VERSION_OFFSET
    return None


def _read_head(build_dir: Path, app: JarApp, member: str) -> bytes | None:
    try:
        if app.jar is None:
            with (build_dir / member).open("rb") as handle:
                return handle.read(8)
        with zipfile.ZipFile(build_dir / app.jar) as jar, jar.open(member) as handle:
            return handle.read(8)
    except (OSError, KeyError, zipfile.BadZipFile):
        return None


@dataclass(frozen=True)
class Java:
    path: str
    version: str  # as `java -version` says it: 17.0.15, 1.8.0_392
    runtime: str  # OpenJDK Runtime Environment

    @property
    def feature(self) -> int:
        """The release: 17 for 17.0.15, 8 for 1.8.0_392."""
        parts = re.findall(r"\d+", self.version)
        if not parts:
            return 0
        return int(parts[1]) if parts[0] == "1" and len(parts) > 1 else int(parts[0])

    @property
    def home(self) -> Path:
        return Path(self.path).resolve().parent.parent


class NoJava(Exception):
    """The stack has no usable java; the message is one line."""


def stack_java() -> Java:
    """The `java` on PATH, as the app will find it at runtime."""
    path = shutil.which("java")
    if path is None:
        raise NoJava("java is not on this stack (apt-get install default-jre-headless)")
    done = subprocess.run([path, "-version"], capture_output=True, text=True, check=False)
    text = done.stderr + done.stdout
    version = re.search(r'version "([^"]+)"', text)
    if done.returncode != 0 or version is None:
        print(text.strip(), flush=True)
        raise NoJava(f"{path} -version failed (exit {done.returncode})")
    lines = text.strip().splitlines()
    runtime = lines[1].split(" (build")[0].strip() if len(lines) > 1 else "Java"
    return Java(path=path, version=version.group(1), runtime=runtime)
