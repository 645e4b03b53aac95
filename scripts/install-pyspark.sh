#!/usr/bin/env bash
# Creates the Python environment the Spark test (tests/spark.rs) runs in, when it is missing:
# a virtual environment with pyspark 4.3 and pyarrow from the package registry, and Java 17
# (Debian's) when there is no `java`. Prints the environment's python.
set -euo pipefail
venv="${FAULTLINE_SPARK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/faultline/spark-venv}"
if ! command -v java >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >&2
fi
if ! "$venv/bin/python" -c 'import pyspark, pyarrow; assert pyspark.__version__.startswith("4.3")' \
        >/dev/null 2>&1; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check "pyspark==4.3.*" pyarrow pandas >&2
fi
echo "$venv/bin/python"
