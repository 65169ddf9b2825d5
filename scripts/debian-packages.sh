# shellcheck shell=bash
# Sourced by the scripts that need Debian packages: `need_packages PACKAGE...` installs those
# not installed yet (as root with apt-get), or names them and fails. Where there is no dpkg
# (not Debian), it assumes they are there and lets the build say otherwise.

need_packages() {
  command -v dpkg-query >/dev/null || return 0
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q "ok installed" ||
      missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing: ${missing[*]} (install them, or run as root with apt-get)"
    return 1
  fi
}
