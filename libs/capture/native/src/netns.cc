#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include <thread>

namespace pcapcf {

std::string ErrnoText(int err) {
  char buf[256];
  // GNU strerror_r returns a pointer that may or may not be buf.
  return std::string(strerror_r(err, buf, sizeof buf));
}

bool RunInNetns(const std::string& nsPath, const std::function<void()>& work, NativeError* err) {
  if (nsPath.empty()) {
    work();
    return true;
  }
  bool entered = false;
  std::thread worker([&]() {
    int fd = open(nsPath.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      err->code = (e == ENOENT || e == ESRCH) ? "NAMESPACE_NOT_FOUND"
                  : (e == EACCES || e == EPERM) ? "PERMISSION_DENIED"
                                                : "NAMESPACE_ERROR";
      err->message = "cannot open network namespace " + nsPath + ": " + ErrnoText(e) +
                     (e == ENOENT ? " (has the process exited?)" : "");
      return;
    }
    if (setns(fd, CLONE_NEWNET) != 0) {
      int e = errno;
      close(fd);
      err->code = (e == EPERM) ? "PERMISSION_DENIED" : "NAMESPACE_ERROR";
      err->message = "cannot enter network namespace " + nsPath + ": " +
                     (e == EINVAL ? std::string("not a network namespace") : ErrnoText(e));
      return;
    }
    close(fd);
    entered = true;
    work();
  });
  worker.join();
  return entered;
}

}  // namespace pcapcf
