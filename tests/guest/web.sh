#!/bin/sh
# web.sh: the web workload of the paper (section 5.3.3), run by busybox sh.
# Creates --files files of --kb KiB in a tmpfs directory, serves them with busybox httpd on
# 127.0.0.1:80, and runs mkd-loadgen against it inside the same guest (as httperf ran inside the
# migrating VM in the paper). Prints:
#   MKD loadgen populated files=F kb=S seconds=X
#   MKD web serving files=F kb=S dir=D
# then everything mkd-loadgen prints (README.md). The guest needs RAM for the files: files * kb
# KiB plus about 80 MiB (the default 1,024 x 256 KiB needs -m 512M or more).
# Options: --files F (1024), --kb S (256), --rate R (100), --connections N, --seconds T,
#          --dir D (/srv/www), --exit (mkd-loadgen exits when done instead of idling).
files=1024
kb=256
dir=/srv/www
loadgen_args=
while [ $# -gt 0 ]; do
  case "$1" in
    --files) files="$2"; shift 2 ;;
    --kb) kb="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --rate|--connections|--seconds|--timeout-ms|--max-open)
      loadgen_args="$loadgen_args $1 $2"
      shift 2 ;;
    --exit) loadgen_args="$loadgen_args --exit"; shift ;;
    *) echo "web.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

mkdir -p "$dir"
# Room for the files plus 10 % and 1 MiB of directory overhead.
size_kb=$((files * kb + files * kb / 10 + 1024))
mount -t tmpfs -o "size=${size_kb}k,mode=0755" tmpfs "$dir" || exit 1
mkd-loadgen --populate "$dir" --files "$files" --kb "$kb" || exit 1

httpd -f -p 127.0.0.1:80 -h "$dir" &
tries=0
until wget -q -O /dev/null http://127.0.0.1/f00000 2>/dev/null; do
  tries=$((tries + 1))
  if [ $tries -ge 100 ]; then
    echo "MKD web error httpd-not-answering"
    exit 1
  fi
  sleep 0.1
done
echo "MKD web serving files=$files kb=$kb dir=$dir"
# shellcheck disable=SC2086 # loadgen_args is a list of words on purpose
exec mkd-loadgen --files "$files" --kb "$kb" $loadgen_args
