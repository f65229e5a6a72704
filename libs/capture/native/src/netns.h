// Running a piece of work inside another network namespace without moving any Node thread.
#pragma once
#include <functional>
#include <string>

namespace pcapcf {

struct NativeError {
  std::string code;     // stable code the TypeScript face maps to a typed error
  std::string message;  // a sentence a person can act on
};

// Runs `work` on a short-lived thread that first enters the network namespace at `nsPath`
// (e.g. /proc/<pid>/ns/net or /run/netns/<name>), then exits. setns(CLONE_NEWNET) changes only the calling
// thread, so the Node main thread and libuv's pool never leave their namespace. Sockets created by `work`
// stay bound to the namespace they were created in. With an empty path, `work` runs on the calling thread.
// Returns false (and fills `err`) when the namespace cannot be opened or entered; `work` did not run then.
bool RunInNetns(const std::string& nsPath, const std::function<void()>& work, NativeError* err);

std::string ErrnoText(int err);

}  // namespace pcapcf
