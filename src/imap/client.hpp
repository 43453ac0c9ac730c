#pragma once

// An IMAP client session over a net::Stream (RFC 3501 / RFC 9051 with the
// extensions roam uses). It is synchronous: each call sends its commands and
// reads until their tagged completions arrive. Calls that touch many messages
// pipeline their commands (a bounded number in flight, matched by tag), so
// the cost of a round trip is paid once per window rather than per command.
//
// Untagged responses are applied to the session (capabilities, EXISTS,
// EXPUNGE) and handed to the running call; response codes are read only
// where the RFCs put them (APPENDUID only on APPEND's tagged OK, and so on),
// so a code out of place is ignored, never acted on.
//
// Message bodies never pass through memory: fetch_bodies() asks the caller
// for a LiteralSink per message and the reader streams the octets into it,
// and append() gives the caller a LiteralSink that forwards to the stream.
//
// Calls that take a list of UIDs split it so that no command line exceeds
// ClientOptions::max_command_line (RFC 7162 §4) and pipeline the parts.
// Nothing here sends CLOSE, and a plain EXPUNGE only where move() has made
// sure it removes nothing but the messages it marked (RFC 4549 §4.2.4, §4.2.5).
//
// The connection contract: an exception that escapes a call while a reply
// is not fully read (a reader or parse error, a timeout, an exception from
// a caller's callback or LiteralSink, a wrong APPEND octet count once octets
// left) leaves the session at an unknown point of the byte stream. The
// Client is then broken: it never touches the stream again, usable() is
// false, and every later call that would talk to the server throws
// util::Error(Scope::Account) naming the earlier error. The one exception
// is a local problem of a body's LiteralSink (util::Error of Scope::Message
// or Folder: tmp/ unwritable, disk full): the rest of that call's bodies are
// read and dropped, its tagged completions are read, and only then is the
// error rethrown, so the session stays in step and the next folder can be
// synced.
//
// This is the one public header of the Client; its implementation is split
// by concern, one file per command family (as go-imap's imapclient does):
// session.cpp (greeting, capabilities, STARTTLS, COMPRESS, sending and waiting,
// pipelining, the connection contract, LOGOUT), sasl.cpp (authentication;
// the SASL messages themselves are pure functions in sasl.hpp), mailbox.cpp
// (LIST, NAMESPACE, SELECT/EXAMINE, CREATE), fetch.cpp (flags, headers, bodies) and
// write.cpp (APPEND, STORE, EXPUNGE, moves).

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "imap/reader.hpp"
#include "imap/response.hpp"
#include "net/stream.hpp"
#include "util/error.hpp"

namespace roam::imap {

struct ClientOptions {
  ReaderLimits limits;
  // Commands in flight at once during pipelined calls.
  std::size_t pipeline_depth = 8;
  // Messages per UID FETCH command when fetching bodies.
  std::size_t fetch_batch = 64;
  // The longest command line (tag and CRLF included) that calls taking a
  // list of UIDs build; longer UID sets are split over several commands.
  // RFC 7162 §4 recommends that clients stay below about 8192 octets, since
  // servers cap line length; tests lower it to make splits easy to follow.
  std::size_t max_command_line = 8000;
  // The most untagged responses one wait for a tagged completion may read
  // (every pipelined command counts on its own). A real mailbox gives one
  // response per message, and the largest known ones hold a few million;
  // a server that goes on beyond this is flooding, and the responses a call
  // collects would otherwise grow without bound.
  std::uint64_t max_untagged_per_command = 5'000'000;
};

// How Client::authenticate proves who we are.
enum class AuthMechanism {
  Auto,         // AUTHENTICATE PLAIN when offered, else LOGIN; never OAuth.
  Login,        // The LOGIN command (RFC 3501 §6.2.3).
  Plain,        // AUTHENTICATE PLAIN (RFC 4616).
  XOAuth2,      // AUTHENTICATE XOAUTH2 (Google's and Microsoft's bearer tokens).
  OAuthBearer,  // AUTHENTICATE OAUTHBEARER (RFC 7628).
};

// The mechanism's name as messages show it: "PLAIN", "XOAUTH2", "LOGIN".
std::string_view to_string(AuthMechanism mechanism);

// The server's capabilities, upper-cased.
class Capabilities {
 public:
  Capabilities() = default;
  explicit Capabilities(const std::vector<std::string>& list);
  bool has(std::string_view capability) const;
  bool empty() const { return m_set.empty(); }
  // The SASL mechanisms of the AUTH=... capabilities, sorted.
  std::vector<std::string> sasl_mechanisms() const;
  std::string to_string() const;

 private:
  std::set<std::string, std::less<>> m_set;
};

// What SELECT/EXAMINE told us about a mailbox.
struct MailboxInfo {
  std::uint32_t uidvalidity = 0;
  std::uint32_t uidnext = 0;  // 0 when the server did not say.
  std::uint32_t exists = 0;
  // 0 with NOMODSEQ, or when the server does not advertise CONDSTORE (or
  // QRESYNC), whatever [HIGHESTMODSEQ] it sends anyway.
  ModSeq highestmodseq = 0;
  bool read_only = false;  // The tagged OK said [READ-ONLY].
  std::vector<std::string> permanent_flags;
};

// One message's UID and flags from a flag listing.
struct MessageFlags {
  Uid uid = 0;
  std::vector<std::string> flags;
  ModSeq modseq = 0;
};

// What Client::list_changes() found.
struct MailboxChanges {
  std::vector<Uid> uids;              // Every message in the mailbox, sorted.
  std::vector<MessageFlags> changed;  // Those changed since, sorted by UID.
};

// A mailbox from LIST, with its STATUS when the server returned one
// (LIST-STATUS, RFC 5819).
struct ListedMailbox {
  ListData list;
  std::optional<StatusData> status;
};

// A message's header block and the attributes a sync matches messages by
// when it cannot trust UIDs (RFC 3501 §6.4.5: UID, FLAGS, RFC822.SIZE and
// BODY.PEEK[HEADER]).
struct HeaderInfo {
  Uid uid = 0;
  std::vector<std::string> flags;
  std::uint64_t rfc822_size = 0;
  std::string header;  // The octets of BODY[HEADER], CRLF line ends as sent.
};

enum class OpenMode { Examine, Select };

// What Client::open() asks for in the same round trip as the SELECT, for
// the calls that follow it to take from memory (both 0: nothing).
struct OpenPrefetch {
  // list_changes(changes_since): pipelined only where ESEARCH keeps the
  // answer compact whatever the mailbox's size.
  ModSeq changes_since = 0;
  // The headers of the messages from this UID on (UID FETCH n:*), for
  // fetch_headers().
  Uid headers_from = 0;
};

// What Client::move() did.
struct MoveResult {
  // (source UID, target UID) from COPYUID, sorted by source UID; empty when
  // the server sent no usable COPYUID.
  std::vector<std::pair<Uid, Uid>> pairs;
  // False when the source copies were left marked \Deleted (COPY without
  // UIDPLUS, and other messages were marked too).
  bool expunged = true;
};

// Whether UID STORE adds or removes flags (RFC 3501 §6.4.6 "+FLAGS.SILENT"
// and "-FLAGS.SILENT"). There is deliberately no Replace: RFC 4549 §4.2.3
// forbids the "FLAGS" form in a sync, because it overwrites what other
// clients changed.
enum class StoreOp { Add, Remove };

// One UID STORE of Client::store_many(): as Client::store_flags() takes it.
struct StoreRequest {
  std::vector<Uid> uids;
  StoreOp op = StoreOp::Add;
  std::vector<std::string> flags;
  ModSeq unchangedsince = 0;
};

// A failed command: a tagged NO or BAD. Its scope is Folder: the mailbox is
// skipped, the session goes on.
class CommandFailed : public util::Error {
 public:
  CommandFailed(const std::string& command, const StatusResponse& response);
  const StatusResponse& response() const { return m_response; }

 protected:
  CommandFailed(util::Scope scope, const std::string& message, const StatusResponse& response);

 private:
  StatusResponse m_response;
};

// One message for Client::append_pipelined(); the fields are append()'s.
struct AppendMessage {
  std::vector<std::string> flags;
  std::optional<std::chrono::sys_seconds> internaldate;
  std::uint64_t size = 0;
  std::function<void(LiteralSink&)> write_body;
};

// How one APPEND of Client::append_pipelined() ended.
struct AppendResult {
  std::optional<Uid> uid;                // As append() returns it.
  std::optional<CommandFailed> refusal;  // The server's NO or BAD.
};

// The connection broke while the NAMESPACE reply was read (one roam
// cannot parse): util::Error(Scope::Account). The caller can name the way
// out, syncing without asking for it.
class NamespaceUnreadable : public util::Error {
 public:
  explicit NamespaceUnreadable(const std::string& message)
      : util::Error(util::Scope::Account, message) {}
};

// A refused authentication: util::Error(Scope::Account), since nothing can
// be done in the account without it. The message names the mechanism and
// quotes the server's answer (and an OAuth error challenge's status), never
// the credentials: "authentication with XOAUTH2 failed: NO
// [AUTHENTICATIONFAILED] Invalid credentials (OAuth status 401)".
class AuthenticationFailed : public CommandFailed {
 public:
  AuthenticationFailed(AuthMechanism mechanism, const StatusResponse& response,
                       const std::string& oauth_status = {});
};

class Client {
 public:
  Client(std::unique_ptr<net::Stream> stream, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Reads the greeting. Returns true when the server greeted with PREAUTH.
  // A BYE greeting throws util::Error(Scope::Account) with the server's text.
  bool read_greeting();

  // The capabilities as last announced (greeting, CAPABILITY, or a tagged
  // OK's [CAPABILITY] code). Asks the server if nothing is known yet.
  const Capabilities& capabilities();
  void refresh_capabilities();

  // STARTTLS (RFC 3501 §6.2.1). Mandatory once called: a missing capability,
  // a NO/BAD or a failed handshake throws util::Error(Scope::Account) and the
  // connection is unusable. Bytes the server sent after its OK are refused.
  void starttls(const net::TlsOptions& options);

  // COMPRESS DEFLATE (RFC 4978), for after authentication (§3): when the
  // server offers COMPRESS=DEFLATE, asks for it and, on OK, puts a
  // net::DeflateStream over the connection; the bytes the reader already
  // holds past the OK are the start of the server's compressed data and
  // are inflated first. Compression is a saving, never a requirement: a
  // server without the capability, or one that answers NO or BAD (NO
  // [COMPRESSIONACTIVE] when TLS compresses already), leaves the session
  // uncompressed and in step. Returns whether the session is compressed.
  bool compress();

  // Authenticates with `mechanism`. `secret` is the password, or the OAuth
  // access token for XOAuth2 and OAuthBearer; it is called once, and only
  // after the server was found to offer the mechanism, so a pass_cmd that
  // fetches a token does not run for nothing. `host` and `port` go into the
  // OAUTHBEARER message (RFC 7628 §3.1; left out when empty or 0).
  //
  // SASL mechanisms use the initial response (SASL-IR, RFC 4959) when the
  // server offers it, otherwise they answer the server's "+". A mechanism
  // the server does not offer (no AUTH=<name>, or LOGINDISABLED for LOGIN)
  // throws util::Error(Scope::Account) naming it and what the server does
  // offer: roam never falls back to another mechanism on its own. Auto
  // chooses PLAIN, else LOGIN, and never an OAuth mechanism, since a
  // password is not a token.
  //
  // The OAuth mechanisms report failure with a "+" challenge carrying a
  // base64 JSON object; it is answered as the mechanism requires (an empty
  // response for XOAUTH2, %x01 for OAUTHBEARER, RFC 7628 §3.2.3) and the
  // tagged NO read. Any NO or BAD throws AuthenticationFailed. Neither the
  // credentials nor the answers to "+" appear in the debug trace.
  void authenticate(AuthMechanism mechanism, const std::string& user,
                    const std::function<std::string()>& secret, const std::string& host,
                    std::uint16_t port);
  void authenticate(AuthMechanism mechanism, const std::string& user, const std::string& secret,
                    const std::string& host, std::uint16_t port);

  // LIST "" "*", with SPECIAL-USE attributes and STATUS items when the server
  // offers them. Mailbox names are returned as sent (modified UTF-7). The
  // HIGHESTMODSEQ item is asked for, and a returned value kept, only when
  // the server advertises CONDSTORE or QRESYNC.
  std::vector<ListedMailbox> list(const std::vector<std::string>& status_items = {});

  // list(), with NAMESPACE sent ahead in the same round trip when
  // `ask_namespace` and the server advertises it. A refused NAMESPACE is
  // returned, not thrown; a NAMESPACE reply that breaks the connection
  // throws NamespaceUnreadable.
  struct Listing {
    std::vector<ListedMailbox> mailboxes;
    std::optional<NamespaceData> namespaces;          // As namespaces() returns it.
    std::optional<StatusResponse> namespace_refused;  // Its NO or BAD.
  };
  //
  // With `status_of` (mailbox names as LIST gives them), the STATUS items
  // are asked for with a STATUS command per name, pipelined ahead of the
  // LIST in the same round trip, instead of with LIST-STATUS; a name the
  // server refuses (a folder deleted since) gets no status. Dovecot 2.3
  // answers such a STATUS from its index in 4 ms, but takes 150 ms to
  // answer LIST-STATUS, or a STATUS after a LIST, for a 100,000-message
  // Maildir folder: most of a run with nothing to do.
  Listing list_with_namespaces(const std::vector<std::string>& status_items, bool ask_namespace,
                               const std::vector<std::string>& status_of = {});

  // The STATUS of each mailbox in `mailboxes`, one pipelined STATUS command
  // each, by name as sent. HIGHESTMODSEQ is asked for and kept only as in
  // list(). A mailbox the server refuses is left out.
  std::map<std::string, StatusData> statuses(const std::vector<std::string>& mailboxes,
                                             const std::vector<std::string>& status_items);

  // NAMESPACE (RFC 2342) when the server advertises it; nullopt (and nothing
  // sent) otherwise. A reply without a NAMESPACE response gives an empty
  // NamespaceData; of several, the first counts. The prefixes are returned
  // as sent: what they may be used for is the caller's decision. A NO or BAD
  // throws CommandFailed.
  std::optional<NamespaceData> namespaces();

  // SELECT or EXAMINE `mailbox` (wire name), with the CONDSTORE parameter
  // when CONDSTORE or QRESYNC is offered (RFC 7162 §3.1.8); only then does
  // a [HIGHESTMODSEQ] count.
  //
  // With `prefetch`, the commands it names are pipelined behind the SELECT
  // and their answers kept until the next open(): list_changes() with the
  // same mod-sequence, and fetch_headers() for UIDs from headers_from on,
  // take them from memory (the flags in prefetched headers are as of the
  // open). A prefetch the server refuses is dropped; only the SELECT's own
  // failure fails the call.
  MailboxInfo open(const std::string& mailbox, OpenMode mode, const OpenPrefetch& prefetch = {});

  // Sends open()'s commands for `mailbox` now, behind whatever is in
  // flight, and returns without reading: the next folder's SELECT travels
  // while the answers of the last folder's final command still come in
  // (see after_last_send()), saving a round trip per folder. The next
  // open() of the same mailbox and mode reads the answers, with this
  // prefetch (a cache: a different one there costs a round trip later,
  // never a wrong answer); an open() of another mailbox reads and drops
  // them, then sends its own.
  //
  // The server runs whatever is sent after this behind the SELECT, in the
  // new mailbox. So until open() has read it, only commands that do not act
  // on a selected mailbox may be sent (CREATE, LIST, STATUS, NAMESPACE,
  // NOOP: the SELECT's answers are read and dropped first; LOGOUT); any
  // other is refused unsent, and the Client is broken (Scope::Account),
  // because the caller believed another mailbox selected.
  void send_open(const std::string& mailbox, OpenMode mode, const OpenPrefetch& prefetch = {});
  // Whether a send_open() waits for its open().
  bool open_pending() const { return m_pending_open.has_value(); }

  // Runs `hook` once, inside the current or next call, as soon as that
  // call has sent its last command and before it reads the answers still
  // due: the place for send_open(). A call that ends before it sent every
  // command (a NO stopped it) drops the hook, as does the end of any
  // outermost call. Only pipelined calls (run_pipelined()) run it.
  void after_last_send(std::function<void()> hook) { m_after_last_send = std::move(hook); }

  // The UIDVALIDITY (RFC 3501 §2.3.1.1) and PERMANENTFLAGS (§7.1) of the
  // mailbox the last successful open() selected; 0 and empty before that or
  // after a failed open (a failed SELECT leaves no mailbox selected, §6.3.1).
  std::uint32_t selected_uidvalidity() const { return m_selected_uidvalidity; }
  const std::vector<std::string>& permanent_flags() const { return m_permanent_flags; }

  // UID FETCH 1:* (UID FLAGS), or only messages changed since `changedsince`
  // when it is non-zero (CONDSTORE).
  std::vector<MessageFlags> fetch_flags(ModSeq changedsince = 0);

  // What changed in the selected mailbox since `changedsince` (non-zero),
  // in one round trip: UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE n) and a UID
  // SEARCH ALL pipelined behind it (with ESEARCH, RFC 4731, RETURN (ALL):
  // a compact set instead of one number per message). The search says which
  // messages are still there, so expunges show without VANISHED and without
  // ENABLE QRESYNC, which would change every later EXPUNGE of the session.
  // nullopt when the mailbox has no mod-sequences, when a plain SEARCH's
  // one line could not hold the UIDs (ReaderLimits::max_line), or when the
  // server's answer to the search is missing or not a set of UIDs: the
  // caller then lists every message's flags.
  std::optional<MailboxChanges> list_changes(ModSeq changedsince);

  // UID FETCH <uids> (UID FLAGS), with MODSEQ when the selected mailbox has
  // mod-sequences (RFC 3501 §6.4.8, RFC 7162 §3.1.4). The set is split and
  // the parts pipelined. The result is sorted by UID; a UID the server does
  // not answer for was expunged and is missing, and FETCHes for UIDs not
  // asked about (unsolicited updates) are left out.
  std::vector<MessageFlags> fetch_flags_for(const std::vector<Uid>& uids);

  // UID FETCH <uids> (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER]) (RFC 3501
  // §6.4.5, §6.4.8), split and pipelined like fetch_flags_for(). Headers are
  // kept in memory, each within ReaderLimits::max_inline_literal. .PEEK
  // keeps \Seen as it is (RFC 4549 §4.3.3). Sorted by UID; expunged UIDs
  // are missing.
  std::vector<HeaderInfo> fetch_headers(const std::vector<Uid>& uids);

  // The same for every message of the selected mailbox (UID FETCH 1:*).
  // Nothing is sent when open() reported no messages.
  std::vector<HeaderInfo> fetch_all_headers();

  // APPEND (RFC 3501 §6.3.11) of one message of exactly `size` octets to
  // `mailbox` (wire name), with `flags` and `internaldate` only when given.
  // `write_body` must write the message, CRLF line ends included, to the
  // sink it gets; the octets go to the server through a 64 KiB buffer and
  // are never held whole in memory or shown in the debug trace.
  //
  // The literal is non-synchronizing ("{n+}") with LITERAL+, or with
  // LITERAL- when `size` <= 4096 (RFC 7888 §3, §5); otherwise the client
  // waits for the server's "+" (RFC 3501 §7.5), and a tagged NO instead
  // (e.g. [TRYCREATE], [TOOBIG], [OVERQUOTA]) throws CommandFailed without
  // sending the body. Bodies up to 64 KiB are written into the buffer before
  // anything is sent, so a wrong octet count throws util::Error(Scope::Message)
  // with the connection intact; once octets have left, a wrong count (or any
  // exception from `write_body`) leaves the server inside the literal and
  // throws util::Error(Scope::Account). Exceptions that `write_body` gets
  // from the sink must be let through. An empty message is refused
  // (Scope::Message) because a zero-length literal cancels an APPEND under
  // MULTIAPPEND (RFC 3502).
  //
  // Returns the new UID from [APPENDUID uidvalidity uid] (RFC 4315 §3), read
  // only from this command's tagged OK (an APPENDUID anywhere else is
  // ignored, cf. CVE-2021-3578), and only if it names exactly one UID and
  // its uidvalidity equals `expected_uidvalidity` (0: not checked). Without
  // a usable APPENDUID, returns nullopt and the caller matches by content.
  std::optional<Uid> append(const std::string& mailbox, const std::vector<std::string>& flags,
                            std::optional<std::chrono::sys_seconds> internaldate,
                            std::uint64_t size, const std::function<void(LiteralSink&)>& write_body,
                            std::uint32_t expected_uidvalidity = 0);

  // APPENDs of `count` messages to `mailbox`, as append() sends each, with
  // up to ClientOptions::pipeline_depth in flight where the server takes
  // non-synchronizing literals (LITERAL+, or LITERAL- up to 4096 octets;
  // RFC 7888); a message that needs a synchronizing literal waits for those
  // in flight and its "+". `next(i)` is called for each message in turn,
  // just before it is sent, and returns it or nullopt to skip it; `done(i,
  // result)` is called once per message sent, in order, when its tagged
  // answer is read: the UID as append() returns it, or the server's
  // refusal. An exception from `next` or a Message-scope error of one
  // message stops the sending; the answers in flight are still read and
  // reported, and then it is rethrown. An Account-scope error is thrown at
  // once (the connection is broken).
  //
  // Into the selected mailbox of a server with MULTIAPPEND (RFC 3502) and
  // LITERAL+, the messages go in batches, each one APPEND command: the
  // server stores a batch in one transaction, which costs Dovecot about
  // what one message costs (55-75 ms in a 100,000-message Maildir folder).
  // A batch's messages are reported when its tagged answer is read, with
  // their UIDs from APPENDUID's set in order when it names one per message.
  // A refused batch appended nothing (RFC 3502 §6.3.11): its messages are
  // sent again one APPEND each (next(i) is called again for them), so that
  // one message the server refuses does not hold back the others. Should
  // the mailbox have grown during a refused batch all the same, its
  // messages are reported as sent without a UID, and the caller looks for
  // them by content, as after an APPEND whose answer was lost.
  void append_pipelined(const std::string& mailbox, std::size_t count,
                        const std::function<std::optional<AppendMessage>(std::size_t)>& next,
                        std::uint32_t expected_uidvalidity,
                        const std::function<void(std::size_t, const AppendResult&)>& done);

  // UID STORE <uids> [(UNCHANGEDSINCE n)] +FLAGS.SILENT (flags), or
  // -FLAGS.SILENT for StoreOp::Remove (RFC 3501 §6.4.6, RFC 7162 §3.1.3).
  // `unchangedsince` 0 sends no condition; a non-zero value needs a mailbox
  // opened with mod-sequences and throws util::Error(Scope::Folder) before
  // sending otherwise, rather than silently dropping the condition. The set
  // is split and the parts pipelined. The UIDs of a [MODIFIED set] code on a
  // tagged OK or NO are added to `*modified` when it is given; a NO with
  // MODIFIED is not a failure (RFC 7162 §3.1.3), any other NO or BAD throws
  // CommandFailed once the commands in flight are complete. Untagged FETCHes
  // (new MODSEQ values, RFC 7162 §3.1.3) go to `on_fetch` when given.
  void store_flags(const std::vector<Uid>& uids, StoreOp op, const std::vector<std::string>& flags,
                   ModSeq unchangedsince = 0, std::vector<Uid>* modified = nullptr,
                   const std::function<void(const FetchData&)>& on_fetch = {});

  // The STOREs of `stores`, in order, then UID EXPUNGE of `expunge` when it
  // is not empty, all pipelined: one round trip for a folder's flag changes
  // and deletions. Each STORE is as store_flags() sends it, and [MODIFIED]
  // UIDs go to `*modified`. A refused command throws CommandFailed once the
  // commands in flight are read; commands not yet sent then are not sent,
  // those already sent take effect (a STORE after a refused one, or the
  // EXPUNGE of messages whose \Deleted STORE went through). Without
  // UIDPLUS the STOREs are made and then util::Error(Scope::Folder) is
  // thrown as uid_expunge() throws it: nothing is expunged.
  void store_many(const std::vector<StoreRequest>& stores, const std::vector<Uid>& expunge,
                  std::vector<Uid>* modified);

  // UID EXPUNGE <uids> (RFC 4315 §2.1), split and pipelined: it removes only
  // these UIDs among the messages marked \Deleted. Without UIDPLUS it throws
  // util::Error(Scope::Folder) and sends nothing: a plain EXPUNGE or CLOSE
  // would also remove what other clients marked (RFC 4549 §4.2.4, §4.2.5).
  void uid_expunge(const std::vector<Uid>& uids);

  // Moves `uids` to `target_mailbox` (wire name): UID MOVE with MOVE
  // (RFC 6851 §3.2), otherwise UID COPY and UID STORE +FLAGS.SILENT
  // (\Deleted), then UID EXPUNGE of exactly these UIDs with UIDPLUS. Without
  // UIDPLUS no command expunges one message alone, so UID SEARCH DELETED
  // asks which messages are marked: if they are only the ones just marked,
  // a plain EXPUNGE follows; otherwise (or if the answer cannot be read) the
  // originals are left marked \Deleted and `expunged` is false. When a COPY
  // fails nothing is marked \Deleted (RFC 4549 §5.1) and CommandFailed is
  // thrown.
  //
  // The pairs are (source UID, target UID), sorted by source UID, from the
  // COPYUID codes (RFC 4315 §3) of this call: for MOVE from an untagged OK
  // (RFC 6851 §4.3) or the tagged OK, for COPY from the tagged OK only. A
  // code counts only if its uidvalidity equals `target_uidvalidity` (0: not
  // checked), its two sets have the same size, and every source UID was
  // asked for; if any code fails this, there are no pairs, as without
  // UIDPLUS codes. UIDs missing from the pairs must be matched by content.
  MoveResult move(const std::vector<Uid>& uids, const std::string& target_mailbox,
                  std::uint32_t target_uidvalidity);

  // CREATE (RFC 3501 §6.3.3). A NO [ALREADYEXISTS] (RFC 5530 §3) counts as
  // success: the mailbox is there, which is what the caller wants.
  void create(const std::string& mailbox);

  // Fetches the bodies of `uids` (with UID, FLAGS and INTERNALDATE),
  // pipelined. For each message, `sink_for` is called when its body literal
  // begins (the caller returns where to stream it), then `done` when its
  // response is complete. A UID the server does not answer for was expunged
  // meanwhile; it is simply never reported. `after_batch` runs each time a
  // FETCH command completes, for progress and batched fsync. A NO or BAD
  // for one FETCH stops the sending; the commands in flight are read (with
  // their bodies, `done` and `after_batch` calls), then CommandFailed is
  // thrown.
  //
  // A util::Error of Scope::Message or Folder from `sink_for` or a sink
  // (a local disk problem) ends the call without breaking the session: no
  // further command is sent, the rest of that body and every later body is
  // read and dropped (`done` is not called for them), the commands in
  // flight complete, and then the error is thrown. Any other exception from
  // a sink or a callback breaks the Client (see the contract above).
  void fetch_bodies(const std::vector<Uid>& uids, const std::function<LiteralSink*()>& sink_for,
                    const std::function<void(const FetchData&)>& done,
                    const std::function<void()>& after_batch = {});

  // NOTIFY SET (RFC 5465): asks the server to announce new messages,
  // expunges and flag changes in `mailboxes` (as sent on the wire) without
  // selecting them; idle() then counts the STATUS responses that announce
  // them as changes. Needs the NOTIFY capability; throws CommandFailed when
  // the server refuses the request.
  void notify_set(const std::vector<std::string>& mailboxes);

  // What ended an idle().
  enum class IdleEnd { Changed, TimedOut, Woken };

  // Waits in the selected mailbox (or, after notify_set(), in the mailboxes
  // it named) for a change the server announces on its own (a new message,
  // an expunge, a flag change) for at most `max`, or
  // until `wake_fd` (when not -1) is readable, whichever comes first. With
  // IDLE (RFC 2177) the server pushes the change; the IDLE is then ended
  // (DONE) and its completion read, so the session is ready for the next
  // command whatever ended the wait. A server without IDLE is asked with a
  // NOOP once the wait is over. Throws util::Error(Scope::Account) for a
  // connection that died or answered out of place (the Client is then
  // broken), CommandFailed if the server refused IDLE.
  IdleEnd idle(std::chrono::milliseconds max, int wake_fd);

  // Sends LOGOUT without waiting for the reply, and ends the session: the
  // Client is unusable afterwards.
  void logout();

  // False once an error left the session at an unknown point of the stream
  // (see the connection contract above); every later call that would talk
  // to the server then throws util::Error(Scope::Account).
  bool usable() const { return m_broken.empty(); }

  // The session's security, for messages.
  std::string security() const { return m_stream->security(); }
  std::string peer() const { return m_stream->peer(); }
  std::uint64_t bytes_received() const { return m_reader.bytes_received(); }

  // --- Low level, for the calls above and for tests ---

  // Sends one command (without tag and CRLF) and returns its tag. With
  // Redact::Yes the debug trace shows only the command name.
  enum class Redact { No, Yes };
  std::string send(std::string_view command, Redact redact = Redact::No);

  // Reads until the tagged response for `tag`; every untagged response is
  // applied to the session, then given to `on_untagged`. Tagged responses for
  // other pipelined commands are kept for their own wait(). Throws
  // CommandFailed on NO/BAD.
  using UntaggedHandler = std::function<void(const Response&)>;
  StatusResponse wait(const std::string& tag, std::string_view command,
                      const UntaggedHandler& on_untagged = {});

  // send() and wait() in one.
  StatusResponse run(std::string_view command, const UntaggedHandler& on_untagged = {},
                     Redact redact = Redact::No);

 private:
  // Forwards a body literal to the sink fetch_bodies()' caller gave, or
  // drops it when there is none (after a local error). A util::Error of
  // Scope::Message or Folder from the sink is remembered in the Client
  // instead of thrown, so that the reader goes on through the literal.
  class GuardedSink : public LiteralSink {
   public:
    explicit GuardedSink(Client& client) : m_client(client) {}
    void write(const char* data, std::size_t size) override;
    LiteralSink* target = nullptr;

   private:
    Client& m_client;
  };

  // Runs one public call under the connection contract: refuses to start
  // on a broken Client, breaks it when an exception escapes while a reply
  // is outstanding, and rethrows a remembered local sink error once the
  // call is complete.
  template <typename F>
  auto guarded(F&& f) -> decltype(f()) {
    ensure_usable();
    // Calls made by a call (run() inside open(), and so on) leave the
    // remembered error to the outermost one, which alone knows when its
    // replies are all read.
    struct Depth {
      Client& client;
      explicit Depth(Client& c) : client(c) { ++client.m_call_depth; }
      ~Depth() {
        if (--client.m_call_depth == 0) {
          client.m_after_last_send = nullptr;
        }
      }
    } depth(*this);
    try {
      if constexpr (std::is_void_v<decltype(f())>) {
        f();
        rethrow_deferred();
      } else {
        auto result = f();
        rethrow_deferred();
        return result;
      }
    } catch (...) {
      call_failed();
      throw;
    }
  }
  // Throws util::Error(Scope::Account) when the Client is broken.
  void ensure_usable() const;
  // Called inside a catch handler: breaks the Client if a reply is
  // outstanding, naming the exception being handled.
  void call_failed();
  void break_connection(const std::string& reason);
  // Rethrows (and forgets) a sink error remembered during the call.
  void rethrow_deferred();
  // Where the reader streams a literal; see GuardedSink.
  LiteralSink* route_literal(std::string_view text);
  // Writes `bytes`, which start command `tag`, and counts the tag as
  // outstanding until its tagged completion is read.
  void write_command(const std::string& tag, std::string_view bytes);

  Response read_response();
  void apply(const Response& response);
  std::string make_tag();

  // Reads until the tagged response for `tag` and returns it whatever its
  // status. With `continuation_ok`, a "+" ends the wait instead and nullopt
  // is returned; otherwise a "+" is a protocol violation (Scope::Account).
  // `command` names the command in messages, such as the one for more than
  // max_untagged_per_command untagged responses.
  std::optional<StatusResponse> read_until_tagged(const std::string& tag, std::string_view command,
                                                  const UntaggedHandler& on_untagged,
                                                  bool continuation_ok);

  // One AUTHENTICATE exchange: `response` is the client's only message
  // (sent as the initial response with SASL-IR, else after the first "+"),
  // `error_answer` what answers an error challenge.
  void sasl_exchange(AuthMechanism mechanism, const std::string& response,
                     std::string_view error_answer);

  // Whether the server advertises CONDSTORE or QRESYNC (which implies it,
  // RFC 7162 §3.2.3): only then do mod-sequences count, as STATUS items and
  // in SELECT.
  bool offers_mod_sequences();
  // The STATUS item list "(A B ...)" for `status_items`, as list() would
  // ask for them; empty when none is left.
  std::string status_item_list(const std::vector<std::string>& status_items);
  // "STATUS <name> <items>" for each name that a quoted string can carry.
  static std::vector<std::string> status_commands(const std::vector<std::string>& mailboxes,
                                                  const std::string& items);

  // Sends `commands` with at most pipeline_depth in flight (`depth`, when
  // not 0, for short commands whose answers are short too, like STATUS).
  // `on_done` sees every tagged response; a NO or BAD is a failure unless
  // `on_done` returns true for it. After a failure, or a local sink error
  // (see route_literal()), no further command is sent, those in flight are
  // waited for, and the sink error or else the first failure is thrown.
  void run_pipelined(const std::vector<std::string>& commands, const UntaggedHandler& on_untagged,
                     const std::function<bool(const StatusResponse&)>& on_done = {},
                     std::size_t depth = 0);

  // The commands of one UID STORE (none when it changes nothing).
  std::vector<std::string> store_commands(const StoreRequest& store);

  // `uids` as sequence-sets short enough that `prefix` + set + `suffix`
  // stays within max_command_line (RFC 7162 §4).
  // One command per part of split_uid_sets(): prefix + set + suffix.
  std::vector<std::string> uid_commands(const std::vector<Uid>& uids, std::string_view prefix,
                                        std::string_view suffix) const;
  std::vector<std::string> split_uid_sets(const std::vector<Uid>& uids, std::size_t prefix,
                                          std::size_t suffix) const;

  // After a move by COPY without UIDPLUS: a plain EXPUNGE if the only
  // messages marked \Deleted are `marked` (sorted); returns false when
  // others are marked too, and nothing is expunged.
  bool expunge_if_only(const std::vector<Uid>& marked);

  // The UIDs of a MULTIAPPEND's tagged OK, one per message in order, or
  // none when the APPENDUID code is missing or not to be trusted.
  std::vector<Uid> appended_uids(const StatusResponse& done, std::uint32_t expected_uidvalidity,
                                 std::size_t count);
  // append_pipelined() for the messages at `indexes`, one APPEND each.
  void append_each(const std::string& mailbox, const std::vector<std::size_t>& indexes,
                   const std::function<std::optional<AppendMessage>(std::size_t)>& next,
                   std::uint32_t expected_uidvalidity,
                   const std::function<void(std::size_t, const AppendResult&)>& done);
  // One message of a MULTIAPPEND batch: its index for append_pipelined()'s
  // callbacks, and its append_arguments(), checked before it joined.
  struct Batched {
    std::size_t index = 0;
    AppendMessage message;
    std::string arguments;
  };
  // Sends `batch` as one MULTIAPPEND command; returns its tag.
  std::string send_multiappend(const std::string& mailbox, const std::vector<Batched>& batch);
  // The APPEND command's arguments for one message, up to and including
  // its literal's announcement: [flags] [date] {size+}. Throws
  // util::Error(Scope::Message) for what cannot be sent.
  std::string append_arguments(const AppendMessage& message, bool non_sync);
  // Sends one APPEND (see append()) and returns its tag; the tagged answer
  // is the caller's to read. With `allow_sync` false the message must fit a
  // non-synchronizing literal (literal_plus_for()).
  std::string send_append(const std::string& mailbox, const AppendMessage& message,
                          bool allow_sync);
  // True when a literal of `size` octets may go without waiting for "+".
  bool literal_plus_for(std::uint64_t size);
  // The UID an APPEND's tagged OK names, as append() returns it.
  static std::optional<Uid> appended_uid(const StatusResponse& done,
                                         std::uint32_t expected_uidvalidity);

  // open()'s commands, sent (send_open()) or about to be: the SELECT or
  // EXAMINE and the commands of `prefetch` pipelined behind it.
  struct OpenBatch {
    std::string mailbox;
    OpenMode mode = OpenMode::Select;
    OpenPrefetch prefetch;
    bool condstore = false;      // The SELECT carries (CONDSTORE).
    bool changes = false;        // The commands of list_changes() follow it.
    std::size_t headers_at = 0;  // The index of the header FETCH, if any.
    std::vector<std::string> commands;
    std::vector<std::string> tags;  // Once sent, one per command.
  };
  OpenBatch open_batch(const std::string& mailbox, OpenMode mode, const OpenPrefetch& prefetch);
  // Reads the answers to a batch (sending its commands first, pipelined,
  // when they were not sent yet); returns the SELECT's tagged answer, and
  // throws CommandFailed for a NO or BAD to it.
  StatusResponse read_open(OpenBatch& batch, const UntaggedHandler& on_select);
  // Reads and drops the answers to a send_open() that open() did not take.
  void drop_pending_open();
  // Clears what the Client knows of the selected mailbox and its prefetch.
  void forget_selected();
  // Whether `command` may be sent once a send_open()'s answers are read
  // and dropped: it acts on no selected mailbox.
  static bool ok_while_opening(std::string_view command);

  std::vector<HeaderInfo> fetch_headers_with(const std::vector<std::string>& sets,
                                             const std::vector<Uid>* wanted);

  std::unique_ptr<net::Stream> m_stream;
  ClientOptions m_options;
  ResponseReader m_reader;
  Capabilities m_caps;
  bool m_caps_known = false;
  // COMPRESS DEFLATE is in effect (m_stream is a net::DeflateStream).
  bool m_compressed = false;
  // Counts the times m_caps was set from the server: authenticate() tells
  // by it whether the login's tagged OK carried [CAPABILITY ...].
  std::uint64_t m_caps_updates = 0;
  std::uint64_t m_next_tag = 1;
  std::map<std::string, StatusResponse> m_completed;  // Tagged responses not yet waited for.
  std::uint32_t m_exists = 0;
  // Counts the EXISTS responses that announced more messages than before:
  // a refused MULTIAPPEND that made one appended something after all.
  std::uint64_t m_exists_grew = 0;
  std::function<LiteralSink*()> m_body_sink;  // Set during fetch_bodies().
  // The selected mailbox, as the last open() reported it.
  std::string m_selected_mailbox;  // Its wire name; empty when none is.
  std::uint32_t m_selected_uidvalidity = 0;
  std::vector<std::string> m_permanent_flags;
  bool m_selected_modseq = false;  // [HIGHESTMODSEQ] came, not [NOMODSEQ].
  // A send_open() not yet read by open(), and the tags its commands went
  // out with (reading them is its open()'s).
  std::optional<OpenBatch> m_pending_open;
  // Set by after_last_send(); cleared when it runs or the call ends.
  std::function<void()> m_after_last_send;
  // What open() prefetched for the selected mailbox (see OpenPrefetch).
  std::optional<std::pair<ModSeq, MailboxChanges>> m_prefetched_changes;
  std::map<Uid, HeaderInfo> m_prefetched_headers;
  // The start of the text of the last "+" that ended a read_until_tagged(),
  // for the JSON of an OAuth error challenge.
  std::string m_last_continuation;
  // Tags sent whose tagged completion was not read yet.
  std::set<std::string> m_outstanding;
  // Why the Client is broken; empty while it is usable.
  std::string m_broken;
  // A local sink error waiting for the running call to complete.
  std::exception_ptr m_deferred;
  GuardedSink m_guarded_sink{*this};
  // How many guarded() calls are running, nested.
  int m_call_depth = 0;
};

// True if `text` (a response up to a literal marker) announces the body of
// a FETCH: "... BODY[] {n}" or "... BINARY[] ~{n}". Exposed for tests.
bool announces_body(std::string_view text);

}  // namespace roam::imap
