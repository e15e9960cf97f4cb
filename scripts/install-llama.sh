#!/usr/bin/env bash
# Install llama-cpp-python into the venv from a wheel built once and cached.
#
# PyPI has only its source. A native build (-march=native) dies with SIGILL on some
# of the machines this runs on, so it is built with GGML_NATIVE=OFF, without pip's
# cache (which may hold a native wheel from elsewhere), into a cache of our own that
# later installs and CI runs reuse instead of compiling for ten minutes again.
set -euo pipefail
bin=${1:?usage: install-llama.sh VENV_BIN}
version=0.3.36
wheels=${UHRWERK_WHEEL_CACHE:-$HOME/.cache/uhrwerk/wheels}/llama-cpp-python-portable
mkdir -p "$wheels"

works() { "$bin/python" -c "import llama_cpp; llama_cpp.llama_backend_init()" >/dev/null 2>&1; }

if "$bin/python" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$version')" 2>/dev/null \
    && works; then
  exit 0
fi
if ! ls "$wheels"/llama_cpp_python-"$version"-*.whl >/dev/null 2>&1; then
  echo "==> building llama-cpp-python $version for any x86-64 CPU (about 10 minutes, once)"
  tmp=$(mktemp -d)
  CMAKE_ARGS="-DGGML_NATIVE=OFF" "$bin/pip" wheel --no-deps --no-cache-dir \
    --no-binary llama-cpp-python "llama-cpp-python==$version" -w "$tmp"
  mv "$tmp"/llama_cpp_python-*.whl "$wheels"/
  rm -rf "$tmp"
fi
"$bin/pip" install --quiet --find-links "$wheels" "llama-cpp-python==$version"
if ! works; then
  echo "==> the cached llama-cpp-python wheel does not run here; removing it, rerun make install" >&2
  rm -f "$wheels"/llama_cpp_python-"$version"-*.whl
  "$bin/pip" uninstall -y llama-cpp-python >/dev/null
  exit 1
fi
