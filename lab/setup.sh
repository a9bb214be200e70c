#!/usr/bin/env bash
# Everything the test suites need on a Debian/Ubuntu machine, as root or
# with sudo:
#
#   bash lab/setup.sh
#
# 1. installs the apt packages of the programs in lab/tools.list that are
#    missing (nothing, and no `apt-get update`, when none is);
# 2. makes sshd's privilege-separation directory /run/sshd (the tests run
#    sshd on 127.0.0.1 with their own configuration);
# 3. provisions the Windows lab (bash lab/provision.sh; idempotent).
#
# `npm run test:fresh` runs it, then `npm ci` and `npm test`; so does .ci/run.
set -euo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)

SUDO=()
if ((EUID != 0)); then
  command -v sudo >/dev/null || { echo "lab/setup.sh: run as root, or install sudo" >&2; exit 1; }
  SUDO=(sudo)
fi

# An executable file at that path, or on PATH.
present() {
  local file=$1
  [[ $file == /* ]] || file=$(type -P "$file") || return 1
  [[ -f $file && -x $file ]]
}

missing=()
while read -r program package _; do
  [[ -z $program || $program == \#* ]] && continue
  present "$program" || missing+=("$package")
done <"$HERE/tools.list"

if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "lab/setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  while read -r program package _; do
    [[ -z $program || $program == \#* ]] && continue
    present "$program" || { echo "lab/setup.sh: $program still missing after installing $package" >&2; exit 1; }
  done <"$HERE/tools.list"
else
  echo "lab/setup.sh: every program in lab/tools.list is installed"
fi

[[ -d /run/sshd ]] || "${SUDO[@]}" mkdir -p -m 0755 /run/sshd

bash "$HERE/provision.sh"
