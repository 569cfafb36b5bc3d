#!/usr/bin/env bash
# datafs.sh: give a project-local ClickHouse a journaled filesystem for its data.
#
#   datafs.sh mount  DIR   mount DIR.img (ext4 with a journal) on DIR, when needed
#   datafs.sh umount DIR   unmount it (the image and its data are kept)
#
# Why: ClickHouse writes every part as a directory of files (two per column)
# and deletes the parts it has merged; tests and benchmarks create and drop
# thousands of them. On ext4 WITHOUT a journal (this project's CI machine:
# /proc/fs/jbd2 has no entry for its root device), the kernel skips every
# recently deleted inode when it allocates one (recently_deleted() in
# fs/ext4/ialloc.c, no-journal mode only), so each file ClickHouse creates
# costs a scan that grows with what it deleted in the last minutes. Measured
# with perf on that machine: 58% of its CPU in ClickHouse's insert threads, in
# the kernel (find_inode_bit, recently_deleted, find_get_block_common), during
# a sync of 200 small accounts, which took 22.8-26.1 s there and 9.7-10.5 s on
# a journaled ext4 image (docs/benchmarks.md, "Machine"). A production
# ClickHouse runs on a journaled filesystem, so the servers of `make` do too.
#
# mount does nothing (and says why) unless DIR's filesystem is ext4 without a
# journal, we are root and a loop device can be set up; a DIR that already
# holds files and is not our mount is left as it is (remove it to get the
# image). The image is sparse (DATAFS_SIZE, default 32G) and mounted with
# discard, so it takes on disk what the server keeps. WXSYNC_DATAFS=off
# disables it. Idempotent: a DIR already mounted from its image is left alone.
set -euo pipefail

cmd=${1:?usage: datafs.sh mount|umount DIR}
dir=${2:?usage: datafs.sh mount|umount DIR}
dir=${dir%/}
img=$dir.img

say() { echo "datafs.sh: $*" >&2; }

ours() { # DIR is mounted from IMG
  mountpoint -q "$dir" 2>/dev/null || return 1
  local src
  src=$(findmnt -n -o SOURCE --mountpoint "$dir" 2>/dev/null) || return 1
  [ -e "$img" ] && losetup -j "$img" 2>/dev/null | grep -q "^$src:"
}

nojournal() { # the filesystem that holds DIR's parent is ext4 without a journal
  local parent src fstype
  parent=$(dirname "$dir")
  read -r src fstype < <(findmnt -n -o SOURCE,FSTYPE -T "$parent") || return 1
  [ "$fstype" = ext4 ] || return 1
  [ -b "$src" ] || return 1
  ! ls /proc/fs/jbd2/ 2>/dev/null | grep -q "^$(basename "$src")-"
}

case "$cmd" in
mount)
  [ "${WXSYNC_DATAFS:-auto}" = off ] && exit 0
  mkdir -p "$(dirname "$dir")"
  ours && exit 0
  nojournal || exit 0 # a journaled (or other) filesystem: nothing to do
  if [ "$(id -u)" != 0 ] || ! command -v mkfs.ext4 >/dev/null 2>&1; then
    say "$dir is on ext4 without a journal; not root or no mkfs.ext4: ClickHouse keeps its data there (slower file creation)"
    exit 0
  fi
  if [ -d "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
    say "$dir already holds files: left on ext4 without a journal (stop the server and remove it to use $img)"
    exit 0
  fi
  mkdir -p "$dir"
  if [ ! -e "$img" ]; then
    truncate -s "${DATAFS_SIZE:-32G}" "$img"
    if ! mkfs.ext4 -q -F -m 0 -i 8192 "$img" >/dev/null 2>&1; then
      rm -f "$img"
      say "mkfs.ext4 failed: ClickHouse keeps its data in $dir"
      exit 0
    fi
  fi
  if ! mount -o loop,discard "$img" "$dir" 2>/dev/null; then
    say "could not mount $img (no loop device?): ClickHouse keeps its data in $dir"
    exit 0
  fi
  rmdir "$dir/lost+found" 2>/dev/null || true # not a database
  say "$dir: ext4 with a journal, in $img"
  ;;
umount)
  ours || exit 0
  umount "$dir"
  ;;
*)
  echo "usage: datafs.sh mount|umount DIR" >&2
  exit 2
  ;;
esac
