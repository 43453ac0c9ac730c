// The parser against real server output: one row per response, named after
// the server or the quirk it shows, with the typed Response it must yield.
// Lines are from Dovecot, Gmail, Cyrus, Exchange and Courier transcripts and
// from the RFC examples.

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "imap/parser.hpp"

namespace roam::imap {
namespace {

using namespace std::string_literals;
using Code = ResponseCode::Kind;
using St = StatusResponse::Status;

struct ParseCase {
  std::string name;
  std::string wire;
  Response expected;
  std::vector<StreamedLiteral> streamed = {};
};

// A literal marker followed by its octets, so that sizes are never
// miscounted by hand.
std::string lit(const std::string& data) {
  return "{" + std::to_string(data.size()) + "}\r\n" + data;
}

StatusResponse status(std::string tag, St st, std::string text,
                      std::optional<ResponseCode> code = std::nullopt) {
  return StatusResponse{std::move(tag), st, std::move(code), std::move(text)};
}

ResponseCode code(Code kind, std::string name) {
  ResponseCode c;
  c.kind = kind;
  c.name = std::move(name);
  return c;
}

ResponseCode number_code(Code kind, std::string name, std::uint64_t number) {
  ResponseCode c = code(kind, std::move(name));
  c.number = number;
  return c;
}

ResponseCode atoms_code(Code kind, std::string name, std::vector<std::string> atoms) {
  ResponseCode c = code(kind, std::move(name));
  c.atoms = std::move(atoms);
  return c;
}

ResponseCode text_code(Code kind, std::string name, std::string text) {
  ResponseCode c = code(kind, std::move(name));
  c.text = std::move(text);
  return c;
}

ResponseCode other_code(std::string name, std::string text) {
  return text_code(Code::Other, std::move(name), std::move(text));
}

// APPENDUID, COPYUID and MODIFIED.
ResponseCode set_code(Code kind, std::string name, std::uint64_t number, NumberSet set,
                      NumberSet set2 = {}) {
  ResponseCode c = number_code(kind, std::move(name), number);
  c.set = std::move(set);
  c.set2 = std::move(set2);
  return c;
}

// STATUS data from {item, value} pairs, as the server lists them.
StatusData status_data(std::string mailbox,
                       std::vector<std::pair<std::string, std::uint64_t>> items) {
  StatusData d;
  d.mailbox = std::move(mailbox);
  for (const auto& [item, value] : items) {
    if (item == "MESSAGES") {
      d.messages = value;
    } else if (item == "RECENT") {
      d.recent = value;
    } else if (item == "UIDNEXT") {
      d.uidnext = value;
    } else if (item == "UIDVALIDITY") {
      d.uidvalidity = value;
    } else if (item == "UNSEEN") {
      d.unseen = value;
    } else if (item == "HIGHESTMODSEQ") {
      d.highestmodseq = value;
    } else if (item == "SIZE") {
      d.size = value;
    } else {
      ADD_FAILURE() << "unknown STATUS item " << item;
    }
  }
  return d;
}

ESearchData esearch(std::string tag, bool uid) {
  ESearchData e;
  e.tag = std::move(tag);
  e.uid = uid;
  return e;
}

BodySection body(std::string section, std::string data,
                 std::optional<std::uint32_t> origin = std::nullopt) {
  BodySection b;
  b.section = std::move(section);
  b.origin = origin;
  b.size = data.size();
  b.data = std::move(data);
  return b;
}

FetchData fetch(std::uint32_t seq) {
  FetchData f;
  f.seq = seq;
  return f;
}

std::vector<ParseCase> status_cases() {
  return {
      {"dovecot-greeting",
       "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS "
       "AUTH=PLAIN] Dovecot ready.",
       status("", St::Ok, "Dovecot ready.",
              atoms_code(Code::Capability, "CAPABILITY",
                         {"IMAP4REV1", "SASL-IR", "LOGIN-REFERRALS", "ID", "ENABLE", "IDLE",
                          "LITERAL+", "STARTTLS", "AUTH=PLAIN"}))},
      {"dovecot-login-capability", "a1 OK [CAPABILITY IMAP4rev1 CONDSTORE QRESYNC] Logged in",
       status("a1", St::Ok, "Logged in",
              atoms_code(Code::Capability, "CAPABILITY", {"IMAP4REV1", "CONDSTORE", "QRESYNC"}))},
      {"gmail-greeting", "* OK Gimap ready for requests from 192.0.2.7 h5mb22318421wmq",
       status("", St::Ok, "Gimap ready for requests from 192.0.2.7 h5mb22318421wmq")},
      {"courier-greeting",
       "* OK [CAPABILITY IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT "
       "THREAD=REFERENCES SORT QUOTA IDLE ACL ACL2=UNION STARTTLS] Courier-IMAP ready. "
       "Copyright 1998-2018 Double Precision, Inc.  See COPYING for distribution information.",
       status("", St::Ok,
              "Courier-IMAP ready. Copyright 1998-2018 Double Precision, Inc.  See COPYING for "
              "distribution information.",
              atoms_code(Code::Capability, "CAPABILITY",
                         {"IMAP4REV1", "UIDPLUS", "CHILDREN", "NAMESPACE", "THREAD=ORDEREDSUBJECT",
                          "THREAD=REFERENCES", "SORT", "QUOTA", "IDLE", "ACL", "ACL2=UNION",
                          "STARTTLS"}))},
      {"exchange-greeting-brackets-in-text",
       "* OK The Microsoft Exchange IMAP4 service is ready. [TQBXADIAUABSADEAMgBDAEEAMAAwADQA]",
       status("", St::Ok,
              "The Microsoft Exchange IMAP4 service is ready. [TQBXADIAUABSADEAMgBDAEEAMAAwADQA]")},
      {"cyrus-preauth", "* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+] Logged in as murch",
       status("", St::Preauth, "Logged in as murch",
              atoms_code(Code::Capability, "CAPABILITY", {"IMAP4REV1", "LITERAL+"}))},
      {"dovecot-bye-inactivity", "* BYE Disconnected for inactivity.",
       status("", St::Bye, "Disconnected for inactivity.")},
      {"exchange-empty-text", "* OK", status("", St::Ok, "")},
      {"tagged-ok-trailing-space", "a7 OK ", status("a7", St::Ok, "")},
      {"trojita-lowercase-ok-alert", "y01 oK [ALERT] Server on fire",
       status("y01", St::Ok, "Server on fire", code(Code::Alert, "ALERT"))},
      {"dovecot-idle-keepalive", "* OK Still here", status("", St::Ok, "Still here")},
      {"dovecot-search-progress", "* OK Searched 76% of the mailbox, ETA 0:50",
       status("", St::Ok, "Searched 76% of the mailbox, ETA 0:50")},
      {"untagged-no-warning", "* NO Disk is 98% full, please delete unnecessary data",
       status("", St::No, "Disk is 98% full, please delete unnecessary data")},
      {"untagged-bad", "* BAD Command line too long", status("", St::Bad, "Command line too long")},
      {"dovecot-bad-messageset",
       "a4 BAD Error in IMAP command UID FETCH: Invalid messageset (0.001 + 0.000 secs).",
       status("a4", St::Bad,
              "Error in IMAP command UID FETCH: Invalid messageset (0.001 + 0.000 secs).")},
      {"tag-with-bracket", "x]1 NO nope", status("x]1", St::No, "nope")},
      {"code-without-following-text", "a2 OK [READ-WRITE]",
       status("a2", St::Ok, "", code(Code::ReadWrite, "READ-WRITE"))},
      {"code-text-without-space-quirk", "a2 OK [READ-ONLY]EXAMINE completed",
       status("a2", St::Ok, "EXAMINE completed", code(Code::ReadOnly, "READ-ONLY"))},
  };
}

std::vector<ParseCase> code_cases() {
  return {
      {"dovecot-select-read-write",
       "a2 OK [READ-WRITE] Select completed (0.002 + 0.000 + 0.001 secs).",
       status("a2", St::Ok, "Select completed (0.002 + 0.000 + 0.001 secs).",
              code(Code::ReadWrite, "READ-WRITE"))},
      {"examine-read-only", "a3 OK [READ-ONLY] EXAMINE completed",
       status("a3", St::Ok, "EXAMINE completed", code(Code::ReadOnly, "READ-ONLY"))},
      {"dovecot-trycreate", "a3 NO [TRYCREATE] Mailbox doesn't exist: Foo",
       status("a3", St::No, "Mailbox doesn't exist: Foo", code(Code::TryCreate, "TRYCREATE"))},
      {"parse", "* NO [PARSE] Invalid header in message 7",
       status("", St::No, "Invalid header in message 7", code(Code::Parse, "PARSE"))},
      {"uidvalidity", "* OK [UIDVALIDITY 3857529045] UIDs valid",
       status("", St::Ok, "UIDs valid", number_code(Code::UidValidity, "UIDVALIDITY", 3857529045))},
      {"uidnext", "* OK [UIDNEXT 4392] Predicted next UID",
       status("", St::Ok, "Predicted next UID", number_code(Code::UidNext, "UIDNEXT", 4392))},
      {"exchange-unseen", "* OK [UNSEEN 12] Is the first unseen message",
       status("", St::Ok, "Is the first unseen message", number_code(Code::Unseen, "UNSEEN", 12))},
      {"courier-permanentflags-star",
       "* OK [PERMANENTFLAGS (\\* \\Draft \\Answered \\Flagged \\Deleted \\Seen)] Limited",
       status("", St::Ok, "Limited",
              atoms_code(Code::PermanentFlags, "PERMANENTFLAGS",
                         {"\\*", "\\Draft", "\\Answered", "\\Flagged", "\\Deleted", "\\Seen"}))},
      {"exchange-permanentflags",
       "* OK [PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)] Permanent "
       "flags",
       status(
           "", St::Ok, "Permanent flags",
           atoms_code(Code::PermanentFlags, "PERMANENTFLAGS",
                      {"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "$MDNSent"}))},
      {"permanentflags-empty", "* OK [PERMANENTFLAGS ()] No permanent flags permitted",
       status("", St::Ok, "No permanent flags permitted",
              atoms_code(Code::PermanentFlags, "PERMANENTFLAGS", {}))},
      {"badcharset-list", "a9 NO [BADCHARSET (UTF-8 \"US-ASCII\")] Unsupported charset",
       status("a9", St::No, "Unsupported charset",
              atoms_code(Code::BadCharset, "BADCHARSET", {"UTF-8", "US-ASCII"}))},
      {"badcharset-bare", "a9 NO [BADCHARSET] Unsupported charset",
       status("a9", St::No, "Unsupported charset", code(Code::BadCharset, "BADCHARSET"))},
      {"dovecot-appenduid", "a5 OK [APPENDUID 1700000000 7] Append completed.",
       status("a5", St::Ok, "Append completed.",
              set_code(Code::AppendUid, "APPENDUID", 1700000000, {{7, 7}}))},
      {"multiappend-appenduid-set", "a5 OK [APPENDUID 38505 3955:3957] APPEND completed",
       status("a5", St::Ok, "APPEND completed",
              set_code(Code::AppendUid, "APPENDUID", 38505, {{3955, 3957}}))},
      {"dovecot-copyuid-move", "* OK [COPYUID 1700000000 3:5,9 10:12,13] Moved UIDs.",
       status(
           "", St::Ok, "Moved UIDs.",
           set_code(Code::CopyUid, "COPYUID", 1700000000, {{3, 5}, {9, 9}}, {{10, 12}, {13, 13}}))},
      {"copyuid-reversed-ranges", "a6 OK [COPYUID 38505 304,319:320 3958:3956] Done",
       status("a6", St::Ok, "Done",
              set_code(Code::CopyUid, "COPYUID", 38505, {{304, 304}, {319, 320}}, {{3956, 3958}}))},
      {"uidnotsticky", "a7 OK [UIDNOTSTICKY] Non-persistent UIDs",
       status("a7", St::Ok, "Non-persistent UIDs", code(Code::UidNotSticky, "UIDNOTSTICKY"))},
      {"rfc7162-highestmodseq-64bit", "* OK [HIGHESTMODSEQ 90060115205545359] Highest",
       status("", St::Ok, "Highest",
              number_code(Code::HighestModSeq, "HIGHESTMODSEQ", 90060115205545359u))},
      {"highestmodseq-63bit-max", "* OK [HIGHESTMODSEQ 9223372036854775807] Highest",
       status("", St::Ok, "Highest",
              number_code(Code::HighestModSeq, "HIGHESTMODSEQ", 9223372036854775807u))},
      {"dovecot-nomodseq", "* OK [NOMODSEQ] No permanent modsequences",
       status("", St::Ok, "No permanent modsequences", code(Code::NoModSeq, "NOMODSEQ"))},
      {"rfc7162-modified", "d105 OK [MODIFIED 7,9] Conditional STORE failed",
       status("d105", St::Ok, "Conditional STORE failed",
              set_code(Code::Modified, "MODIFIED", 0, {{7, 7}, {9, 9}}))},
      {"dovecot-closed", "* OK [CLOSED] Previous mailbox closed.",
       status("", St::Ok, "Previous mailbox closed.", code(Code::Closed, "CLOSED"))},
      {"toobig", "a8 NO [TOOBIG] Message too large",
       status("a8", St::No, "Message too large", code(Code::TooBig, "TOOBIG"))},
      {"cyrus-mailboxid", "a3 OK [MAILBOXID (F2212ea87-6097-4256-9d51-71338625)] Completed",
       status("a3", St::Ok, "Completed",
              atoms_code(Code::MailboxId, "MAILBOXID", {"F2212ea87-6097-4256-9d51-71338625"}))},
      {"gmail-authenticationfailed", "a1 NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)",
       status("a1", St::No, "Invalid credentials (Failure)",
              code(Code::AuthenticationFailed, "AUTHENTICATIONFAILED"))},
      {"authorizationfailed", "a1 NO [AUTHORIZATIONFAILED] No such authorization-ID",
       status("a1", St::No, "No such authorization-ID",
              code(Code::AuthorizationFailed, "AUTHORIZATIONFAILED"))},
      {"expired", "a1 NO [EXPIRED] That password isn't valid any more",
       status("a1", St::No, "That password isn't valid any more", code(Code::Expired, "EXPIRED"))},
      {"privacyrequired", "a1 NO [PRIVACYREQUIRED] Connection offers no privacy",
       status("a1", St::No, "Connection offers no privacy",
              code(Code::PrivacyRequired, "PRIVACYREQUIRED"))},
      {"dovecot-unavailable", "a1 NO [UNAVAILABLE] Temporary authentication failure.",
       status("a1", St::No, "Temporary authentication failure.",
              code(Code::Unavailable, "UNAVAILABLE"))},
      {"noperm", "a4 NO [NOPERM] Access denied",
       status("a4", St::No, "Access denied", code(Code::NoPerm, "NOPERM"))},
      {"inuse", "a4 NO [INUSE] Mailbox in use",
       status("a4", St::No, "Mailbox in use", code(Code::InUse, "INUSE"))},
      {"expungeissued", "a4 OK [EXPUNGEISSUED] Search completed",
       status("a4", St::Ok, "Search completed", code(Code::ExpungeIssued, "EXPUNGEISSUED"))},
      {"corruption", "a4 NO [CORRUPTION] Cannot open mailbox",
       status("a4", St::No, "Cannot open mailbox", code(Code::Corruption, "CORRUPTION"))},
      {"dovecot-serverbug", "a4 NO [SERVERBUG] Internal error occurred. Refer to server log.",
       status("a4", St::No, "Internal error occurred. Refer to server log.",
              code(Code::ServerBug, "SERVERBUG"))},
      {"clientbug", "a4 OK [CLIENTBUG] Done, but ignored a duplicate",
       status("a4", St::Ok, "Done, but ignored a duplicate", code(Code::ClientBug, "CLIENTBUG"))},
      {"cannot", "a4 NO [CANNOT] Too many levels of hierarchy",
       status("a4", St::No, "Too many levels of hierarchy", code(Code::Cannot, "CANNOT"))},
      {"limit", "a4 NO [LIMIT] At most 32 flags in one mailbox",
       status("a4", St::No, "At most 32 flags in one mailbox", code(Code::Limit, "LIMIT"))},
      {"overquota-with-ok", "a4 OK [OVERQUOTA] Quota exceeded (mailbox for user is full)",
       status("a4", St::Ok, "Quota exceeded (mailbox for user is full)",
              code(Code::OverQuota, "OVERQUOTA"))},
      {"dovecot-alreadyexists", "a4 NO [ALREADYEXISTS] Mailbox already exists",
       status("a4", St::No, "Mailbox already exists", code(Code::AlreadyExists, "ALREADYEXISTS"))},
      {"dovecot-nonexistent", "a4 NO [NONEXISTENT] Mailbox doesn't exist: Foo",
       status("a4", St::No, "Mailbox doesn't exist: Foo", code(Code::NonExistent, "NONEXISTENT"))},
      {"compressionactive", "a4 NO [COMPRESSIONACTIVE] DEFLATE active via TLS",
       status("a4", St::No, "DEFLATE active via TLS",
              code(Code::CompressionActive, "COMPRESSIONACTIVE"))},
      {"lowercase-code-name", "* ok [uidnext 5] next",
       status("", St::Ok, "next", number_code(Code::UidNext, "UIDNEXT", 5))},
      {"unknown-code-with-args", "* OK [XYZZY some args here] text",
       status("", St::Ok, "text", other_code("XYZZY", "some args here"))},
      {"unknown-code-no-args", "* NO [NOTIFICATIONOVERFLOW] Too many events",
       status("", St::No, "Too many events", other_code("NOTIFICATIONOVERFLOW", ""))},
      {"dovecot-referral", "a1 NO [REFERRAL imap://user;AUTH=*@server2/] Try server2",
       status("a1", St::No, "Try server2", other_code("REFERRAL", "imap://user;AUTH=*@server2/"))},
      {"known-code-with-unexpected-args", "* OK [ALERT now] x",
       status("", St::Ok, "x", text_code(Code::Alert, "ALERT", "now"))},
  };
}

std::vector<ParseCase> continuation_cases() {
  return {
      {"continuation-bare", "+", Continuation{""}},
      {"continuation-space", "+ ", Continuation{""}},
      {"dovecot-literal-continuation", "+ OK", Continuation{"OK"}},
      {"dovecot-idle", "+ idling", Continuation{"idling"}},
      {"gmail-xoauth2-error-challenge",
       "+ eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xl"
       "LmNvbS8ifQ==",
       Continuation{"eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwu"
                    "Z29vZ2xlLmNvbS8ifQ=="}},
  };
}

std::vector<ParseCase> data_cases() {
  return {
      {"gmail-capability",
       "* CAPABILITY IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 XYZZY "
       "SASL-IR AUTH=XOAUTH2 AUTH=PLAIN AUTH=PLAIN-CLIENTTOKEN AUTH=OAUTHBEARER AUTH=XOAUTH",
       CapabilityData{{"IMAP4REV1", "UNSELECT", "IDLE", "NAMESPACE", "QUOTA", "ID", "XLIST",
                       "CHILDREN", "X-GM-EXT-1", "XYZZY", "SASL-IR", "AUTH=XOAUTH2", "AUTH=PLAIN",
                       "AUTH=PLAIN-CLIENTTOKEN", "AUTH=OAUTHBEARER", "AUTH=XOAUTH"}}},
      {"capability-lowercase-trailing-space", "* capability imap4rev1 idle ",
       CapabilityData{{"IMAP4REV1", "IDLE"}}},
      {"dovecot-enabled", "* ENABLED QRESYNC CONDSTORE", EnabledData{{"QRESYNC", "CONDSTORE"}}},
      {"enabled-nothing", "* ENABLED", EnabledData{{}}},
      // LIST and LSUB.
      {"dovecot-list-inbox", "* LIST (\\HasNoChildren) \"/\" INBOX",
       ListData{{"\\HasNoChildren"}, '/', "INBOX"}},
      {"gmail-list-all-mail", "* LIST (\\All \\HasNoChildren) \"/\" \"[Gmail]/All Mail\"",
       ListData{{"\\All", "\\HasNoChildren"}, '/', "[Gmail]/All Mail"}},
      {"gmail-list-noselect", "* LIST (\\HasChildren \\Noselect) \"/\" \"[Gmail]\"",
       ListData{{"\\HasChildren", "\\Noselect"}, '/', "[Gmail]"}},
      {"gmail-list-utf7-name", "* LIST (\\HasNoChildren) \"/\" \"[Gmail]/&BBIEMAQ2BD0EPgQ1-\"",
       ListData{{"\\HasNoChildren"}, '/', "[Gmail]/&BBIEMAQ2BD0EPgQ1-"}},
      {"cyrus-list-dot-atom", "* LIST (\\HasNoChildren) \".\" INBOX.Sent",
       ListData{{"\\HasNoChildren"}, '.', "INBOX.Sent"}},
      {"courier-list-quoted", "* LIST (\\HasNoChildren) \".\" \"INBOX.Sent Items\"",
       ListData{{"\\HasNoChildren"}, '.', "INBOX.Sent Items"}},
      {"list-inbox-any-case", "* LIST (\\Marked \\HasNoChildren) \"/\" Inbox",
       ListData{{"\\Marked", "\\HasNoChildren"}, '/', "INBOX"}},
      {"list-nil-delimiter", "* LIST (\\NoInferiors) NIL flat",
       ListData{{"\\NoInferiors"}, std::nullopt, "flat"}},
      {"list-empty-delimiter-quirk", "* LIST () \"\" flat", ListData{{}, std::nullopt, "flat"}},
      {"list-backslash-delimiter", "* LIST (\\HasNoChildren) \"\\\\\" \"Sent Items\"",
       ListData{{"\\HasNoChildren"}, '\\', "Sent Items"}},
      {"dovecot-list-literal-name", "* LIST (\\HasNoChildren) \"/\" " + lit("foo\"bar"),
       ListData{{"\\HasNoChildren"}, '/', "foo\"bar"}},
      {"list-literal-name-with-crlf", "* LIST () \"/\" " + lit("a\r\nb"),
       ListData{{}, '/', "a\r\nb"}},
      {"dovecot-list-utf8-quoted", "* LIST (\\HasNoChildren) \"/\" \"Caf\xc3\xa9\"",
       ListData{{"\\HasNoChildren"}, '/', "Caf\xc3\xa9"}},
      {"rfc5258-list-childinfo",
       "* LIST (\\Subscribed) \"/\" \"Foo\" (\"CHILDINFO\" (\"SUBSCRIBED\"))",
       ListData{{"\\Subscribed"}, '/', "Foo"}},
      {"rfc5258-list-oldname", "* LIST () \"/\" \"NewFolder\" (\"OLDNAME\" (\"OldFolder\"))",
       ListData{{}, '/', "NewFolder"}},
      {"list-extended-after-literal", "* LIST () \"/\" " + lit("x)") + " (\"OLDNAME\" (\"y\"))",
       ListData{{}, '/', "x)"}},
      {"rfc6154-list-special-use", "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
       ListData{{"\\HasNoChildren", "\\Sent"}, '/', "Sent"}},
      {"rfc3501-lsub", "* LSUB () \".\" #news.comp.mail.misc",
       ListData{{}, '.', "#news.comp.mail.misc"}},
      {"list-mailbox-named-nil", "* LIST () \"/\" NIL", ListData{{}, '/', "NIL"}},
      // STATUS.
      {"dovecot-status", "* STATUS INBOX (MESSAGES 231 UIDNEXT 44292)",
       status_data("INBOX", {{"MESSAGES", 231}, {"UIDNEXT", 44292}})},
      {"status-all-items",
       "* STATUS \"Sent Items\" (MESSAGES 3 RECENT 0 UIDNEXT 9 UIDVALIDITY 1700000000 UNSEEN 1 "
       "HIGHESTMODSEQ 90060115205545359 SIZE 123456789012)",
       status_data("Sent Items", {{"MESSAGES", 3},
                                  {"RECENT", 0},
                                  {"UIDNEXT", 9},
                                  {"UIDVALIDITY", 1700000000},
                                  {"UNSEEN", 1},
                                  {"HIGHESTMODSEQ", 90060115205545359u},
                                  {"SIZE", 123456789012u}})},
      {"status-unknown-items-skipped",
       "* STATUS blurdybloop (MESSAGES 1 DELETED 0 APPENDLIMIT NIL MAILBOXID (F1234) X-FOO "
       "\"bar\" UIDNEXT 2)",
       status_data("blurdybloop", {{"MESSAGES", 1}, {"UIDNEXT", 2}})},
      {"status-extra-spaces", "* STATUS \"INBOX\" ( MESSAGES 3  ) ",
       status_data("INBOX", {{"MESSAGES", 3}})},
      {"status-literal-mailbox", "* STATUS " + lit("a b") + " (UNSEEN 4)",
       status_data("a b", {{"UNSEEN", 4}})},
      // FLAGS and numbers.
      {"courier-flags", "* FLAGS (\\Draft \\Answered \\Flagged \\Deleted \\Seen \\Recent)",
       FlagsData{{"\\Draft", "\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Recent"}}},
      {"dovecot-flags-keywords",
       "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $MDNSent NonJunk)",
       FlagsData{{"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "$Forwarded",
                  "$MDNSent", "NonJunk"}}},
      {"flags-empty", "* FLAGS ()", FlagsData{{}}},
      {"flags-system-case-canonical", "* FLAGS (\\SEEN \\answered $label1)",
       FlagsData{{"\\Seen", "\\Answered", "$label1"}}},
      {"exists", "* 23 EXISTS", NumberData{NumberData::Kind::Exists, 23}},
      {"exists-empty-mailbox", "* 0 EXISTS", NumberData{NumberData::Kind::Exists, 0}},
      {"recent", "* 5 RECENT", NumberData{NumberData::Kind::Recent, 5}},
      {"expunge", "* 3 EXPUNGE", NumberData{NumberData::Kind::Expunge, 3}},
      {"exists-lowercase-trailing-space", "* 4 exists ", NumberData{NumberData::Kind::Exists, 4}},
      {"exists-uint32-max", "* 4294967295 EXISTS",
       NumberData{NumberData::Kind::Exists, 4294967295u}},
      // SEARCH, ESEARCH, VANISHED.
      {"rfc3501-search", "* SEARCH 2 3 6", SearchData{{2, 3, 6}, std::nullopt}},
      {"search-empty", "* SEARCH", SearchData{{}, std::nullopt}},
      {"search-trailing-space", "* SEARCH 1 ", SearchData{{1}, std::nullopt}},
      {"rfc7162-search-modseq", "* SEARCH 2 5 6 7 11 12 18 19 20 23 (MODSEQ 917162500)",
       SearchData{{2, 5, 6, 7, 11, 12, 18, 19, 20, 23}, 917162500}},
      {"dovecot-esearch-all", "* ESEARCH (TAG \"a5\") UID ALL 4:5",
       [] {
         ESearchData e = esearch("a5", true);
         e.all = {{4, 5}};
         return e;
       }()},
      {"rfc4731-esearch-min-max", "* ESEARCH (TAG \"A285\") UID MIN 7 MAX 3800",
       [] {
         ESearchData e = esearch("A285", true);
         e.min = 7;
         e.max = 3800;
         return e;
       }()},
      {"rfc4731-esearch-count", "* ESEARCH (TAG \"A284\") MIN 4 MAX 200 COUNT 5",
       [] {
         ESearchData e = esearch("A284", false);
         e.min = 4;
         e.max = 200;
         e.count = 5;
         return e;
       }()},
      {"esearch-empty-result", "* ESEARCH (TAG \"a1\") UID", esearch("a1", true)},
      {"esearch-no-correlator", "* ESEARCH COUNT 0",
       [] {
         ESearchData e = esearch("", false);
         e.count = 0;
         return e;
       }()},
      {"esearch-modseq-and-unknown",
       "* ESEARCH (TAG \"E\") UID ALL 1:3,5 PARTIAL (1:10 1:3,5) MODSEQ 1236",
       [] {
         ESearchData e = esearch("E", true);
         e.all = {{1, 3}, {5, 5}};
         e.modseq = 1236;
         return e;
       }()},
      {"dovecot-vanished-earlier", "* VANISHED (EARLIER) 41,43:116,118,120:211,214:540",
       VanishedData{true, {{41, 41}, {43, 116}, {118, 118}, {120, 211}, {214, 540}}}},
      {"rfc7162-vanished", "* VANISHED 405,407,410,425",
       VanishedData{false, {{405, 405}, {407, 407}, {410, 410}, {425, 425}}}},
      // Everything else.
      {"dovecot-id", "* ID (\"name\" \"Dovecot\")", OtherData{"ID"}},
      {"dovecot-quota", "* QUOTA \"User quota\" (STORAGE 10 512)", OtherData{"QUOTA"}},
      {"gmail-xlist", "* XLIST (\\HasNoChildren \\Inbox) \"/\" \"Inbox\"", OtherData{"XLIST"}},
      {"metadata-with-literal", "* METADATA \"\" /shared/comment " + lit("a \"{9}\r\n("),
       OtherData{"METADATA"}},
      {"numbered-unknown", "* 3 XYZ " + lit("abc") + " tail", OtherData{"XYZ"}},
      {"other-free-text-with-quote", "* XAPPLEPUSHSERVICE aps-version \"2",
       OtherData{"XAPPLEPUSHSERVICE"}},
  };
}

Namespace ns(std::string prefix, std::optional<char> delimiter) {
  return Namespace{std::move(prefix), delimiter};
}

// NAMESPACE (RFC 2342 §5): the servers of the matrix, the RFC's examples,
// and the liberties servers take that change nothing.
std::vector<ParseCase> namespace_cases() {
  return {
      {"dovecot-namespace", "* NAMESPACE ((\"\" \"/\")) NIL NIL",
       NamespaceData{{ns("", '/')}, {}, {}}},
      {"courier-namespace",
       "* NAMESPACE ((\"INBOX.\" \".\")) NIL ((\"#shared.\" \".\")(\"shared.\" \".\"))",
       NamespaceData{{ns("INBOX.", '.')}, {}, {ns("#shared.", '.'), ns("shared.", '.')}}},
      {"cyrus-altnamespace",
       "* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) ((\"Shared Folders/\" \"/\"))",
       NamespaceData{{ns("", '/')}, {ns("Other Users/", '/')}, {ns("Shared Folders/", '/')}}},
      {"cyrus-debian-inbox-namespace",
       "* NAMESPACE ((\"INBOX.\" \".\")) ((\"user.\" \".\")) ((\"\" \".\"))",
       NamespaceData{{ns("INBOX.", '.')}, {ns("user.", '.')}, {ns("", '.')}}},
      {"rfc2342-several-personal-with-extension",
       "* NAMESPACE ((\"\" \"/\")(\"#mh/\" \"/\" \"X-PARAM\" (\"FLAG1\" \"FLAG2\"))) NIL NIL",
       NamespaceData{{ns("", '/'), ns("#mh/", '/')}, {}, {}}},
      {"rfc5255-translation-extension",
       "* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\" \"TRANSLATION\" (\"Andere "
       "Ben&AOQ-tzer/\"))) "
       "NIL",
       NamespaceData{{ns("", '/')}, {ns("Other Users/", '/')}, {}}},
      {"namespace-nil-delimiter", "* NAMESPACE ((\"\" NIL)) NIL NIL",
       NamespaceData{{ns("", std::nullopt)}, {}, {}}},
      {"namespace-empty-delimiter", "* NAMESPACE ((\"\" \"\")) NIL NIL",
       NamespaceData{{ns("", std::nullopt)}, {}, {}}},
      {"namespace-all-nil-lower-case", "* namespace nil nil nil", NamespaceData{}},
      {"namespace-empty-list-as-nil", "* NAMESPACE () NIL NIL", NamespaceData{}},
      {"namespace-literal-prefix", "* NAMESPACE ((" + lit("INBOX.") + " \".\")) NIL NIL",
       NamespaceData{{ns("INBOX.", '.')}, {}, {}}},
      {"namespace-spaces-between-descriptions",
       "* NAMESPACE ( (\"INBOX.\" \".\") (\"Mail/\" \"/\") ) NIL NIL ",
       NamespaceData{{ns("INBOX.", '.'), ns("Mail/", '/')}, {}, {}}},
      // The reply is read as sent; whether a prefix is usable is the
      // sync's decision (sync/folder_names.hpp).
      {"namespace-prefix-without-delimiter", "* NAMESPACE ((\"INBOX\" \".\")) NIL NIL",
       NamespaceData{{ns("INBOX", '.')}, {}, {}}},
  };
}

std::vector<ParseCase> fetch_cases() {
  std::vector<ParseCase> cases;
  {
    FetchData f = fetch(12);
    f.uid = 4827313;
    f.flags = std::vector<std::string>{"\\Seen"};
    f.modseq = 90060115205545359u;
    cases.push_back({"dovecot-fetch-uid-flags-modseq",
                     "* 12 FETCH (UID 4827313 FLAGS (\\Seen) MODSEQ (90060115205545359))", f});
  }
  {
    FetchData f = fetch(1);
    f.flags = std::vector<std::string>{};
    cases.push_back({"fetch-flags-empty", "* 1 FETCH (FLAGS ())", f});
  }
  {
    FetchData f = fetch(2);
    f.uid = 7;
    f.rfc822_size = 4286;
    f.internaldate = "17-Jul-1996 02:44:25 -0700";
    cases.push_back(
        {"rfc3501-fetch-size-date",
         "* 2 FETCH (UID 7 RFC822.SIZE 4286 INTERNALDATE \"17-Jul-1996 02:44:25 -0700\")", f});
  }
  {
    FetchData f = fetch(1);
    f.uid = 5;
    f.sections.push_back(body("", "Subject: x\r\n\r\nBody\r\n"));
    cases.push_back({"fetch-body-literal",
                     "* 1 FETCH (UID 5 BODY[] " + lit("Subject: x\r\n\r\nBody\r\n") + ")", f});
  }
  {
    // The octets look like syntax; they must be taken by size only.
    FetchData f = fetch(1);
    f.uid = 6;
    f.sections.push_back(body("TEXT", ") {5}\r\n\"( UID 99"));
    cases.push_back({"fetch-body-literal-that-looks-like-syntax",
                     "* 1 FETCH (BODY[TEXT] " + lit(") {5}\r\n\"( UID 99") + " UID 6)", f});
  }
  {
    FetchData f = fetch(3);
    f.sections.push_back(
        body("HEADER.FIELDS (MESSAGE-ID DATE)", "Message-ID: <a@b>\r\nDate: x\r\n\r\n"));
    cases.push_back({"dovecot-fetch-header-fields",
                     "* 3 FETCH (BODY[HEADER.FIELDS (MESSAGE-ID DATE)] " +
                         lit("Message-ID: <a@b>\r\nDate: x\r\n\r\n") + ")",
                     f});
  }
  {
    FetchData f = fetch(3);
    f.sections.push_back(body("HEADER.FIELDS (MESSAGE-ID)", ""));
    cases.push_back({"fetch-header-fields-quoted-lowercase",
                     "* 3 FETCH (body[header.fields (\"Message-Id\")] \"\")", f});
  }
  {
    FetchData f = fetch(1);
    f.sections.push_back(body("", "Hello", 0));
    cases.push_back({"fetch-body-partial-origin", "* 1 FETCH (BODY[]<0> " + lit("Hello") + ")", f});
  }
  {
    FetchData f = fetch(1);
    f.uid = 9;
    BodySection b;
    b.section = "";
    b.streamed = true;
    b.size = 100000;
    f.sections.push_back(b);
    std::string wire = "* 1 FETCH (UID 9 BODY[] {100000}\r\n FLAGS (\\Seen))";
    f.flags = std::vector<std::string>{"\\Seen"};
    cases.push_back({"fetch-body-streamed", wire, f, {{wire.find('{'), 100000}}});
  }
  {
    FetchData f = fetch(1);
    f.uid = 3;
    BodySection b;
    b.nil = true;
    f.sections.push_back(b);
    cases.push_back({"exchange-fetch-body-nil", "* 1 FETCH (BODY[] NIL UID 3)", f});
  }
  {
    FetchData f = fetch(1);
    f.sections.push_back(body("1.2", "hi \"there\""));
    cases.push_back({"fetch-body-quoted", "* 1 FETCH (BODY[1.2] \"hi \\\"there\\\"\")", f});
  }
  {
    FetchData f = fetch(1);
    BodySection b = body("", "a\0b"s);
    f.sections.push_back(b);
    cases.push_back({"rfc3516-fetch-binary-literal8", "* 1 FETCH (BINARY[] ~{3}\r\na\0b)"s, f});
  }
  {
    FetchData f = fetch(1);
    f.uid = 5;
    cases.push_back({"rfc3516-binary-size-skipped", "* 1 FETCH (BINARY.SIZE[1] 1234 UID 5)", f});
  }
  {
    FetchData f = fetch(1);
    f.sections.push_back(body("", "abcd"));
    cases.push_back({"fetch-rfc822", "* 1 FETCH (RFC822 " + lit("abcd") + ")", f});
  }
  {
    FetchData f = fetch(1);
    f.sections.push_back(body("HEADER", "H: v\r\n\r\n"));
    f.sections.push_back(body("TEXT", "text"));
    cases.push_back({"fetch-rfc822-header-text",
                     "* 1 FETCH (RFC822.HEADER " + lit("H: v\r\n\r\n") + " RFC822.TEXT \"text\")",
                     f});
  }
  {
    FetchData f = fetch(12);
    f.rfc822_size = 4286;
    cases.push_back(
        {"rfc3501-envelope-skipped",
         "* 12 FETCH (ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" \"IMAP4rev1 WG mtg "
         "summary and minutes\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry "
         "Gray\" NIL \"gray\" \"cac.washington.edu\")) ((\"Terry Gray\" NIL \"gray\" "
         "\"cac.washington.edu\")) ((NIL NIL \"imap\" \"cac.washington.edu\")) ((NIL NIL "
         "\"minutes\" \"CNRI.Reston.VA.US\")(\"John Klensin\" NIL \"KLENSIN\" \"MIT.EDU\")) NIL "
         "NIL "
         "\"<B27397-0100000@cac.washington.edu>\") RFC822.SIZE 4286)",
         f});
  }
  {
    FetchData f = fetch(4);
    f.uid = 8;
    cases.push_back(
        {"envelope-with-literal-subject",
         "* 4 FETCH (ENVELOPE (NIL " + lit("Re: (x") + " NIL NIL NIL NIL NIL NIL NIL NIL) UID 8)",
         f});
  }
  {
    FetchData f = fetch(2);
    f.uid = 10;
    cases.push_back(
        {"bodystructure-nested-multipart",
         "* 2 FETCH (UID 10 BODYSTRUCTURE (((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL "
         "\"7BIT\" 3 1 NIL NIL NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"us-ascii\") NIL NIL "
         "\"QUOTED-PRINTABLE\" 10 1 NIL NIL NIL) \"ALTERNATIVE\" (\"BOUNDARY\" \"b2\") NIL NIL)"
         "(\"IMAGE\" \"PNG\" (\"NAME\" \"a.png\") NIL NIL \"BASE64\" 5000 NIL (\"attachment\" "
         "(\"FILENAME\" \"a.png\")) NIL NIL) \"MIXED\" (\"BOUNDARY\" \"b1\") NIL NIL))",
         f});
  }
  {
    FetchData f = fetch(5);
    cases.push_back(
        {"bodystructure-message-rfc822",
         "* 5 FETCH (BODY (\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 342 (NIL \"s\" NIL NIL NIL "
         "NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 10 1) 12))",
         f});
  }
  {
    FetchData f = fetch(1);
    f.uid = 3;
    f.flags = std::vector<std::string>{"\\Seen"};
    cases.push_back({"gmail-xgm-labels",
                     "* 1 FETCH (X-GM-THRID 1278455344230334865 X-GM-MSGID 1278455344230334865 "
                     "X-GM-LABELS (\\Important \\Sent \"Muy Importante\") UID 3 FLAGS (\\Seen))",
                     f});
  }
  {
    FetchData f = fetch(1);
    f.uid = 4;
    f.flags = std::vector<std::string>{};
    cases.push_back({"gmail-xgm-labels-empty-and-literal",
                     "* 1 FETCH (X-GM-LABELS () UID 4 X-GM-LABELS (" + lit("a b") + ") FLAGS ())",
                     f});
  }
  {
    FetchData f = fetch(1);
    f.uid = 3;
    cases.push_back({"rfc8474-emailid-threadid",
                     "* 1 FETCH (UID 3 EMAILID (M6d99ac3275bb4e) THREADID NIL)", f});
  }
  {
    FetchData f = fetch(1);
    f.uid = 4;
    cases.push_back(
        {"fetch-unknown-item-with-literal", "* 1 FETCH (X-UNKNOWN " + lit(")))") + " UID 4)", f});
  }
  {
    FetchData f = fetch(1);
    f.uid = 4;
    f.flags = std::vector<std::string>{"\\Seen", "\\Flagged"};
    cases.push_back(
        {"fetch-extra-spaces-quirk", "* 1 FETCH ( UID 4  FLAGS (\\seen \\FLAGGED ) ) ", f});
  }
  {
    FetchData f = fetch(7);
    f.uid = 4294967295u;
    f.modseq = 18446744073709551615u;
    cases.push_back(
        {"fetch-uint-limits", "* 7 FETCH (UID 4294967295 MODSEQ (18446744073709551615))", f});
  }
  {
    FetchData f = fetch(1);
    f.uid = 2;
    f.sections.push_back(body("", ""));
    cases.push_back({"fetch-empty-literal", "* 1 fetch (uid 2 body[] {0}\r\n)", f});
  }
  {
    FetchData f = fetch(1);
    f.uid = 2;
    f.sections.push_back(body("", "abc"));
    cases.push_back({"fetch-nonsync-literal-form", "* 1 FETCH (UID 2 BODY[] {3+}\r\nabc)", f});
  }
  return cases;
}

std::vector<ParseCase> all_cases() {
  std::vector<ParseCase> cases;
  for (auto group : {status_cases(), code_cases(), continuation_cases(), data_cases(),
                     namespace_cases(), fetch_cases()}) {
    cases.insert(cases.end(), group.begin(), group.end());
  }
  return cases;
}

class ParserTest : public testing::TestWithParam<ParseCase> {};

TEST_P(ParserTest, Parses) {
  const ParseCase& c = GetParam();
  RawResponse raw{c.wire, c.streamed};
  Response parsed = parse_response(raw);
  EXPECT_EQ(parsed, c.expected) << "wire: " << c.wire;
}

INSTANTIATE_TEST_SUITE_P(Servers, ParserTest, testing::ValuesIn(all_cases()),
                         [](const testing::TestParamInfo<ParseCase>& row) {
                           std::string name = row.param.name;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) {
                               ch = '_';
                             }
                           }
                           return name;
                         });

TEST(ParserTableTest, HasEnoughRowsWithUniqueNames) {
  std::vector<ParseCase> cases = all_cases();
  EXPECT_GE(cases.size(), 60u);
  std::set<std::string> names;
  for (const ParseCase& c : cases) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate row name " << c.name;
  }
}

TEST(ResponsePrinterTest, PrintsOneReadableLine) {
  std::ostringstream os;
  os << Response{status("a1", St::No, "go away", number_code(Code::UidNext, "UIDNEXT", 5))};
  EXPECT_EQ(os.str(), "StatusResponse{a1 NO [UIDNEXT 5] \"go away\"}");
  std::ostringstream fetch_os;
  FetchData f = fetch(3);
  f.uid = 9;
  f.sections.push_back(body("HEADER", "a\r\nb"));
  fetch_os << Response{f};
  EXPECT_EQ(fetch_os.str(), "FetchData{3 uid=9 BODY[HEADER] 4 octets \"a\\r\\nb\"}");
  std::ostringstream list_os;
  list_os << Response{VanishedData{true, {{1, 3}, {7, 7}}}};
  EXPECT_EQ(list_os.str(), "VanishedData{(EARLIER) 1:3,7}");
  std::ostringstream ns_os;
  ns_os << Response{NamespaceData{{ns("INBOX.", '.')}, {}, {ns("", std::nullopt)}}};
  EXPECT_EQ(ns_os.str(), "NamespaceData{((\"INBOX.\" \".\")) NIL ((\"\" NIL))}");
}

}  // namespace
}  // namespace roam::imap
