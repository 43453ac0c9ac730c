#include "sync/executor.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

#include "imap/client.hpp"
#include "imap/date.hpp"
#include "imap/utf7.hpp"
#include "maildir/folder.hpp"
#include "maildir/name.hpp"
#include "state/folder_state.hpp"
#include "state/journal.hpp"
#include "state/lock.hpp"
#include "sync/planner.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"

namespace roam::sync {

using util::Error;
using util::Scope;
namespace fs = std::filesystem;

// The content key of a local file (see ContentKey): its size once every
// bare LF became CRLF, and its header block with LF line ends.
ContentKey local_content_key(const std::string& content) {
  ContentKey key;
  std::uint64_t crs = 0;
  for (std::size_t i = 0; i < content.size(); ++i) {
    if (content[i] == '\n' && (i == 0 || content[i - 1] != '\r')) {
      ++crs;
    }
  }
  key.crlf_size = content.size() + crs;
  // The header block ends at the first empty line, LF or CRLF alike (a
  // file written with CRLF line ends must key like its server copy).
  for (char c : content) {
    if (c == '\r') {
      continue;
    }
    key.header += c;
    std::size_t n = key.header.size();
    if (c == '\n' && (n == 1 || key.header[n - 2] == '\n')) {
      break;
    }
  }
  return key;
}

std::optional<ContentKey> file_content_key(const maildir::Entry& entry) {
  try {
    // The entry's folder is the directory above its new/ or cur/.
    maildir::Entry now = entry;
    util::Fd fd = maildir::Folder(fs::path(entry.path).parent_path().parent_path()).open(now);
    if (!fd) {
      ROAM_DEBUG(util::k_cat_sync, entry.path << " is gone; not matched by content");
      return std::nullopt;
    }
    return local_content_key(util::read_all(fd.get(), now.path));
  } catch (const Error& e) {
    ROAM_DEBUG(util::k_cat_sync, e.what());
    return std::nullopt;
  }
}

ContentKey server_content_key(const imap::HeaderInfo& h) {
  ContentKey key;
  key.crlf_size = h.rfc822_size;
  for (char c : h.header) {
    if (c != '\r') {
      key.header += c;
    }
  }
  return key;
}

// Finds the server copy of `upload` among `candidates`, one to one: by
// content key, else by Message-ID and size (Cyrus rewrites 8-bit header
// bytes on APPEND, which changes the key but neither of those).
std::optional<Uid> match_upload(const state::PendingUpload& upload,
                                std::map<Uid, Candidate>& candidates) {
  for (auto& [uid, c] : candidates) {
    if (!c.taken && c.key == upload.key) {
      c.taken = true;
      return uid;
    }
  }
  if (upload.message_id.empty()) {
    return std::nullopt;
  }
  for (auto& [uid, c] : candidates) {
    if (!c.taken && c.message_id == upload.message_id && c.size == upload.size) {
      c.taken = true;
      return uid;
    }
  }
  return std::nullopt;
}

}  // namespace roam::sync
