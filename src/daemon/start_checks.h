// What a start needs that is local to this host, checked before the store
// is touched: a start that cannot serve fails here, before it creates a
// volume or records its size and block size, so the corrected command
// needs no --force. Also the warnings for settings that work but expose
// the volume or its secrets.
#ifndef USBD_DAEMON_START_CHECKS_H_
#define USBD_DAEMON_START_CHECKS_H_

#include "config/options.h"
#include "util/status.h"

namespace usbd {

// Checks, changing nothing (a TCP --listen address is bound and released):
//  - --test: BUCKET, if it exists, is a directory usbd can write; one it
//    cannot write (a read-only mount, permissions, chattr +i) is served
//    with --readOnly (and a warning), refused without it.
//  - --blockCacheFile: the file (and its ".lmdb" index), if they exist,
//    are regular files usbd can read and write; otherwise their directory
//    exists and usbd can create files in it; CheckCacheSpace() with
//    --blockSize (S3 and HTTP without --blockSize: not here, since the
//    volume's own block size is read later; main() checks then).
//  - --listen (not with --nbd): nbd::CheckListenAddress().
//  - --pidfile, --statsFilename, --metricsFile: usbd can create files in
//    their directories.
// First logs the warnings of WarnAboutExposure(). Returns the first
// problem, one line naming the option and the path.
Status CheckBeforeStart(const Options& options);

// --blockCacheFile: the file system holding it has room for the whole
// cache file (4 KiB + --blockCacheSize blocks of `block_size`, less
// what an existing cache file already has allocated); else ENOSPC, naming
// both figures. Checked at start only: other files may fill the file
// system later.
Status CheckCacheSpace(const Options& options, uint32_t block_size);

// Logs a warning, once each, for: --listen on every interface (tcp:HOST
// with HOST empty, 0.0.0.0, :: or [::]: NBD has neither TLS nor
// authentication); a --passwordFile, --accessFile (or the default
// ~/.s3backer_passwd) or --httpHeaderFile that group or others may access
// (mode & 077), as ssh does; a secret given on the command line
// (Options::secrets_on_command_line).
void WarnAboutExposure(const Options& options);

}  // namespace usbd

#endif  // USBD_DAEMON_START_CHECKS_H_
