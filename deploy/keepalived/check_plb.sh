#!/bin/sh
# keepalived's check of the plb on this host (keepalived.conf: vrrp_script
# chk_plb): exit 0 while plb serves, non-zero otherwise.
#
# plb's /healthz (on its [stats] listener) answers 200 while serving and 503
# from the moment a stop begins, while its connections drain: the virtual
# address moves to the other host then, not only once plb has exited. When
# plb is not running there is no answer at all: non-zero too.
#
#   install -m 0755 deploy/keepalived/check_plb.sh /usr/local/lib/plb/check_plb.sh
#
# $1: the /healthz URL (default http://127.0.0.1:8404/healthz, [stats]
# listen = "127.0.0.1:8404"). It needs no token.
exec curl --fail --silent --show-error --max-time 1 --output /dev/null "${1:-http://127.0.0.1:8404/healthz}"
