#!/bin/sh
# Runs a command in a private mount namespace where host-name resolution hangs: /etc/resolv.conf
# names a DNS server (127.53.14.1, on which the test keeps a UDP socket that never answers), and
# /etc/hosts adds connpool-resolves.test (127.0.0.1) so that a name that resolves exists too.
# Needs root (unshare -m, mount --bind); exits 77 (skipped) without.
#   hung_resolver.sh <command> [args...]
set -eu
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
    echo "hung_resolver.sh: needs root and unshare (util-linux); skipped" >&2
    exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf 'nameserver 127.53.14.1\noptions timeout:5 attempts:1\n' >"$dir/resolv.conf"
{ cat /etc/hosts; printf '127.0.0.1 connpool-resolves.test\n'; } >"$dir/hosts"
printf 'hosts: files dns\n' >"$dir/nsswitch.conf"
status=0
unshare -m sh -c '
    d=$1; shift
    for f in resolv.conf hosts nsswitch.conf; do mount --bind "$d/$f" "/etc/$f"; done
    exec "$@"' hung_resolver "$dir" "$@" || status=$?
exit $status
