// systemd's readiness protocol (sd_notify(3)) without libsystemd: datagrams
// of "KEY=value" lines sent to the unix socket named by $NOTIFY_SOCKET (a
// path, or "@name" for the abstract namespace). Without that variable every
// call does nothing, so callers need not check.
//
// With Type=notify, systemd takes messages from the main process only
// (NotifyAccess=main): run usbd with -f under such a unit.
#ifndef USBD_KERNEL_NOTIFY_H_
#define USBD_KERNEL_NOTIFY_H_

#include <string>

#include "util/status.h"

namespace usbd {

// True when $NOTIFY_SOCKET is set (we run under a Type=notify unit).
bool NotifyEnabled();

// Sends `state`, one or more "KEY=value" lines separated by '\n'.
// Newlines inside a STATUS= text must not be passed (they end the line).
Status Notify(const std::string& state);

// READY=1, MAINPID= and STATUS=`status`: the service is up.
void NotifyReady(const std::string& status);
// STATUS=`status`: shown by `systemctl status`.
void NotifyStatus(const std::string& status);
// STOPPING=1 and STATUS=`status`: shutting down (flushing, detaching).
void NotifyStopping(const std::string& status);

}  // namespace usbd

#endif  // USBD_KERNEL_NOTIFY_H_
