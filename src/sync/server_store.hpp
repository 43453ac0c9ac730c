#pragma once

// The server side of one folder's sync, as the executor sees it: the store
// contract of docs/sync-semantics.md ("The executor's two sides"), after
// isync's driver interface. FolderSync drives a ServerStore and a
// maildir::Folder; in a run the ServerStore is ImapServerStore over the
// account's imap::Client, in tests it can be anything that keeps the
// contract (tests/unit/sync/folder_sync_test.cpp uses an in-memory one).
//
// The contract, for every implementation:
// - Mailbox names are wire names (modified UTF-7). open() selects one
//   mailbox; every later call but create() and append() applies to it.
// - A refusal of one command (NO, BAD) throws imap::CommandFailed (scope
//   Folder): nothing of that command took effect, and the store stays
//   usable. Any other failure throws util::Error with its scope; after an
//   Account-scope error the store is not used again (one connection
//   contract: a reply not read to its end is never followed by a command).
// - append() returns the UID the server gave when it said so (APPENDUID),
//   else nothing; the caller then finds the copy by content. append_many()
//   reports each message the same way, in order, and may have several in
//   flight: a kill between two reports leaves later messages sent or not.
// - move() leaves the source copies either gone (expunged = true) or
//   marked \Deleted; pairs are the (source, target) UIDs the server named.
// - fetch_bodies() calls sink_for() once per body before streaming it into
//   the sink, and done() once per message after its FETCH response ended.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "imap/client.hpp"

namespace roam::sync {

// The mailbox a store may open ahead for the next folder on its connection
// (see ServerStore::last_call_follows()).
struct OpenRequest {
  std::string mailbox;  // Wire name.
  imap::OpenMode mode = imap::OpenMode::Select;
  imap::OpenPrefetch prefetch;
};

class ServerStore {
 public:
  virtual ~ServerStore() = default;

  // Says that the next call is the folder's last: no call for this
  // mailbox follows it. A store may then send the next folder's SELECT
  // while that call's answers come in (ImapServerStore does). A store
  // without a next folder ignores it.
  virtual void last_call_follows() {}

  virtual void create(const std::string& mailbox) = 0;
  // `prefetch` is a hint (see imap::OpenPrefetch): a store may ignore it,
  // and the later calls answer the same either way.
  virtual imap::MailboxInfo open(const std::string& mailbox, imap::OpenMode mode,
                                 const imap::OpenPrefetch& prefetch) = 0;

  // Flags of every message (changedsince = 0), or of those whose modseq
  // is above `changedsince` (CONDSTORE).
  virtual std::vector<imap::MessageFlags> fetch_flags(imap::ModSeq changedsince) = 0;
  virtual std::vector<imap::MessageFlags> fetch_flags_for(const std::vector<imap::Uid>& uids) = 0;
  // The UIDs in the mailbox now and the flags of the messages changed
  // since `changedsince` (CONDSTORE), or nullopt when the store cannot say
  // (see imap::Client::list_changes()); the caller then uses fetch_flags(0).
  virtual std::optional<imap::MailboxChanges> list_changes(imap::ModSeq changedsince) = 0;
  virtual std::vector<imap::HeaderInfo> fetch_headers(const std::vector<imap::Uid>& uids) = 0;
  virtual std::vector<imap::HeaderInfo> fetch_all_headers() = 0;
  virtual void fetch_bodies(const std::vector<imap::Uid>& uids,
                            const std::function<imap::LiteralSink*()>& sink_for,
                            const std::function<void(const imap::FetchData&)>& done,
                            const std::function<void()>& after_batch) = 0;

  virtual std::optional<imap::Uid> append(const std::string& mailbox,
                                          const std::vector<std::string>& flags,
                                          std::optional<std::chrono::sys_seconds> internaldate,
                                          std::uint64_t size,
                                          const std::function<void(imap::LiteralSink&)>& write_body,
                                          std::uint32_t expected_uidvalidity) = 0;
  // Several APPENDs to one mailbox, as imap::Client::append_pipelined()
  // describes them: next(i) just before message i is sent (nullopt skips
  // it), done(i, result) once per message sent, in order. A store may send
  // them one by one; this default does, through append().
  virtual void append_many(
      const std::string& mailbox, std::size_t count,
      const std::function<std::optional<imap::AppendMessage>(std::size_t)>& next,
      std::uint32_t expected_uidvalidity,
      const std::function<void(std::size_t, const imap::AppendResult&)>& done) {
    for (std::size_t i = 0; i < count; ++i) {
      std::optional<imap::AppendMessage> message = next(i);
      if (!message) {
        continue;
      }
      imap::AppendResult result;
      try {
        result.uid = append(mailbox, message->flags, message->internaldate, message->size,
                            message->write_body, expected_uidvalidity);
      } catch (const imap::CommandFailed& e) {
        result.refusal = e;
      }
      done(i, result);
    }
  }
  // UID STORE; with unchangedsince > 0 the UIDs the server refused as
  // changed since go to `modified`.
  virtual void store_flags(const std::vector<imap::Uid>& uids, imap::StoreOp op,
                           const std::vector<std::string>& flags, imap::ModSeq unchangedsince,
                           std::vector<imap::Uid>* modified) = 0;
  virtual void uid_expunge(const std::vector<imap::Uid>& uids) = 0;
  // The STOREs of `stores` in order, then the UID EXPUNGE of `expunge`
  // (when not empty), as imap::Client::store_many() describes them: a
  // store may have them all in flight at once. A server that cannot
  // expunge single messages throws util::Error(Scope::Folder) after the
  // STOREs, as uid_expunge() does. This default sends them one by one.
  virtual void store_many(const std::vector<imap::StoreRequest>& stores,
                          const std::vector<imap::Uid>& expunge, std::vector<imap::Uid>* modified) {
    for (const auto& st : stores) {
      store_flags(st.uids, st.op, st.flags, st.unchangedsince, modified);
    }
    if (!expunge.empty()) {
      uid_expunge(expunge);
    }
  }
  virtual imap::MoveResult move(const std::vector<imap::Uid>& uids,
                                const std::string& target_mailbox,
                                std::uint32_t target_uidvalidity) = 0;
};

// The ServerStore of a real run: every call goes to the IMAP client.
class ImapServerStore final : public ServerStore {
 public:
  // `next`, when given, names the mailbox the connection's next folder
  // opens (nullopt: none, or not known yet); last_call_follows() sends its
  // SELECT ahead (imap::Client::send_open()). It is asked once at most.
  explicit ImapServerStore(imap::Client& client,
                           std::function<std::optional<OpenRequest>()> next = {})
      : m_client(client), m_next(std::move(next)) {}

  void last_call_follows() override {
    if (!m_next) {
      return;
    }
    m_client.after_last_send([this] {
      std::function<std::optional<OpenRequest>()> next = std::move(m_next);
      m_next = nullptr;
      if (std::optional<OpenRequest> request = next()) {
        m_client.send_open(request->mailbox, request->mode, request->prefetch);
      }
    });
  }

  void create(const std::string& mailbox) override { m_client.create(mailbox); }
  imap::MailboxInfo open(const std::string& mailbox, imap::OpenMode mode,
                         const imap::OpenPrefetch& prefetch) override {
    return m_client.open(mailbox, mode, prefetch);
  }
  std::vector<imap::MessageFlags> fetch_flags(imap::ModSeq changedsince) override {
    return m_client.fetch_flags(changedsince);
  }
  std::vector<imap::MessageFlags> fetch_flags_for(const std::vector<imap::Uid>& uids) override {
    return m_client.fetch_flags_for(uids);
  }
  std::optional<imap::MailboxChanges> list_changes(imap::ModSeq changedsince) override {
    return m_client.list_changes(changedsince);
  }
  std::vector<imap::HeaderInfo> fetch_headers(const std::vector<imap::Uid>& uids) override {
    return m_client.fetch_headers(uids);
  }
  std::vector<imap::HeaderInfo> fetch_all_headers() override {
    return m_client.fetch_all_headers();
  }
  void fetch_bodies(const std::vector<imap::Uid>& uids,
                    const std::function<imap::LiteralSink*()>& sink_for,
                    const std::function<void(const imap::FetchData&)>& done,
                    const std::function<void()>& after_batch) override {
    m_client.fetch_bodies(uids, sink_for, done, after_batch);
  }
  std::optional<imap::Uid> append(const std::string& mailbox, const std::vector<std::string>& flags,
                                  std::optional<std::chrono::sys_seconds> internaldate,
                                  std::uint64_t size,
                                  const std::function<void(imap::LiteralSink&)>& write_body,
                                  std::uint32_t expected_uidvalidity) override {
    return m_client.append(mailbox, flags, internaldate, size, write_body, expected_uidvalidity);
  }
  void append_many(
      const std::string& mailbox, std::size_t count,
      const std::function<std::optional<imap::AppendMessage>(std::size_t)>& next,
      std::uint32_t expected_uidvalidity,
      const std::function<void(std::size_t, const imap::AppendResult&)>& done) override {
    m_client.append_pipelined(mailbox, count, next, expected_uidvalidity, done);
  }
  void store_flags(const std::vector<imap::Uid>& uids, imap::StoreOp op,
                   const std::vector<std::string>& flags, imap::ModSeq unchangedsince,
                   std::vector<imap::Uid>* modified) override {
    m_client.store_flags(uids, op, flags, unchangedsince, modified);
  }
  void store_many(const std::vector<imap::StoreRequest>& stores,
                  const std::vector<imap::Uid>& expunge,
                  std::vector<imap::Uid>* modified) override {
    m_client.store_many(stores, expunge, modified);
  }
  void uid_expunge(const std::vector<imap::Uid>& uids) override { m_client.uid_expunge(uids); }
  imap::MoveResult move(const std::vector<imap::Uid>& uids, const std::string& target_mailbox,
                        std::uint32_t target_uidvalidity) override {
    return m_client.move(uids, target_mailbox, target_uidvalidity);
  }

 private:
  imap::Client& m_client;
  std::function<std::optional<OpenRequest>()> m_next;
};

}  // namespace roam::sync
