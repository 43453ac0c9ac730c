#pragma once

// Typed IMAP server responses (RFC 3501 §7, RFC 9051 §7 and the extensions
// roam uses). The parser (parser.hpp) turns one complete server response into
// one `Response`; everything above it works with these types and never with
// raw text. Each type has operator== and a printer so that table-driven tests
// can compare whole responses and print readable failures.

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace roam::imap {

using Uid = std::uint32_t;
using ModSeq = std::uint64_t;

// An inclusive range of UIDs or sequence numbers. `*` is represented by
// k_star (UINT32_MAX); a range "12:10" is normalised to {10, 12}.
struct Range {
  std::uint32_t first = 0;
  std::uint32_t last = 0;
  bool operator==(const Range&) const = default;
};
inline constexpr std::uint32_t k_star = 0xffffffffu;

// A sequence-set (RFC 3501 §9 "sequence-set"): ranges in server order.
using NumberSet = std::vector<Range>;

// Expands a set into its members (ascending, deduplicated). Refuses sets with
// `*` or with more than `limit` members (a hostile "1:4294967294").
std::vector<std::uint32_t> expand(const NumberSet& set, std::size_t limit = 10'000'000);
// Formats ascending numbers as a compact sequence-set ("1:5,7,9:10").
std::string format_set(const std::vector<std::uint32_t>& sorted_numbers);
std::string format_set(const NumberSet& set);

// A response code, the bracketed part of a status response (RFC 3501 §7.1).
// Unknown codes are kept with kind Other and never acted on (RFC 9051 §7.1).
struct ResponseCode {
  enum class Kind {
    Alert,
    BadCharset,
    Capability,
    Parse,
    PermanentFlags,
    ReadOnly,
    ReadWrite,
    TryCreate,
    UidNext,
    UidValidity,
    Unseen,
    AppendUid,             // RFC 4315 §3: [APPENDUID uidvalidity uid-set]
    CopyUid,               // RFC 4315 §3: [COPYUID uidvalidity src-set dst-set]
    UidNotSticky,          // RFC 4315 §3
    HighestModSeq,         // RFC 7162 §3.1.2.1
    NoModSeq,              // RFC 7162 §3.1.2.2
    Modified,              // RFC 7162 §3.1.3: [MODIFIED set]
    Closed,                // RFC 7162 §3.2.11
    TooBig,                // RFC 7889 §4
    MailboxId,             // RFC 8474 §4: [MAILBOXID (id)]
    AuthenticationFailed,  // RFC 5530 and the rest of its codes below
    AuthorizationFailed,
    Expired,
    PrivacyRequired,
    Unavailable,
    NoPerm,
    InUse,
    ExpungeIssued,
    Corruption,
    ServerBug,
    ClientBug,
    Cannot,
    Limit,
    OverQuota,
    AlreadyExists,
    NonExistent,
    CompressionActive,  // RFC 4978
    Other,
  };
  Kind kind = Kind::Other;
  std::string name;                // The code atom as sent, upper-cased.
  std::uint64_t number = 0;        // UIDNEXT, UIDVALIDITY, UNSEEN, HIGHESTMODSEQ,
                                   // and the uidvalidity of APPENDUID/COPYUID.
  std::vector<std::string> atoms;  // CAPABILITY, PERMANENTFLAGS, BADCHARSET, MAILBOXID.
  NumberSet set;                   // MODIFIED; APPENDUID's uid-set; COPYUID's source set.
  NumberSet set2;                  // COPYUID's destination set.
  std::string text;                // The raw argument text of Other codes.
  bool operator==(const ResponseCode&) const = default;
};

// A status response: tagged OK/NO/BAD, or untagged OK/NO/BAD/PREAUTH/BYE.
struct StatusResponse {
  enum class Status { Ok, No, Bad, Preauth, Bye };
  std::string tag;  // Empty for untagged responses.
  Status status = Status::Ok;
  std::optional<ResponseCode> code;
  std::string text;  // Human-readable text after the code.
  bool operator==(const StatusResponse&) const = default;
};

// "+ text" (RFC 3501 §7.5). For AUTHENTICATE the text is the base64 challenge.
struct Continuation {
  std::string text;
  bool operator==(const Continuation&) const = default;
};

// "* CAPABILITY ..." and "* ENABLED ..." (atoms upper-cased).
struct CapabilityData {
  std::vector<std::string> capabilities;
  bool operator==(const CapabilityData&) const = default;
};
struct EnabledData {
  std::vector<std::string> capabilities;
  bool operator==(const EnabledData&) const = default;
};

// "* LIST (attrs) delim name" (also LSUB). The mailbox is the raw wire name:
// modified UTF-7 unless UTF8=ACCEPT is enabled; decoding is the caller's.
struct ListData {
  std::vector<std::string> attributes;  // As sent, e.g. "\\HasNoChildren", "\\Sent".
  std::optional<char> delimiter;        // nullopt for NIL (flat namespace).
  std::string mailbox;
  bool operator==(const ListData&) const = default;
};

// "* STATUS mailbox (MESSAGES 3 UIDNEXT 9 ...)".
struct StatusData {
  std::string mailbox;
  std::optional<std::uint64_t> messages, recent, uidnext, uidvalidity, unseen, highestmodseq, size;
  bool operator==(const StatusData&) const = default;
};

// "* FLAGS (...)".
struct FlagsData {
  std::vector<std::string> flags;
  bool operator==(const FlagsData&) const = default;
};

// "* n EXISTS", "* n RECENT", "* n EXPUNGE".
struct NumberData {
  enum class Kind { Exists, Recent, Expunge };
  Kind kind = Kind::Exists;
  std::uint32_t number = 0;
  bool operator==(const NumberData&) const = default;
};

// One body section of a FETCH response, e.g. BODY[] or BODY[HEADER.FIELDS
// (MESSAGE-ID)]. A large literal may have been streamed to a sink while the
// response was read; then `streamed` is true and `data` is empty.
struct BodySection {
  std::string section;  // The text between the brackets, upper-cased, e.g. "" or "HEADER".
  std::optional<std::uint32_t> origin;  // <origin> of a partial fetch.
  bool nil = false;                     // The server sent NIL.
  bool streamed = false;
  std::uint64_t size = 0;  // Octets on the wire (literal size or quoted length).
  std::string data;        // The octets, unless streamed or nil.
  bool operator==(const BodySection&) const = default;
};

// "* n FETCH (...)". Only the items roam asks for are typed; others are
// skipped (but must still parse). BODYSTRUCTURE and ENVELOPE are parsed for
// well-formedness and otherwise ignored.
struct FetchData {
  std::uint32_t seq = 0;
  std::optional<Uid> uid;
  std::optional<std::vector<std::string>> flags;
  std::optional<std::uint64_t> rfc822_size;
  std::optional<ModSeq> modseq;
  std::optional<std::string> internaldate;  // As sent: "17-Jul-1996 02:44:25 -0700".
  std::vector<BodySection> sections;        // BODY[...] / BINARY[...] / RFC822 items.
  bool operator==(const FetchData&) const = default;
};

// "* SEARCH 2 3 6" (with CONDSTORE, optionally "(MODSEQ n)").
struct SearchData {
  std::vector<std::uint32_t> numbers;
  std::optional<ModSeq> modseq;
  bool operator==(const SearchData&) const = default;
};

// "* ESEARCH (TAG "a1") UID ALL 1:5 COUNT 5" (RFC 4731).
struct ESearchData {
  std::string tag;
  bool uid = false;
  std::optional<std::uint32_t> min, max;
  std::optional<std::uint64_t> count;
  NumberSet all;
  std::optional<ModSeq> modseq;
  bool operator==(const ESearchData&) const = default;
};

// "* VANISHED (EARLIER) 1:3,7" (RFC 7162 §3.2.10).
struct VanishedData {
  bool earlier = false;
  NumberSet uids;
  bool operator==(const VanishedData&) const = default;
};

// One namespace of a NAMESPACE response (RFC 2342 §5): a prefix and its
// hierarchy delimiter. The prefix is in the encoding of mailbox names
// (modified UTF-7 unless UTF8=ACCEPT is enabled), like ListData::mailbox.
// Namespace response extensions are checked for well-formedness and dropped.
struct Namespace {
  std::string prefix;
  std::optional<char> delimiter;  // nullopt for NIL (a flat namespace).
  bool operator==(const Namespace&) const = default;
};

// "* NAMESPACE personal other-users shared" (RFC 2342 §5). Each of the three
// is NIL (an empty list here) or a list of namespaces, in the server's order.
struct NamespaceData {
  std::vector<Namespace> personal;
  std::vector<Namespace> other_users;
  std::vector<Namespace> shared;
  bool operator==(const NamespaceData&) const = default;
};

// Any other untagged data ("* ID ...", "* QUOTA ...", "* XYZ ..."): the
// first atom, upper-cased. It is well-formed but of no interest.
struct OtherData {
  std::string name;
  bool operator==(const OtherData&) const = default;
};

using Response = std::variant<StatusResponse, Continuation, CapabilityData, EnabledData, ListData,
                              StatusData, FlagsData, NumberData, FetchData, SearchData, ESearchData,
                              VanishedData, NamespaceData, OtherData>;

std::ostream& operator<<(std::ostream& os, const Range& r);
std::ostream& operator<<(std::ostream& os, const ResponseCode& c);
std::ostream& operator<<(std::ostream& os, const StatusResponse& r);
std::ostream& operator<<(std::ostream& os, const Continuation& r);
std::ostream& operator<<(std::ostream& os, const CapabilityData& r);
std::ostream& operator<<(std::ostream& os, const EnabledData& r);
std::ostream& operator<<(std::ostream& os, const ListData& r);
std::ostream& operator<<(std::ostream& os, const StatusData& r);
std::ostream& operator<<(std::ostream& os, const FlagsData& r);
std::ostream& operator<<(std::ostream& os, const NumberData& r);
std::ostream& operator<<(std::ostream& os, const BodySection& r);
std::ostream& operator<<(std::ostream& os, const FetchData& r);
std::ostream& operator<<(std::ostream& os, const SearchData& r);
std::ostream& operator<<(std::ostream& os, const ESearchData& r);
std::ostream& operator<<(std::ostream& os, const VanishedData& r);
std::ostream& operator<<(std::ostream& os, const Namespace& r);
std::ostream& operator<<(std::ostream& os, const NamespaceData& r);
std::ostream& operator<<(std::ostream& os, const OtherData& r);
std::ostream& operator<<(std::ostream& os, const Response& r);

}  // namespace roam::imap
