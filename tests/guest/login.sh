#!/bin/sh
# login.sh: the "log in" of the paper's first experiment (section 5.3.1), run by busybox sh.
# Creates a user and its home, writes a few files, runs the commands of a short interactive session
# (ls, ps, cat, grep, du, sort) and touches some memory by writing data into tmpfs, as a login
# shell and its first commands would. The session's output goes to ~/session.log, not to the
# console. Prints:
#   MKD login start user=U mb=M data=D
#   MKD login done user=U files=N home_kb=K tmp_mb=M seconds=S
# Options: --user NAME (default guest), --mb M (MiB written to /tmp, default 16), --data KIND:
# what those MiB are: random (default: /dev/urandom, incompressible) or text (a text corpus: the
# kernel's symbol table, /proc/kallsyms, its lines numbered, then repeated with a line before each
# pass (so no page repeats one before it) until M MiB in two files: compressible as text is).
user=guest
mb=16
data=random
while [ $# -gt 0 ]; do
  case "$1" in
    --user) user="$2"; shift 2 ;;
    --mb) mb="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    *) echo "login.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$data" in
  random | text) ;;
  *) echo "login.sh: --data $data: use random or text" >&2; exit 2 ;;
esac
start=$(cut -d' ' -f1 /proc/uptime)
echo "MKD login start user=$user mb=$mb data=$data"

home=/home/$user
mkdir -p "$home"
grep -q "^$user:" /etc/passwd 2>/dev/null ||
  echo "$user:x:1000:1000:$user:$home:/bin/sh" >>/etc/passwd
grep -q "^$user:" /etc/group 2>/dev/null || echo "$user:x:1000:" >>/etc/group
cd "$home" || exit 1
export HOME="$home" USER="$user" LOGNAME="$user"

cat >.profile <<'PROFILE'
export PS1='\u@\h:\w\$ '
alias ll='ls -l'
PROFILE
echo "Welcome to the miyakodori guest, $user." >motd.txt
seq 1 5000 >numbers.txt
uname -a >uname.txt
date >login-time.txt
{
  ls -la "$home"
  ps
  cat /proc/meminfo
  cat motd.txt
  grep -c 7 numbers.txt
  grep MemFree /proc/meminfo
  sort -r numbers.txt | head -n 3
  du -sk "$home"
  df -k /tmp
} >session.log 2>&1

# The memory a session touches: data into tmpfs (stays resident, like a user's work).
if [ "$data" = random ]; then
  dd if=/dev/urandom of="/tmp/$user-session.bin" bs=1M count="$mb" 2>>session.log
else
  if ! head -n 1 /proc/kallsyms 2>/dev/null | grep -q .; then
    echo "login.sh: --data text reads /proc/kallsyms, which is empty here" >&2
    exit 1
  fi
  # One pass through awk (slow under TCG), the others copied with a line of their own before
  # each, which shifts them against the pages of the passes before.
  bytes=$((mb * 1048576))
  awk '{ print "1." NR " " $0 }' /proc/kallsyms | head -c "$bytes" >"/tmp/$user-session.bin"
  more=$((bytes - $(wc -c <"/tmp/$user-session.bin")))
  pass=1
  while [ "$more" -gt 0 ]; do
    pass=$((pass + 1))
    echo "pass $pass of the kernel's symbols"
    cat "/tmp/$user-session.bin" || exit 1
  done 2>>session.log | head -c "$more" >"/tmp/$user-session-more.bin"
fi
sha256sum "/tmp/$user-session.bin" >>session.log

chown -R 1000:1000 "$home" 2>/dev/null
files=$(find "$home" -mindepth 1 -maxdepth 1 | wc -l)
home_kb=$(du -sk "$home" | cut -f1)
end=$(cut -d' ' -f1 /proc/uptime)
seconds=$(echo "$end $start" | awk '{printf "%.2f", $1 - $2}')
echo "MKD login done user=$user files=$files home_kb=$home_kb tmp_mb=$mb seconds=$seconds"
