"""Start Spark for embviz: find Java and pyspark, check the master, launch the JVM quietly.

Shared by the jobs that run on Spark (:mod:`embviz.train.engine_spark`, which trains word2vec,
and :mod:`embviz.spark.recommend`, which scores users against items). The JVM's own output
goes to a temporary file unless asked for, and Spark's logging is kept at WARN, so a job's
stderr is embviz's one-line messages.

Nothing here prints, exits or reads the environment (the JVM itself reads ``JAVA_HOME``);
errors are :class:`~embviz.errors.EmbvizError` subclasses with a one-line message.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import socket
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

from embviz.errors import EmbvizError, InvalidQuery, MissingDependency

#: The one-line hints for what to install.
JVM_HINT = "apt-get install openjdk-17-jre-headless"
PYSPARK_HINT = "pip install 'embviz[spark]'"

_LOG4J = """\
rootLogger.level = {level}
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = spark: %p %c{{1}}: %m%n%ex
"""


#: Shuffle partitions per core of a ``local[N]`` master when ``--spark-conf`` does not set
#: ``spark.sql.shuffle.partitions``. Spark's default, 200, is sized for clusters: on one machine
#: each of 200 tasks costs tens of milliseconds whatever its size, so a 5,000-event log took
#: 32.7 and 35.9 s to train on local[2] with 200 and 21.0 and 22.2 s with 8 (4 a core).
LOCAL_SHUFFLE_PER_CORE = 4


def local_cores(master: str) -> int | None:
    """Return the worker threads of a local master (``local``, ``local[N]``, ``local[*]``, ``local[N,F]``).

    None for any other master.
    """
    m = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?", master.strip())
    if m is None:
        return None
    cores = m.group(1)
    if cores is None:  # plain "local": one thread
        return 1
    return max(1, os.cpu_count() or 1) if cores == "*" else max(1, int(cores))


class SparkError(EmbvizError):
    """Spark could not start, reach its master, or run the job; the message is one line."""


# -- environment checks ----------------------------------------------------------------------
def find_java(environ: Mapping[str, str]) -> str:
    """Return the ``java`` Spark's launcher will run: ``$JAVA_HOME/bin/java``, else on ``PATH``.

    Both are taken from `environ`, which the caller passes (the library reads no environment).

    Raises
    ------
    MissingDependency
        If there is none: one line naming ``apt-get install openjdk-17-jre-headless``.
    """
    home = environ.get("JAVA_HOME")
    if home:
        java = Path(home) / "bin" / "java"
        if not (java.is_file() and os.access(java, os.X_OK)):
            raise MissingDependency(
                f"Spark needs Java: JAVA_HOME={home} has no bin/java; "
                f"install a JVM with: {JVM_HINT} (or fix JAVA_HOME)"
            )
        return str(java)
    java = shutil.which("java", path=environ.get("PATH", os.defpath))
    if java is None:
        raise MissingDependency(f"Spark needs Java and none is on PATH; install it with: {JVM_HINT}")
    return java


def require_pyspark() -> Any:
    """Import pyspark, or raise :class:`MissingDependency` naming ``pip install 'embviz[spark]'``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas-version FutureWarnings from pyspark
            import pyspark
            import pyspark.sql  # noqa: F401
    except ImportError:
        raise MissingDependency(f"--engine spark needs pyspark; install it with: {PYSPARK_HINT}") from None
    return pyspark


def check_master(master: str, timeout: float = 5.0) -> None:
    """Check that a standalone master (``spark://host:port[,host:port]``) accepts connections.

    Other masters (``local[...]``, ``yarn``, ``k8s://...``) are left to Spark.

    Raises
    ------
    SparkError
        If no listed host accepts a TCP connection within `timeout` seconds, or the URL has no
        port.
    """
    if not master.startswith("spark://"):
        if not re.fullmatch(r"local(\[(\*|\d+)(,\d+)?\])?|local-cluster\[.*\]|yarn|k8s://.+|"
                            r"mesos://.+|connect://.+|sc://.+", master):
            raise InvalidQuery(
                f"--master {master!r} is not a Spark master URL; expected local[*], local[N], "
                "spark://HOST:PORT, yarn or k8s://HOST:PORT"
            )
        return
    reasons = []
    for hostport in master[len("spark://"):].split(","):
        host, _, port = hostport.rpartition(":")
        if not host or not port.isdigit():
            raise InvalidQuery(f"--master {master!r}: expected spark://HOST:PORT")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                return
        except OSError as exc:
            reasons.append(f"{hostport}: {exc.strerror or type(exc).__name__}")
    raise SparkError(
        f"cannot reach the Spark master {master} ({'; '.join(reasons)}); "
        "check --master and that the master is running"
    )


def _java_message(exc: BaseException) -> str:
    """Return the first line of a Java exception's message (Py4JJavaError), else of str(exc)."""
    java = getattr(exc, "java_exception", None)
    text = None
    if java is not None:
        try:
            text = java.getMessage()
            cause = java.getCause()
            while not text and cause is not None:
                text, cause = cause.getMessage(), cause.getCause()
        except Exception:  # noqa: BLE001 - the gateway may be gone
            text = None
    text = text or str(exc) or type(exc).__name__
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _jvm_log_tail(path: Path | None) -> str:
    if path is None or not path.exists():
        return ""
    lines = [
        ln.strip()
        for ln in path.read_text(errors="replace").splitlines()
        if ln.strip() and not ln.startswith(("WARNING: Using incubator", "netlib-blas"))
    ]
    return lines[-1] if lines else ""


def start_session(
    master: str = "local[*]",
    conf: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    *,
    spark_log: bool = False,
    app_name: str = "embviz-train",
) -> Any:
    """Start (or join) a Spark session; the caller stops it (``spark.stop()``).

    Parameters
    ----------
    master : str
        ``local[*]``, ``local[N]``, ``spark://HOST:PORT``, ``yarn``, ``k8s://...``.
    conf : mapping or sequence of (key, value)
        Extra Spark configuration (``--spark-conf KEY=VALUE``), applied last. On a local
        master, ``spark.sql.shuffle.partitions`` defaults to 4 per core instead of Spark's 200
        (:data:`LOCAL_SHUFFLE_PER_CORE`); a value given here wins.
    spark_log : bool
        Where the JVM's own output goes when this call launches the JVM: True, to this
        process's stderr, with Spark's logging at WARN; False, to a temporary file (its last
        line is quoted if the JVM fails to start). The JVM is launched once per Python process;
        later sessions reuse it and its logging.

    Raises
    ------
    MissingDependency
        If pyspark is not installed or the JVM cannot be started.
    SparkError
        If the master is unreachable or Spark refuses the configuration.
    """
    require_pyspark()
    check_master(master)
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    items = list(conf.items()) if isinstance(conf, Mapping) else list(conf)
    cores = local_cores(master)
    if cores is not None and "spark.sql.shuffle.partitions" not in dict(items):  # see LOCAL_SHUFFLE_PER_CORE
        items = [("spark.sql.shuffle.partitions", str(LOCAL_SHUFFLE_PER_CORE * cores)), *items]
    sconf = (
        SparkConf(loadDefaults=False)
        .setMaster(master)
        .setAppName(app_name)
        .set("spark.ui.showConsoleProgress", "false")
        .set("spark.ui.enabled", "false")
    )
    log_path = None
    gateway = None
    if SparkContext._gateway is None:  # first session of this process: launch the JVM ourselves
        from pyspark.java_gateway import launch_gateway

        logdir = Path(tempfile.mkdtemp(prefix="embviz-spark-"))
        # The JVM's log4j settings and captured output live as long as this process.
        atexit.register(shutil.rmtree, logdir, ignore_errors=True)
        props = logdir / "log4j2.properties"
        props.write_text(_LOG4J.format(level="warn"))
        extra = dict(items).get("spark.driver.extraJavaOptions", "")
        sconf.set(
            "spark.driver.extraJavaOptions",
            f"-Dlog4j2.configurationFile=file:{props} {extra}".strip(),
        )
        for key, value in items:
            if key != "spark.driver.extraJavaOptions":
                sconf.set(key, value)
        popen: dict[str, Any] = {}
        if not spark_log:
            log_path = logdir / "jvm.log"
            log = open(log_path, "wb")  # noqa: SIM115 - the JVM keeps writing to it
            popen = {"stdout": log, "stderr": log}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gateway = launch_gateway(sconf, popen)
        except Exception as exc:  # noqa: BLE001 - PySparkRuntimeError, OSError
            tail = _jvm_log_tail(log_path)
            raise MissingDependency(
                f"cannot start the JVM for Spark ({tail or _java_message(exc)}); "
                f"install Java with: {JVM_HINT}"
            ) from None
    else:
        for key, value in items:
            sconf.set(key, value)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc = SparkContext(conf=sconf, gateway=gateway)
            spark = SparkSession(sc)
    except Exception as exc:  # noqa: BLE001 - Py4JJavaError, IllegalArgumentException, ...
        raise SparkError(f"cannot start Spark on --master {master}: {_java_message(exc)}") from None
    sc.setLogLevel("WARN")
    return spark
