#!/bin/bash
# Every libarchive reader and writer is made by common/tar.{h,cc}, and every
# header goes through tar::next_header / tar::write_header: that is what
# keeps file names bytes in any locale (docs/dev/snapshotter.md, "File names
# are bytes"). A new tar setup elsewhere would bring back the locale's
# conversions; this lists any.
set -u
src=${XBUILD_SOURCE_DIR:?}
cd "$src" || exit 1
pattern='archive_(read|write)_new\(|archive_write_disk_new\(|archive_read_next_header2?\(|archive_write_header\(|archive_write_set_format|archive_read_support_format'
hits=$(grep -rnE "$pattern" --include='*.cc' --include='*.h' cli common exporter frontend registry snapshotter solver store executor |
  grep -v '^common/tar\.cc:')
if [ -n "$hits" ]; then
  echo "FAIL one-tar-setup: libarchive set up outside common/tar.cc (use tar::reader/writer/next_header/write_header):"
  echo "$hits"
  exit 1
fi
echo "ok one-tar-setup"
