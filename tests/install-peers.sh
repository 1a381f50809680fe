#!/usr/bin/env bash
# The real peers the test suite talks to (curl, nginx, HAProxy, ApacheBench, openssl,
# aiosmtpd, Postfix, swaks, iproute2's ss, logrotate, goaccess, chromium, the
# Prometheus client's parsers, dnsmasq, keepalived, the HTTP/2 clients) and qemu-user for the arm64
# binary, from Debian's packages. Run by
# `npm test` before the suite; idempotent and quiet when all are there.
#
# As root with apt-get it installs what is missing, non-interactively and
# without starting a system Postfix (nor any other service). Otherwise it
# stops at once with one line naming the packages and the command that
# installs them.
set -uo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
have curl || need+=(curl)
have ss || need+=(iproute2)
have openssl || need+=(openssl)
have python3 || need+=(python3)
have setpriv || need+=(util-linux)
# aiosmtpd for Debian's own /usr/bin/python3 (a pyenv python3 first on PATH does not see it).
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need+=(python3-aiosmtpd)
# Postfix: run by the tests as private instances on loopback, never as a service.
[ -x /usr/sbin/postfix ] || need+=(postfix)
have swaks || need+=(swaks)
# nginx: a real PROXY-aware HTTP peer and a server with default keep-alive settings.
have nginx || need+=(nginx)
# HAProxy: a real third-party PROXY protocol sender (send-proxy, send-proxy-v2) in front of plb.
have haproxy || need+=(haproxy)
# ApacheBench: an HTTP/1.0 keep-alive client (ab -k).
have ab || need+=(apache2-utils)
# The linux-arm64 binary is run under qemu-user with an aarch64 loader and libc.
have qemu-aarch64-static || need+=(qemu-user-static)
[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || need+=(libc6-arm64-cross)
# C compilers for the image's tiny entry point (build/proc-check.c), x86-64 and aarch64.
have gcc || need+=(gcc)
have aarch64-linux-gnu-gcc || need+=(gcc-aarch64-linux-gnu)
have unshare || need+=(util-linux)
# The Prometheus Python client's parsers check plb's /metrics (text format and OpenMetrics).
/usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1 || need+=(python3-prometheus-client)
# Debian's chromium, headless, shows the stats listener's status page to puppeteer-core.
have chromium || need+=(chromium)
# HTTP/2 clients: nghttp and h2load (nghttp2-client), and for Debian's /usr/bin/python3 the h2
# and hpack modules (tests/support/h2_client.py writes frames, valid or not) and grpcio (gRPC).
{ have nghttp && have h2load; } || need+=(nghttp2-client)
/usr/bin/python3 -c 'import h2' >/dev/null 2>&1 || need+=(python3-h2)
/usr/bin/python3 -c 'import hpack' >/dev/null 2>&1 || need+=(python3-hpack)
/usr/bin/python3 -c 'import grpc' >/dev/null 2>&1 || need+=(python3-grpcio)
# goaccess reads plb's access log in nginx's combined format.
have goaccess || need+=(goaccess)
# logrotate: runs the shipped deploy/logrotate/plb against a real plb (SIGUSR1 reopens the log).
have logrotate || need+=(logrotate)
# dnsmasq: a real DNS server on loopback for servers from DNS, run by the tests themselves
# (dnsmasq-base is the binary alone: no system service that would take port 53).
have dnsmasq || need+=(dnsmasq-base)
# keepalived: runs the shipped deploy/keepalived/ (VRRP) between two plb in network namespaces.
have keepalived || need+=(keepalived)
# pebble and pebble-challtestsrv: a real ACME server (and its DNS) on loopback for the ACME tests.
have pebble || need+=(pebble)

[ ${#need[@]} -eq 0 ] && exit 0

stop() {
  echo "npm test needs these Debian packages: ${need[*]} — install them with: sudo apt-get install -y ${need[*]} ($1)" >&2
  exit 1
}
[ "$(id -u)" -eq 0 ] || stop "not root, so not installed automatically"
command -v apt-get >/dev/null 2>&1 || stop "no apt-get on this machine"

echo "installing the test peers from Debian: ${need[*]}" >&2
# No configuration for postfix, and no service starts during the install.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
own_policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
fi
ok=1
{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; } >/tmp/plb-install-peers.log 2>&1 || ok=
[ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
if [[ " ${need[*]} " == *" postfix "* ]] && postfix status >/dev/null 2>&1; then
  postfix stop >/dev/null 2>&1 || true
fi
[ -n "$ok" ] || stop "apt-get failed; see /tmp/plb-install-peers.log"
exit 0
