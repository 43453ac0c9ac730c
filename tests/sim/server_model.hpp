#pragma once

// An in-process IMAP server for the simulation (tests/sim/README.md). It
// holds mailboxes as plain data (UIDs, flags, raw CRLF bytes, MODSEQs) and
// speaks enough of the wire protocol for everything roam sends. The protocol
// side is a pure byte-in/byte-out machine (Session::feed/take_output): the
// synchronous roam client needs no threads on the other end, and the same
// model serves a forked child over a socket or, in principle, an in-process
// stream.
//
// Behaviour seen in real servers (docs in ../shared/reference/server-matrix.md)
// is switched on per run through Quirks, so that a seed decides which server
// roam talks to. Anything the model does not understand is answered BAD and
// recorded in ServerModel::protocol_errors: the simulation treats that as a
// failure, since either the model is incomplete or roam sent garbage.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace roam::sim {

struct Quirks {
  bool uidplus = true;    // Advertise UIDPLUS and send APPENDUID/COPYUID.
  bool move = true;       // Advertise MOVE.
  bool condstore = true;  // Advertise CONDSTORE (and keep MODSEQs visible).
  // Cyrus with CONDSTORE suppressed: SELECT still says [HIGHESTMODSEQ n].
  bool stray_highestmodseq = false;
  // Cyrus: APPEND turns raw 8-bit header bytes into 'X'.
  bool rewrite_8bit = false;
  // Courier: a message appended in this session is invisible to this
  // session's FETCH/SEARCH/EXISTS (it shows up in the next session).
  bool hide_appended = false;
  bool literal_plus = true;
  bool list_status = true;
  // Dovecot and Cyrus: ESEARCH (RFC 4731), UID SEARCH RETURN (ALL).
  bool esearch = true;
  // Dovecot and Cyrus: MULTIAPPEND (RFC 3502), several messages in one
  // APPEND, stored all or none.
  bool multiappend = true;
  // Courier and Debian's Cyrus: NAMESPACE announces this personal prefix
  // ("INBOX/" here, the model's delimiter being '/'), and every mailbox but
  // INBOX is named with it on the wire; names without it are no mailbox of
  // the user's. Empty: no NAMESPACE, names as they are.
  std::string namespace_prefix;
  // Mailboxes that SELECT opens [READ-ONLY]; STORE, EXPUNGE, APPEND, MOVE
  // out of them answer NO.
  std::set<std::string> read_only;
};

struct Message {
  std::uint32_t uid = 0;
  std::set<std::string> flags;
  std::string raw;  // CRLF line ends, as on the wire.
  std::string internaldate;
  std::uint64_t modseq = 1;
  // The session that appended it, for Quirks::hide_appended (0 = none).
  std::uint64_t appended_in = 0;
};

struct Mailbox {
  std::uint32_t uidvalidity = 0;
  std::uint32_t uidnext = 1;
  std::uint64_t highestmodseq = 1;
  std::vector<Message> messages;  // Ascending UID.

  Message* find(std::uint32_t uid);
  // Records one change of `m` (RFC 7162: every change gets a new MODSEQ).
  void touch(Message& m);
};

class ServerModel {
 public:
  Quirks quirks;
  std::map<std::string, Mailbox> mailboxes;
  char delimiter = '/';
  std::uint32_t next_uidvalidity = 1000;
  std::uint64_t sessions = 0;
  // Every command answered BAD, with the command line.
  std::vector<std::string> protocol_errors;

  // What another client or the delivery agent does, between roam's runs.
  Mailbox& create(const std::string& name);
  std::uint32_t deliver(const std::string& name, std::string raw, std::set<std::string> flags,
                        std::string internaldate);
  void expunge(const std::string& name, std::uint32_t uid);
  // Moves one message (new UID in the target); returns the new UID.
  std::uint32_t move(const std::string& from, std::uint32_t uid, const std::string& to);
  // Gives a folder a new UIDVALIDITY and renumbers its messages from 1.
  void reset_uidvalidity(const std::string& name);
  void rename(const std::string& from, const std::string& to);
  void remove(const std::string& name);

  // A canonical text of everything a client can observe, for comparisons.
  std::string snapshot() const;
};

// One IMAP connection to the model.
class Session {
 public:
  explicit Session(ServerModel& model);

  // Client bytes in; complete commands are executed at once.
  void feed(std::string_view bytes);
  // Server bytes produced so far (the greeting first).
  std::string take_output();
  // True after LOGOUT: the server closes the connection.
  bool closed() const { return m_closed; }

 private:
  struct Token {
    enum class Kind { Atom, String, List } kind = Kind::Atom;
    std::string text;
    bool literal = false;  // A String sent as a literal.
    std::vector<Token> items;
  };

  void execute(const std::string& line);
  std::vector<Token> tokenize(const std::string& line, std::size_t& pos, bool nested);
  void bad(const std::string& tag, const std::string& line, const std::string& why);
  std::string capabilities() const;
  // A mailbox's name on the wire (Quirks::namespace_prefix added), and the
  // model's name for a wire name (nullopt: outside the namespace).
  std::string wire_name(const std::string& name) const;
  std::optional<std::string> model_name(const std::string& wire) const;
  std::vector<Message*> visible(Mailbox& mb);
  std::vector<std::pair<std::size_t, Message*>> match(Mailbox& mb, const std::string& set);
  void cmd_list(const std::string& tag, const std::vector<Token>& args);
  // STATUS mailbox (items); the "* STATUS" line of `name`, or nothing for
  // an item not modelled.
  void cmd_status(const std::string& tag, const std::vector<Token>& args);
  std::optional<std::string> status_line(const std::string& name,
                                         const std::vector<std::string>& status);
  void cmd_select(const std::string& tag, const std::vector<Token>& args, bool examine);
  void cmd_fetch(const std::string& tag, const std::vector<Token>& args);
  void cmd_store(const std::string& tag, const std::vector<Token>& args, const std::string& line);
  void cmd_expunge(const std::string& tag, const std::string* set);
  void cmd_copy(const std::string& tag, const std::vector<Token>& args, bool move);
  void cmd_append(const std::string& tag, const std::vector<Token>& args);
  void cmd_search(const std::string& tag, const std::vector<Token>& args, const std::string& line);
  void send_expunged(Mailbox& mb, const std::vector<std::uint32_t>& uids);

  ServerModel& m_model;
  std::uint64_t m_id;
  std::string m_in;
  std::string m_out;
  // The command being assembled: text with literals replaced by "\x01<n>\x01".
  std::string m_command;
  std::vector<std::string> m_literals;
  std::size_t m_literal_wanted = 0;
  bool m_in_literal = false;
  bool m_authenticated = false;
  bool m_closed = false;
  std::string m_selected;  // Empty when no mailbox is selected.
  bool m_read_only = false;
  bool m_condstore = false;  // CONDSTORE enabled by SELECT (CONDSTORE).
};

}  // namespace roam::sim
