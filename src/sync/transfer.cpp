#include "sync/executor.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

#include "imap/client.hpp"
#include "imap/date.hpp"
#include "imap/utf7.hpp"
#include "maildir/folder.hpp"
#include "maildir/message.hpp"
#include "maildir/name.hpp"
#include "state/folder_state.hpp"
#include "state/journal.hpp"
#include "state/lock.hpp"
#include "sync/planner.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/log.hpp"
#include "util/signal.hpp"

namespace roam::sync {

using util::Error;
using util::Scope;
namespace fs = std::filesystem;

namespace {

// Bodies of at least this many octets are marked whole in tmp/ (see
// download()).
constexpr std::uint64_t k_mark_finished_min = 256 * 1024;

// Adapts a Maildir delivery to the IMAP reader's literal sink. A local
// failure (tmp/ not writable, a full disk) must not reach the IMAP reader:
// the server is still sending the body, and an exception there would leave
// the rest of it to be read as responses to the next command. So the sink
// remembers the first error, swallows the remaining octets, and the caller
// reports the error once the FETCH is complete.
class DeliverySink : public imap::LiteralSink {
 public:
  explicit DeliverySink(maildir::Folder& folder) {
    try {
      m_delivery.emplace(folder.begin_delivery());
    } catch (const Error& e) {
      remember(e);
    }
  }

  void write(const char* data, std::size_t size) override {
    m_received += size;
    capture_header(data, size);
    if (!m_delivery) {
      return;
    }
    try {
      m_delivery->write(data, size);
    } catch (const Error& e) {
      remember(e);
      m_delivery.reset();  // Its destructor removes the file from tmp/.
    }
  }

  bool failed() const { return !m_delivery; }
  const std::string& error() const { return m_error; }
  maildir::Delivery& delivery() { return *m_delivery; }
  std::uint64_t bytes_received() const { return m_received; }

  // The content key of the octets received (the server sends CRLF line
  // ends, so their count is the CRLF size).
  ContentKey key() const {
    ContentKey key;
    key.crlf_size = m_received;
    for (char c : m_header) {
      if (c != '\r') {
        key.header += c;
      }
    }
    return key;
  }

 private:
  void remember(const Error& e) {
    if (e.scope() == Scope::Fatal) {
      throw;
    }
    if (m_error.empty()) {
      m_error = e.what();
    }
  }

  // Keeps the header block (up to and including the empty line that ends
  // it) for the content key; bounded, as a header can be endless.
  void capture_header(const char* data, std::size_t size) {
    if (m_header_done) {
      return;
    }
    constexpr std::size_t k_max_header = 1u << 20;
    for (std::size_t i = 0; i < size && !m_header_done; ++i) {
      m_header += data[i];
      std::size_t n = m_header.size();
      if ((n >= 4 && m_header.compare(n - 4, 4, "\r\n\r\n") == 0) ||
          (n >= 2 && m_header.compare(n - 2, 2, "\n\n") == 0) || n >= k_max_header) {
        m_header_done = true;
      }
    }
  }

  std::optional<maildir::Delivery> m_delivery;
  std::string m_error;
  std::uint64_t m_received = 0;
  std::string m_header;
  bool m_header_done = false;
};

// Streams the open file `fd` (at `path`) to an APPEND literal with every
// bare LF sent as CRLF.
void write_crlf(int fd, const fs::path& path, imap::LiteralSink& sink) {
  char in[65536];
  std::string out;
  char last = '\0';
  for (;;) {
    ssize_t n = ::read(fd, in, sizeof in);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      // Bytes were already promised to the server; the session cannot go on.
      throw Error(Scope::Account, util::errno_message("cannot read " + path.string()));
    }
    if (n == 0) {
      break;
    }
    out.clear();
    for (ssize_t i = 0; i < n; ++i) {
      char c = in[i];
      if (c == '\n' && last != '\r') {
        out += '\r';
      }
      out += c;
      last = c;
    }
    sink.write(out.data(), out.size());
  }
}

}  // namespace

void FolderSync::vanished_before_upload(const maildir::Entry& entry) {
  // A mail reader moved or deleted the file between the scan and now: nothing is
  // wrong, and the next run sees the folder without it.
  m_report.details.push_back(
      entry.path +
      " was moved or deleted by another program before its upload; left for the next run");
  m_complete = false;
}

void FolderSync::upload(const std::vector<Upload>& uploads, const imap::MailboxInfo& info) {
  if (uploads.empty()) {
    return;
  }
  // Every upload is journaled, with what identifies its server copy, before
  // the first APPEND: a run killed after an APPEND, or a server that does
  // not say which UID it gave, leaves an intent that a later run resolves
  // by finding the copy, never by uploading the file again.
  struct Item {
    const Upload* upload;
    maildir::Entry* entry;
    state::PendingUpload intent;
    std::optional<std::chrono::sys_seconds> date;
  };
  std::vector<Item> items;
  auto journal = state::Journal::open(m_journal_path, {{"uidvalidity", info.uidvalidity}});
  for (const auto& u : uploads) {
    auto it = m_entries.find(u.name);
    if (it == m_entries.end()) {
      continue;
    }
    // The file is read by its stable name: a mail reader may have renamed
    // it since the scan (new flags, new/ -> cur/), which changes nothing
    // that is uploaded.
    maildir::Entry& entry = *it->second;
    std::string content;
    struct stat st {};
    try {
      util::Fd fd = m_folder.open(entry);
      if (!fd) {
        vanished_before_upload(entry);
        m_entries.erase(it);
        continue;
      }
      content = util::read_all(fd.get(), entry.path);
      if (::fstat(fd.get(), &st) != 0) {
        st.st_mtime = 0;
      }
    } catch (const Error& e) {
      if (e.scope() == Scope::Fatal) {
        throw;
      }
      m_report.problems.push_back(std::string(e.what()) + "; not uploaded");
      continue;
    }
    if (std::string why = maildir::why_not_a_message(content); !why.empty()) {
      m_report.problems.push_back(entry.path + ": " + why +
                                  "; not uploaded (fix the file or move it out of the Maildir)");
      continue;
    }
    ContentKey key = local_content_key(content);
    state::PendingUpload intent{u.name,        content_key_text(key), message_id_of(key.header),
                                key.crlf_size, info.uidnext,          u.flags};
    content.clear();
    content.shrink_to_fit();
    std::optional<std::chrono::sys_seconds> date;
    if (st.st_mtime != 0) {
      date = std::chrono::sys_seconds(std::chrono::seconds(st.st_mtime));
    }
    journal.append(state::UploadEntry{intent});
    items.push_back({&u, &entry, std::move(intent), date});
  }
  if (items.empty()) {
    return;
  }
  journal.sync();
  count_step();

  std::vector<const Item*> unconfirmed;
  // The files of the messages in flight: each is opened just before its
  // APPEND is sent and closed when its answer is read.
  std::vector<util::Fd> files(items.size());
  auto next = [&](std::size_t i) -> std::optional<imap::AppendMessage> {
    const Item& item = items[i];
    // Opened before the APPEND is sent, by its stable name again: a file
    // renamed since it was read is still the same message, and one deleted
    // since is not sent at all (its intent is void, like a refused one).
    bool gone = false;
    try {
      files[i] = m_folder.open(*item.entry);
      gone = !files[i];
    } catch (const Error& e) {
      if (e.scope() == Scope::Fatal) {
        throw;
      }
      m_report.problems.push_back(std::string(e.what()) + "; not uploaded");
    }
    if (!files[i]) {
      if (gone) {
        vanished_before_upload(*item.entry);
      }
      journal.append(state::UploadRefusedEntry{item.intent.name});
      journal.sync();
      return std::nullopt;
    }
    return imap::AppendMessage{item.upload->flags, item.date, item.intent.size,
                               [&files, &item, i](imap::LiteralSink& sink) {
                                 write_crlf(files[i].get(), item.entry->path, sink);
                               }};
  };
  auto done = [&](std::size_t i, const imap::AppendResult& result) {
    const Item& item = items[i];
    files[i] = util::Fd();
    if (result.refusal) {
      // The server refused it, so it has no copy: the intent is void and
      // the file is tried again on the next run.
      m_report.problems.push_back(item.entry->path + ": " + result.refusal->what());
      journal.append(state::UploadRefusedEntry{item.intent.name});
      journal.sync();
      return;
    }
    count_step();
    ++m_report.uploaded;
    if (m_s.progress != nullptr) {
      m_s.progress->uploaded(item.intent.size);
    }
    if (result.uid) {
      journal.append(state::UploadedEntry{*result.uid, item.intent.name});
      m_records.set(*result.uid, state::MessageRecord{*result.uid, item.intent.name,
                                                      item.upload->flags, item.intent.key});
      m_f.fresh_uids.insert(*result.uid);
    } else {
      unconfirmed.push_back(&item);
    }
  };
  m_server.append_many(m_f.wire, items.size(), next, info.uidvalidity, done);
  journal.sync();
  if (unconfirmed.empty()) {
    return;
  }
  // The server did not say which UIDs it gave (no UIDPLUS): look for the
  // new messages from the UIDNEXT seen before the uploads on.
  std::vector<Uid> fresh;
  for (const auto& m : m_server.fetch_flags(0)) {
    if (m.uid >= info.uidnext && !m_records.contains(m.uid)) {
      fresh.push_back(m.uid);
    }
  }
  std::map<Uid, Candidate> candidates;
  for (const auto& h : m_server.fetch_headers(fresh)) {
    ContentKey key = server_content_key(h);
    candidates[h.uid] = Candidate{content_key_text(key), message_id_of(h.header), key.crlf_size};
  }
  for (const Item* item : unconfirmed) {
    std::optional<Uid> uid = match_upload(item->intent, candidates);
    if (!uid) {
      // Not visible yet (Courier shows a message appended in this session
      // only to later ones); the state keeps the intent.
      m_next.pending_uploads.push_back(item->intent);
      m_f.fresh_intents.insert(item->intent.name);
      m_complete = false;
      continue;
    }
    m_records.set(
        *uid, state::MessageRecord{*uid, item->intent.name, item->upload->flags, item->intent.key});
    m_f.fresh_uids.insert(*uid);
  }
}

void FolderSync::download(const std::vector<Download>& downloads,
                          const std::map<Uid, ContentKey>& keys, bool last) {
  if (downloads.empty()) {
    return;
  }
  // Choose every file name first and make the choices durable: a run killed
  // after a file reached the Maildir finds it again by this name.
  std::unordered_map<Uid, std::pair<std::string, const Download*>> wanted;
  std::vector<Uid> uids;
  {
    auto journal = state::Journal::open(m_journal_path, {{"uidvalidity", m_next.uidvalidity}});
    for (const auto& d : downloads) {
      std::string name = maildir::new_stable_name();
      journal.append(state::DownloadEntry{d.uid, name});
      wanted.emplace(d.uid, std::make_pair(name, &d));
      uids.push_back(d.uid);
    }
    journal.sync();
    count_step();
  }

  // Messages another client moved here from a folder whose files were
  // stashed in this run: the file moves over, the body is not fetched.
  std::size_t adopted = 0;
  if (m_stash != nullptr && !m_stash->empty()) {
    std::vector<Uid> rest;
    for (Uid uid : uids) {
      auto key = keys.find(uid);
      std::optional<fs::path> stashed;
      if (key != keys.end()) {
        stashed = m_stash->take(content_key_text(key->second));
      }
      const auto& [name, d] = wanted.at(uid);
      if (!stashed || !m_folder.adopt(*stashed, name, letters_of(d->flags))) {
        rest.push_back(uid);
        continue;
      }
      count_step();
      m_stash->downloaded(content_key_text(key->second));
      m_records.set(uid, state::MessageRecord{uid, name, d->flags, content_key_text(key->second)});
      wanted.erase(uid);
      ++adopted;
    }
    uids = std::move(rest);
    if (adopted > 0) {
      m_folder.sync_dirs();
      m_report.notices.push_back(std::to_string(adopted) +
                                 " message(s) moved here on the server were moved locally, not "
                                 "downloaded again");
    }
  }

  // A finished message waits in tmp/ until its batch (one FETCH command's
  // bodies) is complete. The batch is then made durable on a helper thread
  // (Folder::sync_data, then Folder::sync_dirs) while the next batch
  // arrives; once that is done its files are moved into place. The
  // directory sync of the next batch's job makes those moves durable, and
  // only then do their records join the state. So every file is durable
  // before its name appears in new/ or cur/, and every record before the
  // state can be committed, as when each batch was flushed in turn; the
  // flushes just no longer hold up the network and the file writes (B,
  // 100,000 messages: 2-3 s of 10). drain() settles everything at the end
  // of each chunk.
  struct Finished {
    maildir::Delivery delivery;
    std::string name;
    std::string letters;
    state::MessageRecord record;
    std::uint64_t bytes;  // As received, counted once the file is in place.
  };
  struct Flushing {
    std::vector<Finished> batch;
    // Declared after the batch, so destroyed first: leaving the scope by an
    // exception waits for the job before the batch's files are removed.
    std::future<void> synced;
  };
  std::optional<DeliverySink> pending;
  std::vector<Finished> batch;
  std::optional<Flushing> flushing;
  // Moved into place, waiting for the directory sync that makes the move
  // durable.
  std::vector<Finished> placed;
  auto keep_placed = [&] {
    // Only now are the messages kept: the summary's byte count is of
    // messages stored, not of bodies fetched and then lost to an error.
    for (auto& f : placed) {
      m_records.set(f.record.uid, std::move(f.record));
      ++m_report.downloaded;
      m_report.bytes += f.bytes;
      if (m_s.progress != nullptr) {
        m_s.progress->downloaded(f.bytes);
      }
    }
    placed.clear();
  };
  // Waits for the batch being flushed, then moves its files into place.
  auto place_flushed = [&] {
    if (!flushing) {
      return;
    }
    std::vector<Finished> files = std::move(flushing->batch);
    std::future<void> synced = std::move(flushing->synced);
    flushing.reset();
    synced.get();
    keep_placed();  // The job's directory sync covered the last moves.
    for (auto& f : files) {
      f.delivery.commit(f.name, f.letters);
      count_step();
      placed.push_back(std::move(f));
    }
  };
  auto sink_for = [&]() -> imap::LiteralSink* {
    pending.emplace(m_folder);
    return &*pending;
  };
  auto done = [&](const imap::FetchData& f) {
    auto it = wanted.find(*f.uid);
    const imap::BodySection* body = nullptr;
    for (const auto& s : f.sections) {
      if (s.section.empty()) {
        body = &s;
      }
    }
    if (it == wanted.end() || body == nullptr) {
      pending.reset();  // A body nobody asked for: drop it.
      return;
    }
    if (body->nil) {
      m_report.notices.push_back("the server has no body for uid " + std::to_string(*f.uid) +
                                 "; skipped");
      m_complete = false;
      pending.reset();
      return;
    }
    if (!body->streamed) {
      // Small bodies may come as quoted strings, which never reach a sink.
      pending.emplace(m_folder);
      pending->write(body->data.data(), body->data.size());
    }
    if (!pending) {
      throw Error(Scope::Fatal, "internal error: no delivery for uid " + std::to_string(*f.uid));
    }
    if (pending->failed()) {
      // The rest of the batch is still read from the server; the folder
      // fails once the command is complete (see DeliverySink).
      if (m_download_error.empty()) {
        m_download_error = pending->error();
      }
      m_complete = false;
      pending.reset();
      return;
    }
    const Download& d = *it->second.second;
    std::optional<std::chrono::sys_seconds> mtime;
    if (f.internaldate) {
      mtime = imap::parse_internaldate(*f.internaldate);
    }
    try {
      pending->delivery().finish_deferred(mtime);
      // Whole now: a run killed before the batch is moved into place
      // adopts a large body from tmp/ instead of fetching it again. A
      // small one is fetched again: the rename that marks it would cost
      // more than that (one rename in three of a download; B, 100,000
      // messages: about 1 s of 9).
      if (pending->bytes_received() >= k_mark_finished_min) {
        pending->delivery().mark_finished(it->second.first);
      }
    } catch (const Error& e) {
      if (e.scope() == Scope::Fatal) {
        throw;
      }
      if (m_download_error.empty()) {
        m_download_error = e.what();
      }
      m_complete = false;
      pending.reset();
      return;
    }
    batch.push_back(
        {std::move(pending->delivery()), it->second.first, letters_of(d.flags),
         state::MessageRecord{d.uid, it->second.first, d.flags, content_key_text(pending->key())},
         pending->bytes_received()});
    if (m_stash != nullptr) {
      m_stash->downloaded(batch.back().record.key);
    }
    pending.reset();
    wanted.erase(it);
  };
  auto after_batch = [&]() {
    if (batch.empty()) {
      return;
    }
    place_flushed();
    std::vector<fs::path> files;
    files.reserve(batch.size());
    for (const auto& f : batch) {
      files.push_back(f.delivery.tmp_path());
    }
    const maildir::Folder& folder = m_folder;
    flushing.emplace();
    flushing->batch = std::move(batch);
    batch.clear();
    flushing->synced = std::async(std::launch::async, [&folder, files = std::move(files)] {
      folder.sync_data(files);
      folder.sync_dirs();
    });
  };
  auto drain = [&]() {
    after_batch();
    place_flushed();
    if (!placed.empty()) {
      m_folder.sync_dirs();
      keep_placed();
    }
  };
  // In chunks, so that a stop asked for by a signal (util/signal.hpp) is
  // honoured between them, with everything fetched so far in place and
  // committed; a chunk costs one round trip more than one long pipeline.
  constexpr std::size_t k_chunk = 1000;
  for (std::size_t start = 0; start < uids.size(); start += k_chunk) {
    if (start > 0 && util::stop_requested() != 0) {
      m_report.notices.push_back("stopped after " + std::to_string(start) + " of " +
                                 std::to_string(uids.size()) +
                                 " downloads (roam was asked to stop); the rest follow on the "
                                 "next run");
      break;
    }
    std::vector<Uid> chunk(
        uids.begin() + static_cast<std::ptrdiff_t>(start),
        uids.begin() + static_cast<std::ptrdiff_t>(std::min(uids.size(), start + k_chunk)));
    if (last && start + k_chunk >= uids.size()) {
      m_server.last_call_follows();
    }
    m_server.fetch_bodies(chunk, sink_for, done, after_batch);
    drain();
  }
  if (!wanted.empty()) {
    // Expunged between the listing and the fetch; the next run will see it.
    m_complete = false;
  }
}

}  // namespace roam::sync
