#!/bin/sh
# Installs Debian's docker.io: /usr/bin/docker (a docker CLI, 20.10, for the
# tests when no newer one is found) and /usr/sbin/dockerd (for the side-by-side
# benchmarks, which run their own dockerd on their own sockets).
#
# The package's maintainer scripts would start and enable a system dockerd
# (and containerd) that then rewrites iptables. While installing, a
# policy-rc.d answers "not now" (101) to every start request; afterwards the
# units the install enabled are disabled again, so nothing of it runs now or
# after a reboot. A dockerd that ran before is never touched: this script
# does nothing when docker.io is installed already.
# Used by `make deps` and benchmarks/dockerd.py.
set -eu

if dpkg -s docker.io >/dev/null 2>&1; then
  exit 0
fi
policy=/usr/sbin/policy-rc.d
added=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  added=1
fi
cleanup() {
  if [ -n "$added" ]; then rm -f "$policy"; fi
}
trap cleanup EXIT

# containerd may be there already, enabled for another user: keep it so.
had_containerd=""
if dpkg -s containerd >/dev/null 2>&1; then had_containerd=1; fi

# A dockerd running now is someone else's: never stopped below.
before=" $(pgrep -x dockerd | tr '\n' ' ') "

echo "installing Debian's docker.io (docker CLI 20.10; its dockerd is left stopped and disabled)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io </dev/null

units="docker.service docker.socket"
if [ -z "$had_containerd" ]; then units="$units containerd.service"; fi
# systemctl enables and disables by editing links: it needs no running systemd.
if command -v systemctl >/dev/null 2>&1; then
  # shellcheck disable=SC2086  # one word per unit
  systemctl disable --quiet $units 2>/dev/null || true
fi
# The SysV links (a machine booted without systemd).
update-rc.d docker disable >/dev/null 2>&1 || true

# Should a start have slipped through (no policy-rc.d honoured), stop it.
for pid in $(pgrep -x dockerd || true); do
  case "$before" in *" $pid "*) continue ;; esac
  if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/sbin/dockerd ]; then
    echo "stopping the dockerd ($pid) the install started"
    if [ -d /run/systemd/system ]; then
      systemctl stop docker.service docker.socket 2>/dev/null || kill "$pid"
    else
      kill "$pid"
    fi
  fi
done
